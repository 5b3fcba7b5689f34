"""One stylisation written to files: final image, checkpoints, partial image on interrupt, resume.

The file conventions (shared by ``restyle run``, ``restyle resume`` and the batch runner):

* ``out.png``          -- the finished image; its PNG metadata holds the run's summary
  (:meth:`StylizeResult.summary`) plus ``inputs_sha256``, a fingerprint of the input pixels;
* ``out.ckpt``         -- a checkpoint (:mod:`restyle.engine.checkpoint`), written every
  ``config.checkpoint_every`` steps and when the run is interrupted; its ``output`` field is
  the absolute path of ``out.png``;
* ``out.partial.png``  -- the image as it stood when the run was interrupted (metadata says
  ``"interrupted": true``). It never has the final name, so it cannot be mistaken for a result;
* ``out_00050.png``    -- intermediates of ``config.save_every``.

When a run finishes, ``out.ckpt`` and ``out.partial.png`` are deleted (they describe a state the
final image supersedes); ``keep_checkpoint=True`` keeps the checkpoint.

>>> stylizer = Stylizer(RunConfig(size=256, checkpoint_every=20))            # doctest: +SKIP
>>> outcome = run_job(stylizer, "out.png", content="photo.jpg", style="art.jpg")  # doctest: +SKIP
>>> outcome.status                                                       # doctest: +SKIP
'done'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from restyle.config import RunConfig
from restyle.engine.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from restyle.engine.events import Callback, Iterate, combine
from restyle.errors import ConfigError, ImageError
from restyle.io.files import check_output_path
from restyle.io.image import SUPPORTED_WRITE_SUFFIXES, ImageData, read_metadata, write_image

if TYPE_CHECKING:
    from restyle.engine.stylize import ImageLike, Stylizer, StylizeResult

CHECKPOINT_SUFFIX = ".ckpt"
#: Config fields that do not change the image: a finished output is reused whatever their values.
BOOKKEEPING_FIELDS = ("save_every", "checkpoint_every")
_16BIT_SUFFIXES = (".png", ".tif", ".tiff")


def checkpoint_path(output: str | os.PathLike) -> Path:
    """``out.png`` → ``out.ckpt`` (next to the output)."""
    return Path(output).with_suffix(CHECKPOINT_SUFFIX)


def partial_path(output: str | os.PathLike) -> Path:
    """``out.png`` → ``out.partial.png``: where an interrupted run leaves its current image."""
    p = Path(output)
    return p.with_name(f"{p.stem}.partial{p.suffix}")


def intermediate_path(output: str | os.PathLike, step: int) -> Path:
    """``out.png``, step 50 → ``out_00050.png`` (``config.save_every``)."""
    p = Path(output)
    return p.with_name(f"{p.stem}_{step:05d}{p.suffix}")


def check_output(output: str | os.PathLike, config: RunConfig) -> Path:
    """Fail before any compute if the final image cannot be written: ImageError/ConfigError naming it.

    Checks the directory (exists, writable), that ``output`` is not a directory, the format, and
    that ``config.bit_depth`` 16 goes to PNG or TIFF.
    """
    out = check_output_path(output, SUPPORTED_WRITE_SUFFIXES)
    if config.bit_depth == 16 and out.suffix.lower() not in _16BIT_SUFFIXES:
        raise ConfigError(f"bit_depth 16 needs a .png or .tif output, not {str(out)!r}")
    return out


def fingerprint(content: torch.Tensor, alpha: torch.Tensor | None, styles: Sequence[torch.Tensor]) -> str:
    """sha256 (hex) of the input pixels as the run sees them: identical inputs give identical runs."""
    h = hashlib.sha256()
    for t in (content, alpha, *styles):
        if t is None:
            h.update(b"none")
            continue
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def inputs_fingerprint(content: ImageData, styles: Sequence[ImageData]) -> str:
    """:func:`fingerprint` of loaded inputs (see :func:`restyle.engine.inputs.load_run_inputs`)."""
    return fingerprint(content.pixels, content.alpha, [s.pixels for s in styles])


def checkpoint_fingerprint(checkpoint: Checkpoint) -> str:
    """:func:`fingerprint` of the inputs stored in a checkpoint (equal to that of the files it was made from)."""
    return fingerprint(checkpoint.content, checkpoint.alpha, checkpoint.styles)


def _result_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in BOOKKEEPING_FIELDS}


def is_finished(output: str | os.PathLike, config: RunConfig, inputs_sha256: str) -> bool:
    """True if ``output`` is a finished result of these settings and inputs (so computing it again is waste).

    Finished means: the file exists, its restyle metadata says ``"interrupted": false``, its config
    equals ``config`` (ignoring :data:`BOOKKEEPING_FIELDS`) and its ``inputs_sha256`` matches.
    Unreadable files and files without metadata (e.g. JPEG outputs) count as not finished.
    """
    p = Path(output)
    if not p.is_file():
        return False
    try:
        meta = read_metadata(p)
    except ImageError:
        return False
    return (
        meta is not None
        and meta.get("interrupted") is False
        and meta.get("inputs_sha256") == inputs_sha256
        and isinstance(meta.get("config"), dict)
        and _result_settings(meta["config"]) == _result_settings(config.to_dict())
    )


def config_from_checkpoint(checkpoint: Checkpoint, source: str | os.PathLike = "checkpoint") -> RunConfig:
    """The RunConfig a checkpoint was written with (CheckpointError if this version cannot rebuild it)."""
    try:
        config = RunConfig.from_dict(checkpoint.config)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {str(source)!r} has settings this version cannot use: {e}") from None
    if config.to_dict() != checkpoint.config:
        raise CheckpointError(f"checkpoint {str(source)!r} was written by another version of restyle")
    return config


def find_resumable(output: str | os.PathLike, config: RunConfig, inputs_sha256: str) -> Checkpoint | None:
    """The checkpoint next to ``output`` if it continues exactly this run (same config and inputs), else None.

    Resuming gives the same image as running from the start, so a caller may always prefer it.
    """
    path = checkpoint_path(output)
    if not path.is_file():
        return None
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError:
        return None
    if checkpoint.config != config.to_dict() or checkpoint_fingerprint(checkpoint) != inputs_sha256:
        return None
    return checkpoint


def default_resume_output(checkpoint: Checkpoint, path: str | os.PathLike) -> Path:
    """Where ``restyle resume`` writes by default: the output's file name, in the checkpoint's folder.

    Checkpoints live next to their output, so this still works after the folder was moved.
    """
    if not checkpoint.output:
        raise CheckpointError(f"checkpoint {str(path)!r} does not say where its output goes; give -o OUT")
    return Path(path).with_name(Path(checkpoint.output).name)


class CheckpointWriter:
    """Callback that saves a checkpoint of the run every ``every`` steps to ``checkpoint_path(output)``."""

    def __init__(self, output: str | os.PathLike, every: int) -> None:
        self.output = Path(output)
        self.path = checkpoint_path(output)
        self.every = every
        self.last_step: int | None = None

    def __call__(self, event: Iterate) -> None:
        """Save when ``event.step`` is a multiple of ``every`` (atomically; a crash leaves the previous one)."""
        if self.every and event.step % self.every == 0:
            checkpoint = event.checkpoint()
            checkpoint.output = str(self.output.resolve())
            save_checkpoint(checkpoint, self.path)
            self.last_step = event.step


class IntermediateWriter:
    """Callback that writes the current image every ``every`` steps to :func:`intermediate_path`."""

    def __init__(self, output: str | os.PathLike, every: int, bit_depth: int = 8) -> None:
        self.output, self.every, self.bit_depth = Path(output), every, bit_depth

    def __call__(self, event: Iterate) -> None:
        """Write when ``event.step`` is a multiple of ``every``."""
        if self.every and event.step % self.every == 0:
            write_image(intermediate_path(self.output, event.step), event.pixels(), bit_depth=self.bit_depth)


@dataclass
class JobOutcome:
    """What :func:`run_job` left on disk."""

    status: str  #: "done" (``output`` written) or "interrupted" (``partial`` and ``checkpoint`` written)
    output: Path  #: the final image's path (written only when done)
    result: StylizeResult
    checkpoint: Path | None = None  #: the checkpoint written on interrupt
    partial: Path | None = None  #: the partial image written on interrupt
    resumed_from: int | None = None  #: step the run continued from, when resumed
    total_steps: int = 0  #: steps of the whole run (0 if it stopped before the first step)

    @property
    def step(self) -> int:
        """Steps done in total."""
        return int(self.result.timings["steps"])


def metadata(result: StylizeResult, inputs_sha256: str) -> dict[str, Any]:
    """PNG metadata of an output: the run's summary plus the inputs' fingerprint."""
    return {**result.summary(), "inputs_sha256": inputs_sha256}


def run_job(
    stylizer: Stylizer,
    output: str | os.PathLike,
    *,
    content: ImageLike | None = None,
    style: ImageLike | list[ImageLike] | None = None,
    resume: Checkpoint | None = None,
    callback: Callback | None = None,
    keep_checkpoint: bool = False,
    resume_file: str | os.PathLike | None = None,
) -> JobOutcome:
    """Run one stylisation to files, following the conventions of this module.

    Args:
        stylizer: does the work (its config's ``checkpoint_every``, ``save_every`` and ``bit_depth`` apply).
        output: the final image's path; checked before any compute (see :func:`check_output`).
        content, style: the inputs (paths, images or :class:`ImageData` as :meth:`Stylizer.run` takes),
            or None with ``resume``.
        resume: continue this checkpoint (same config) instead of starting afresh.
        callback: receives every :class:`Iterate`.
        keep_checkpoint: keep the checkpoint(s) after a finished run (default: delete them).
        resume_file: the file ``resume`` was read from; deleted too when done (unless kept).

    When the stylizer is stopped (:meth:`Stylizer.request_stop`, e.g. by
    :class:`~restyle.engine.signals.GracefulStop`), the current image goes to :func:`partial_path` and a
    checkpoint to :func:`checkpoint_path`; ``status`` is then ``"interrupted"``.

    Raises:
        RestyleError: bad inputs or settings, an unwritable output, or a diverging optimisation
            (:class:`~restyle.errors.NumericalError`). No output file is left behind then.
    """
    from restyle.engine.inputs import load_run_inputs

    config = stylizer.config
    out = check_output(output, config)
    if resume is not None:
        fp = checkpoint_fingerprint(resume)
    else:
        if content is None or style is None:
            raise ConfigError("content and style images are required")
        # Load here (for the fingerprint); the Stylizer takes the ImageData as they are.
        run_config, content, style_data = load_run_inputs(config, content, style)
        if run_config.size != config.size:
            raise ConfigError(
                f"image_size {config.image_size} gives size {run_config.size}: build the Stylizer with the "
                "config restyle.engine.inputs.load_run_inputs returns"
            )
        style = style_data if isinstance(style, list) else style_data[0]
        fp = inputs_fingerprint(content, style_data)
    writers = [CheckpointWriter(out, config.checkpoint_every), IntermediateWriter(out, config.save_every,
                                                                                   config.bit_depth)]
    total = [0]

    def track(event: Iterate) -> None:
        total[0] = event.total_steps

    result = stylizer.run(content, style, combine(track, callback, *writers), resume=resume)
    meta = metadata(result, fp)
    if result.interrupted:
        assert result.checkpoint is not None
        partial = partial_path(out)
        write_image(partial, result.pixels, alpha=result.alpha, bit_depth=config.bit_depth, metadata=meta)
        result.checkpoint.output = str(out.resolve())
        save_checkpoint(result.checkpoint, checkpoint_path(out))
        return JobOutcome("interrupted", out, result, checkpoint_path(out), partial,
                          resume.step if resume else None, total[0])
    write_image(out, result.pixels, alpha=result.alpha, bit_depth=config.bit_depth, metadata=meta)
    stale = [partial_path(out)]
    if not keep_checkpoint:
        stale += [checkpoint_path(out)] + ([Path(resume_file)] if resume_file is not None else [])
    for path in stale:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only folder holding the resumed checkpoint: harmless
            pass
    return JobOutcome("done", out, result, None, None, resume.step if resume else None, total[0])


__all__ = [
    "BOOKKEEPING_FIELDS", "CheckpointWriter", "IntermediateWriter", "JobOutcome", "check_output",
    "checkpoint_fingerprint", "checkpoint_path", "config_from_checkpoint", "default_resume_output",
    "find_resumable", "fingerprint", "inputs_fingerprint", "intermediate_path", "is_finished", "metadata",
    "partial_path", "run_job",
]
