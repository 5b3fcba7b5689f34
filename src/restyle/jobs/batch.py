"""Many stylisations in one go: every content image with every style, one model load, nothing lost.

>>> jobs = plan_jobs(["photos/"], ["monet.jpg", "styles/"], "out/")        # doctest: +SKIP
>>> report = run_batch(jobs, RunConfig(size=256))                          # doctest: +SKIP
>>> print(report.counts(), [r.error for r in report.failed])              # doctest: +SKIP

* Folders expand to the images directly inside them (sorted by name; see :data:`IMAGE_SUFFIXES`).
* With more than one pair (or any folder, or an output folder) the output is a folder and each result
  is named ``{content stem}__{style stem}.png`` (:func:`output_name`).
* A pair whose output is already finished with the same settings and inputs is skipped
  (:func:`restyle.jobs.job.is_finished`); one with a matching checkpoint next to its output is resumed
  (same result as a fresh run, less time).
* A pair that fails with a :class:`~restyle.errors.RestyleError` (a corrupt photo, an image too small for
  the layers, a diverging run) is recorded and the batch goes on; :class:`BatchReport` lists them.
* Stopped by :class:`~restyle.jobs.signals.GracefulStop`, the running pair saves its partial image and
  checkpoint and the batch ends; rerunning the same batch skips what is done and resumes that pair.
* ``restyle resume`` is a batch of one :class:`Job` holding a checkpoint (:func:`plan_resume`).

Planning is here; running is the executor's (:mod:`restyle.jobs.executor`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from restyle.config import RunConfig
from restyle.engine.checkpoint import load_checkpoint
from restyle.errors import ConfigError, ImageError
from restyle.features.convert import VGGWeights
from restyle.jobs.events import Listener
from restyle.jobs.executor import BatchReport, Executor, LocalExecutor
from restyle.jobs.job import Job, check_output, config_from_checkpoint, default_resume_output
from restyle.jobs.signals import GracefulStop

__all__ = [
    "BATCH_SUFFIX",
    "IMAGE_SUFFIXES",
    "expand_images",
    "is_batch",
    "output_name",
    "plan_jobs",
    "plan_resume",
    "run_batch",
]

#: File suffixes taken from a folder (any readable format works when a file is named explicitly).
IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".webp",
    ".gif",
    ".tif",
    ".tiff",
    ".bmp",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".qoi",
    ".ico",
    ".psd",
    ".avif",
    ".jp2",
    ".j2k",
)
#: Suffix of batch outputs: PNG keeps the metadata that lets a rerun skip finished pairs.
BATCH_SUFFIX = ".png"


def expand_images(paths: Sequence[str | os.PathLike], what: str = "image") -> list[Path]:
    """Files as given, folders replaced by the images directly inside them; duplicates dropped.

    Raises:
        ImageError: a path does not exist, or a folder holds no image (one line naming it).
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                (
                    f
                    for f in p.iterdir()
                    if f.suffix.lower() in IMAGE_SUFFIXES
                    and not f.name.startswith(".")
                    and f.is_file()
                    and ".partial." not in f.name
                ),
                key=lambda f: f.name,
            )
            if not found:
                raise ImageError(f"{what} folder {str(p)!r} has no images ({', '.join(IMAGE_SUFFIXES[:6])}, ...)")
        elif p.exists() or p.is_symlink():
            found = [p]  # a bad file is reported when its pair runs, so the rest of the batch still runs
        else:
            raise ImageError(f"cannot read {what} {os.fspath(raw)!r}: no such file or folder")
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def output_name(content: Path, style: Path | list[Path], full: bool = False) -> str:
    """``photo.jpg`` × ``monet.png`` → ``photo__monet.png``; blended styles join with ``+`` (``photo__a+b.png``).

    ``full`` keeps the suffixes (``photo.jpg__monet.png.png``), to tell ``photo.jpg`` from ``photo.png``.
    """
    styles = style if isinstance(style, list) else [style]
    name = (lambda p: p.name) if full else (lambda p: p.stem)
    return f"{name(content)}__{'+'.join(name(s) for s in styles)}{BATCH_SUFFIX}"


def is_batch(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None) -> bool:
    """Whether a run names a folder (input, or an existing/``/``-terminated output) and so writes to a folder."""
    if output is not None and (Path(output).is_dir() or str(output).endswith(("/", os.sep))):
        return True
    return any(Path(p).is_dir() for p in inputs)


