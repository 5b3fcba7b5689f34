"""A Job -- one stylisation to files -- and the file conventions every executor follows.

The conventions (shared by ``restyle run``, ``restyle resume``, batches, sweep cells and any
:class:`~restyle.jobs.executor.Executor`):

* ``out.png``          -- the finished image; its PNG metadata holds the run's summary
  (:meth:`StylizeResult.summary`) plus ``inputs_sha256``, the inputs' :func:`fingerprint`;
* ``out.ckpt``         -- a checkpoint (:mod:`restyle.engine.checkpoint`), written every
  ``config.checkpoint_every`` steps and when the run is interrupted; its ``output`` field is
  the absolute path of ``out.png``;
* ``out.partial.png``  -- the image as it stood when the run was interrupted (metadata says
  ``"interrupted": true``). It never has the final name, so it cannot be mistaken for a result;
* ``out_00050.png``    -- intermediates of ``config.save_every``.

When a run finishes, ``out.ckpt`` and ``out.partial.png`` are deleted (they describe a state the
final image supersedes), unless the checkpoint is to be kept. A finished output is recognised by
:func:`is_finished` (same image settings, same input pixels) and a matching checkpoint by
:func:`find_resumable`.

An executor asks a job for all of this once: :attr:`Job.files` is a :class:`JobFiles` -- the paths
above and the checks and writers that use them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restyle.config import RunConfig, image_settings
from restyle.engine.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from restyle.engine.events import Callback, Iterate, combine
from restyle.engine.inputs import ImageLike, TemporalGuide, fingerprint
from restyle.errors import ConfigError, ImageError, RestyleError
from restyle.io.files import check_output_path
from restyle.io.image import SUPPORTED_WRITE_SUFFIXES, read_metadata, write_image

if TYPE_CHECKING:
    from restyle.engine.stylize import StylizeResult

CHECKPOINT_SUFFIX = ".ckpt"
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


def checkpoint_fingerprint(checkpoint: Checkpoint) -> str:
    """:func:`fingerprint` of the inputs stored in a checkpoint (equal to that of the files it was made from)."""
    return fingerprint(
        checkpoint.content, checkpoint.alpha, checkpoint.styles, checkpoint.masks, checkpoint.mask_styles
    )


def is_finished(output: str | os.PathLike, config: RunConfig, inputs_sha256: str) -> bool:
    """True if ``output`` is a finished result of these settings and inputs (so computing it again is waste).

    Finished means: the file exists, its restyle metadata says ``"interrupted": false``, its config
    has the same :func:`~restyle.config.image_settings` as ``config`` and its ``inputs_sha256`` matches.
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
        and image_settings(meta["config"]) == image_settings(config)
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


@dataclass
class Job:
    """One stylisation to hand to an executor: inputs, settings and where the result goes.

    ``content``/``style`` are paths or any :data:`~restyle.engine.inputs.ImageLike` (a list of
    styles is blended); a job continuing a checkpoint has ``checkpoint`` (and usually
    ``checkpoint_file``) instead. ``force`` recomputes even a finished output; ``tag`` is the
    caller's own (a sweep puts its cell there, so listeners can tell the jobs apart). ``guide``
    (video frames) starts the run from an image and pulls it there; it is part of the inputs' fingerprint.
    """

    output: Path
    content: ImageLike | None = None
    style: ImageLike | list[ImageLike] | None = None
    config: RunConfig | None = None  #: None: the executor's default config (or the checkpoint's)
    checkpoint: Checkpoint | None = None
    checkpoint_file: Path | None = None
    force: bool = False
    tag: Any = None
    guide: TemporalGuide | None = None

    @property
    def label(self) -> str:
        """``photo.jpg × monet.png`` (or ``resume out.ckpt``), for messages."""
        if self.checkpoint_file is not None:
            return f"resume {self.checkpoint_file}"
        return f"{_name(self.content)} × {_name(self.style)}"

    @property
    def files(self) -> JobFiles:
        """The job's files (output, checkpoint, partial image) and what checks and writes them."""
        return JobFiles(Path(self.output))


def _name(image: Any) -> str:
    if isinstance(image, list):
        return " + ".join(_name(i) for i in image)
    return Path(image).name if isinstance(image, str | os.PathLike) else f"<{type(image).__name__}>"


@dataclass
class JobResult:
    """How one job ended, and what it left on disk.

    ``status``: ``done`` (``output`` written), ``skipped`` (already finished), ``failed`` (``error``),
    ``interrupted`` (``partial`` and ``checkpoint`` written) or ``not run`` (stopped before it began).
    """

    job: Job
    status: str
    error: str = ""
    result: StylizeResult | None = None
    checkpoint: Path | None = None  #: the checkpoint written on interrupt
    partial: Path | None = None  #: the partial image written on interrupt
    resumed_from: int | None = None  #: step the run continued from, when resumed
    total_steps: int = 0  #: steps of the whole run (0 if it stopped before the first step)
    exception: RestyleError | None = field(default=None, repr=False)  #: what made it fail
    fingerprint: str = ""  #: the inputs' :func:`fingerprint`, when they were loaded

    @property
    def output(self) -> Path:
        """The final image's path (written only when done)."""
        return self.job.output

    @property
    def step(self) -> int:
        """Steps done in total."""
        return int(self.result.timings["steps"]) if self.result is not None else 0

    @property
    def kind(self) -> str:
        """``status``, with finished resumed runs counted as ``resumed`` (for summaries)."""
        return "resumed" if self.status == "done" and self.resumed_from is not None else self.status

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (with the run's summary when it ran)."""
        d: dict[str, Any] = {
            "content": _path_or_none(self.job.content),
            "style": _path_or_none(self.job.style),
            "output": str(self.job.output),
            "status": self.kind,
            "error": self.error or None,
        }
        if self.result is not None:
            d["summary"] = self.result.summary()
        return d


def _path_or_none(image: Any) -> str | None:
    return None if image is None else os.fspath(image) if isinstance(image, str | os.PathLike) else _name(image)


class CheckpointWriter:
    """Callback that saves a checkpoint of the run every ``every`` steps to ``checkpoint_path(output)``."""

    def __init__(self, output: str | os.PathLike, every: int) -> None:
        self.output = Path(output)
        self.path = checkpoint_path(output)
        self.every = every

    def __call__(self, event: Iterate) -> None:
        """Save when ``event.step`` is a multiple of ``every`` (atomically; a crash leaves the previous one)."""
        if self.every and event.step % self.every == 0:
            checkpoint = event.checkpoint()
            checkpoint.output = str(self.output.resolve())
            save_checkpoint(checkpoint, self.path)


class IntermediateWriter:
    """Callback that writes the current image every ``every`` steps to :func:`intermediate_path`."""

    def __init__(self, output: str | os.PathLike, every: int, bit_depth: int = 8) -> None:
        self.output, self.every, self.bit_depth = Path(output), every, bit_depth

    def __call__(self, event: Iterate) -> None:
        """Write when ``event.step`` is a multiple of ``every``."""
        if self.every and event.step % self.every == 0:
            write_image(intermediate_path(self.output, event.step), event.pixels(), bit_depth=self.bit_depth)


def metadata(result: StylizeResult, inputs_sha256: str) -> dict[str, Any]:
    """PNG metadata of an output: the run's summary plus the inputs' fingerprint."""
    return {**result.summary(), "inputs_sha256": inputs_sha256}


def write_result_image(path: Path, result: StylizeResult, inputs_sha256: str) -> None:
    """Write ``result``'s image atomically with its alpha, bit depth and :func:`metadata`."""
    write_image(
        path,
        result.pixels,
        alpha=result.alpha,
        bit_depth=result.config.bit_depth,
        metadata=metadata(result, inputs_sha256),
    )


def write_interrupted(out: Path, result: StylizeResult, inputs_sha256: str) -> tuple[Path, Path]:
    """Write an interrupted run's partial image and checkpoint next to ``out``; returns both paths."""
    assert result.checkpoint is not None
    partial = partial_path(out)
    write_result_image(partial, result, inputs_sha256)
    result.checkpoint.output = str(out.resolve())
    save_checkpoint(result.checkpoint, checkpoint_path(out))
    return partial, checkpoint_path(out)


def write_finished(
    out: Path,
    result: StylizeResult,
    inputs_sha256: str,
    *,
    keep_checkpoint: bool = False,
    resume_file: Path | None = None,
) -> None:
    """Write the final image (atomically), then delete what it supersedes (partial image, checkpoints)."""
    write_result_image(out, result, inputs_sha256)
    stale = [partial_path(out)]
    if not keep_checkpoint:
        stale += [checkpoint_path(out)] + ([resume_file] if resume_file is not None else [])
    for path in stale:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only folder holding the resumed checkpoint: harmless
            pass


@dataclass(frozen=True)
class JobFiles:
    """The files of one job's output and the conventions that use them, in one place for an executor.

    ``JobFiles(Path("out.png"))``: :attr:`checkpoint` ``out.ckpt``, :attr:`partial` ``out.partial.png``;
    :meth:`check` before any compute, :meth:`is_finished` / :meth:`find_resumable` to skip or continue,
    :meth:`writers` for the steps, :meth:`write_finished` / :meth:`write_interrupted` at the end.
    """

    output: Path

    @property
    def checkpoint(self) -> Path:
        """``out.ckpt``: where the job's checkpoints go (and where a matching one is picked up)."""
        return checkpoint_path(self.output)

    @property
    def partial(self) -> Path:
        """``out.partial.png``: an interrupted run's image."""
        return partial_path(self.output)

    def check(self, config: RunConfig) -> Path:
        """:func:`check_output`: fail before any compute if the final image cannot be written."""
        return check_output(self.output, config)

    def is_finished(self, config: RunConfig, inputs_sha256: str) -> bool:
        """:func:`is_finished`: the output is a finished result of these settings and inputs."""
        return is_finished(self.output, config, inputs_sha256)

    def find_resumable(self, config: RunConfig, inputs_sha256: str) -> Checkpoint | None:
        """:func:`find_resumable`: the checkpoint next to the output if it continues exactly this run."""
        return find_resumable(self.output, config, inputs_sha256)

    def writers(self, config: RunConfig) -> Callback:
        """What the job's steps write next to its output: checkpoints and intermediates, as ``config`` asks."""
        return combine(
            CheckpointWriter(self.output, 0 if config.method == "fast" else config.checkpoint_every),  # fast: one pass
            IntermediateWriter(self.output, config.save_every, config.bit_depth),
        )

    def write_finished(
        self,
        result: StylizeResult,
        inputs_sha256: str,
        *,
        keep_checkpoint: bool = False,
        resume_file: Path | None = None,
    ) -> None:
        """:func:`write_finished`: the final image, then the partial image and checkpoints it supersedes removed."""
        write_finished(self.output, result, inputs_sha256, keep_checkpoint=keep_checkpoint, resume_file=resume_file)

    def write_interrupted(self, result: StylizeResult, inputs_sha256: str) -> tuple[Path, Path]:
        """:func:`write_interrupted`: the partial image and checkpoint; returns both paths."""
        return write_interrupted(self.output, result, inputs_sha256)


__all__ = [
    "CheckpointWriter",
    "IntermediateWriter",
    "Job",
    "JobFiles",
    "JobResult",
    "check_output",
    "checkpoint_fingerprint",
    "checkpoint_path",
    "config_from_checkpoint",
    "default_resume_output",
    "find_resumable",
    "fingerprint",
    "intermediate_path",
    "is_finished",
    "metadata",
    "partial_path",
    "write_finished",
    "write_interrupted",
]