def plan_jobs(
    contents: Sequence[str | os.PathLike],
    styles: Sequence[str | os.PathLike],
    output: str | os.PathLike | None,
    config: RunConfig | None = None,
) -> list[Job]:
    """Pair every content image with every style image (content-major order) and name the outputs.

    One pair and a file ``output`` (default ``out.png``): that file. Otherwise (several pairs, a folder
    among the inputs, or ``output`` an existing folder or ending in ``/``) ``output`` is a folder, created
    if missing, holding :func:`output_name` files. Output problems are found here, before any compute.

    Raises:
        RestyleError: a missing input, an empty folder, no or a bad ``output``, clashing output names.
    """
    config = config or RunConfig()
    content_files = expand_images(contents, "content")
    style_files = expand_images(styles, "style")
    if not content_files or not style_files:
        raise ConfigError("give at least one content image and one style image")
    pairs: list[tuple[Path, Path | list[Path]]]
    if config.style_blend is not None:  # several styles blend into one output per content image
        pairs = [(c, list(style_files)) for c in content_files]
    else:
        pairs = [(c, s) for c in content_files for s in style_files]
    if len(pairs) == 1 and not is_batch([*contents, *styles], output):
        out = check_output(output or "out.png", config)
        if out.resolve() in {p.resolve() for p in (content_files[0], *style_files)}:
            raise ConfigError(f"output {str(out)!r} is one of the input images; choose another name")
        return [Job(out, *pairs[0], config=config)]
    if output is None:
        raise ConfigError(f"{len(pairs)} content/style pairs: give an output folder with -o DIR")
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise ImageError(f"output {str(folder)!r} is a file; several pairs need an output folder")
    for source in {Path(p) for p in (*contents, *styles) if Path(p).is_dir()}:
        if folder.exists() and folder.resolve() == source.resolve():
            raise ConfigError(f"output folder {str(folder)!r} is also an input folder; write to another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageError(f"cannot create output folder {str(folder)!r}: {e.strerror or e}") from None
    jobs: list[Job] = []
    by_name: dict[str, Job] = {}
    for c, s in pairs:
        name = output_name(c, s)
        if name in by_name:  # photo.jpg and photo.png: keep the suffixes in the names
            name = output_name(c, s, full=True)
        if name in by_name:
            other = by_name[name]
            raise ConfigError(f"{other.label} and {c} × {s} would both be written to {name}; rename one")
        job = Job(check_output(folder / name, config), c, s, config)
        by_name[name] = job
        jobs.append(job)
    return jobs


def plan_resume(path: str | os.PathLike, output: str | os.PathLike | None = None) -> Job:
    """A job continuing the checkpoint at ``path``; ``output`` defaults to :func:`default_resume_output`.

    Raises:
        CheckpointError: unreadable checkpoint; RestyleError: an unwritable output.
    """
    checkpoint = load_checkpoint(path)
    config = config_from_checkpoint(checkpoint, path)
    out = Path(output) if output is not None else default_resume_output(checkpoint, path)
    return Job(check_output(out, config), checkpoint=checkpoint, checkpoint_file=Path(path))


def run_batch(
    jobs: Sequence[Job],
    config: RunConfig | None = None,
    *,
    on_event: Listener | None = None,
    stop: GracefulStop | None = None,
    skip_finished: bool = True,
    auto_resume: bool = True,
    keep_checkpoint: bool = False,
    weights: VGGWeights | None = None,
    executor: Executor | None = None,
) -> BatchReport:
    """Run every job with one model load; never stops at a bad pair.

    The jobs go to ``executor`` (default: a :class:`~restyle.jobs.executor.LocalExecutor` built
    from the other arguments); ``on_event`` receives the events of :mod:`restyle.jobs.events`.

    Args:
        jobs: from :func:`plan_jobs` or :func:`plan_resume`.
        config: settings of jobs without their own (checkpoint jobs use their own).
        on_event: listener for a progress display.
        stop: a :class:`GracefulStop` in effect around the call: its first signal stops the running pair
            (partial image and checkpoint saved) and the batch; the remaining jobs are reported "not run".
        skip_finished: skip pairs whose output is already finished (same settings and inputs).
        auto_resume: continue a pair from the checkpoint next to its output when it matches exactly.
        keep_checkpoint: keep checkpoints of finished pairs.
        weights: use these weights instead of loading ``config``'s (tests, notebooks).
        executor: where the jobs run (the other arguments then configure nothing but ``on_event``).

    Raises:
        RestyleError: problems common to all pairs -- the weights cannot be loaded, unknown layer names --
            stop the batch at once; per-pair problems are recorded in the report instead.
        Aborted: a second stop signal.
    """
    if executor is None:
        executor = LocalExecutor(
            config,
            weights=weights,
            stop=stop,
            skip_finished=skip_finished,
            auto_resume=auto_resume,
            keep_checkpoint=keep_checkpoint,
        )
    return executor.run(jobs, on_event)
