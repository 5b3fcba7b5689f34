"""Many stylisations in one go: every content image with every style, one model load, nothing lost.

>>> jobs = plan_jobs(["photos/"], ["monet.jpg", "styles/"], "out/")        # doctest: +SKIP
>>> report = run_batch(jobs, RunConfig(size=256))                          # doctest: +SKIP
>>> print(report.counts(), [r.error for r in report.failed])              # doctest: +SKIP

* Folders expand to the images directly inside them (sorted by name; see :data:`IMAGE_SUFFIXES`).
* With more than one pair (or any folder, or an output folder) the output is a folder and each result
  is named ``{content stem}__{style stem}.png`` (:func:`output_name`).
* A pair whose output is already finished with the same settings and inputs is skipped
  (:func:`restyle.engine.job.is_finished`); one with a matching checkpoint next to its output is resumed
  (same result as a fresh run, less time).
* A pair that fails with a :class:`~restyle.errors.RestyleError` (a corrupt photo, an image too small for
  the layers, a diverging run) is recorded and the batch goes on; :class:`BatchReport` lists them.
* Stopped by :class:`~restyle.engine.signals.GracefulStop`, the running pair saves its partial image and
  checkpoint and the batch ends; rerunning the same batch skips what is done and resumes that pair.
* ``restyle resume`` is a batch of one :class:`Job` holding a checkpoint (:func:`plan_resume`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restyle.config import RunConfig
from restyle.engine.checkpoint import Checkpoint, load_checkpoint
from restyle.engine.events import Iterate
from restyle.engine.job import (
    JobOutcome,
    check_output,
    checkpoint_fingerprint,
    checkpoint_path,
    config_from_checkpoint,
    default_resume_output,
    find_resumable,
    inputs_fingerprint,
    is_finished,
    run_job,
)
from restyle.engine.signals import GracefulStop
from restyle.errors import ConfigError, ImageError, RestyleError

if TYPE_CHECKING:
    from restyle.engine.stylize import Stylizer
    from restyle.features.convert import VGGWeights

#: File suffixes taken from a folder (any readable format works when a file is named explicitly).
IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".pbm",
    ".pnm", ".qoi", ".ico", ".psd", ".avif", ".jp2", ".j2k",
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
                (f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
                 and f.is_file() and ".partial." not in f.name),
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


def output_name(content: Path, style: Path) -> str:
    """``photo.jpg`` × ``monet.png`` → ``photo__monet.png``."""
    return f"{content.stem}__{style.stem}{BATCH_SUFFIX}"


@dataclass
class Job:
    """One pair to compute (or one checkpoint to continue) and where its result goes."""

    output: Path
    content: Path | None = None
    style: Path | None = None
    checkpoint: Checkpoint | None = None  #: set by :func:`plan_resume`
    checkpoint_file: Path | None = None

    @property
    def label(self) -> str:
        """``photo.jpg × monet.png`` (or ``resume out.ckpt``), for messages."""
        if self.checkpoint_file is not None:
            return f"resume {self.checkpoint_file}"
        assert self.content is not None and self.style is not None
        return f"{self.content.name} × {self.style.name}"


def is_batch(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None) -> bool:
    """Whether a run names a folder (input, or an existing/``/``-terminated output) and so writes to a folder."""
    if output is not None and (Path(output).is_dir() or str(output).endswith(("/", os.sep))):
        return True
    return any(Path(p).is_dir() for p in inputs)


def plan_jobs(contents: Sequence[str | os.PathLike], styles: Sequence[str | os.PathLike],
              output: str | os.PathLike | None, config: RunConfig | None = None) -> list[Job]:
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
    pairs = [(c, s) for c in content_files for s in style_files]
    if len(pairs) == 1 and not is_batch([*contents, *styles], output):
        out = check_output(output or "out.png", config)
        if out.resolve() in {p.resolve() for p in pairs[0]}:
            raise ConfigError(f"output {str(out)!r} is one of the input images; choose another name")
        return [Job(out, *pairs[0])]
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
            name = f"{c.name}__{s.name}{BATCH_SUFFIX}"
        if name in by_name:
            other = by_name[name]
            raise ConfigError(f"{other.label} and {c} × {s} would both be written to {name}; rename one")
        job = Job(check_output(folder / name, config), c, s)
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


@dataclass
class BatchEvent:
    """Progress of a batch, for a display.

    ``kind``: ``"load"`` (model loaded; ``message`` says which), ``"start"``, ``"resume"`` (``message``: which
    checkpoint, from which step), ``"step"`` (``iterate`` set), ``"done"``, ``"skip"`` (already finished), ``"fail"``
    (``message``: the error), ``"interrupted"``.
    """

    kind: str
    index: int  #: 0-based index of the job
    total: int  #: number of jobs
    job: Job | None = None
    message: str = ""
    iterate: Iterate | None = None
    outcome: JobOutcome | None = None


@dataclass
class JobReport:
    """How one job ended: ``status`` is done, skipped, resumed-done, failed, interrupted or not run."""

    job: Job
    status: str
    error: str = ""
    outcome: JobOutcome | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (with the run's summary when it ran)."""
        d: dict[str, Any] = {
            "content": str(self.job.content) if self.job.content else None,
            "style": str(self.job.style) if self.job.style else None,
            "output": str(self.job.output), "status": self.status, "error": self.error or None,
        }
        if self.outcome is not None:
            d["summary"] = self.outcome.result.summary()
        return d


@dataclass
class BatchReport:
    """Results of :func:`run_batch`, one :class:`JobReport` per job in order."""

    reports: list[JobReport] = field(default_factory=list)
    model: str = ""  #: which weights were used ("" if no pair needed the model)

    def with_status(self, *status: str) -> list[JobReport]:
        """The reports whose status is one of ``status``."""
        return [r for r in self.reports if r.status in status]

    @property
    def failed(self) -> list[JobReport]:
        """Jobs that raised a RestyleError."""
        return self.with_status("failed")

    @property
    def interrupted(self) -> JobReport | None:
        """The job that was stopped by a signal, if any."""
        found = self.with_status("interrupted")
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        """``{"done": 3, "skipped": 1, ...}`` for the statuses that occur."""
        out: dict[str, int] = {}
        for r in self.reports:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record of the whole batch."""
        return {"model": self.model, "counts": self.counts(), "jobs": [r.to_dict() for r in self.reports]}


class StylizerPool:
    """Stylizers for the configs a batch needs, all sharing one loaded copy of each weights file."""

    def __init__(self, weights: VGGWeights | None = None) -> None:
        self._weights: dict[tuple[str, str | None], tuple[VGGWeights, str]] = {}
        self._given = weights
        self._stylizers: dict[str, Stylizer] = {}
        self.loaded: list[str] = []  #: model descriptions, in load order

    def get(self, config: RunConfig) -> Stylizer:
        """A Stylizer for ``config`` (built once per distinct config; weights loaded once per file)."""
        from restyle.engine.stylize import Stylizer

        key = config.to_json()
        if key in self._stylizers:
            return self._stylizers[key]
        wkey = (config.model, config.weights)
        if self._given is not None:
            stylizer = Stylizer(config, weights=self._given)
        elif wkey in self._weights:
            weights, model = self._weights[wkey]
            stylizer = Stylizer(config, weights=weights)
            stylizer.model = model
        else:
            stylizer = Stylizer(config)
            self._weights[wkey] = (stylizer.weights, stylizer.model)
            self.loaded.append(stylizer.model)
        self._stylizers[key] = stylizer
        return stylizer


BatchCallback = Callable[[BatchEvent], None]


def run_batch(
    jobs: Sequence[Job],
    config: RunConfig | None = None,
    *,
    on_event: BatchCallback | None = None,
    stop: GracefulStop | None = None,
    skip_finished: bool = True,
    auto_resume: bool = True,
    keep_checkpoint: bool = False,
    weights: VGGWeights | None = None,
) -> BatchReport:
    """Run every job in order with one model load; never stops at a bad pair.

    Args:
        jobs: from :func:`plan_jobs` or :func:`plan_resume`.
        config: settings of the fresh pairs (checkpoint jobs use their own).
        on_event: receives :class:`BatchEvent`s (for a progress display).
        stop: a :class:`GracefulStop` in effect around the call: its first signal stops the running pair
            (partial image and checkpoint saved) and the batch; the remaining jobs are reported "not run".
        skip_finished: skip pairs whose output is already finished (same settings and inputs).
        auto_resume: continue a pair from the checkpoint next to its output when it matches exactly.
        keep_checkpoint: keep checkpoints of finished pairs.
        weights: use these weights instead of loading ``config``'s (tests, notebooks).

    Raises:
        RestyleError: problems common to all pairs -- the weights cannot be loaded, unknown layer names --
            stop the batch at once; per-pair problems are recorded in the report instead.
        Aborted: a second stop signal.
    """
    config = (config or RunConfig()).validate()
    emit = on_event or (lambda event: None)
    pool = StylizerPool(weights)
    report = BatchReport()
    total = len(jobs)
    for index, job in enumerate(jobs):
        if stop is not None and stop.requested:
            report.reports += [JobReport(j, "not run") for j in jobs[index:]]
            break
        try:
            resume, resume_file = job.checkpoint, job.checkpoint_file
            content: Any = None
            style: Any = None
            if resume is not None:
                run_config = config_from_checkpoint(resume, job.checkpoint_file or "checkpoint")
                fp = checkpoint_fingerprint(resume)
            else:
                from restyle.engine.inputs import load_run_inputs

                run_config, content, styles = load_run_inputs(config, job.content, job.style)
                style = styles[0]
                fp = inputs_fingerprint(content, styles)
                if skip_finished and is_finished(job.output, run_config, fp):
                    report.reports.append(JobReport(job, "skipped"))
                    emit(BatchEvent("skip", index, total, job, "already finished"))
                    continue
                resume = find_resumable(job.output, run_config, fp) if auto_resume else None
                if resume is not None:
                    resume_file, content, style = None, None, None
        except RestyleError as e:
            report.reports.append(JobReport(job, "failed", str(e)))
            emit(BatchEvent("fail", index, total, job, str(e)))
            continue
        n_loaded = len(pool.loaded)
        stylizer = pool.get(run_config)  # errors here concern every pair: they propagate
        if len(pool.loaded) > n_loaded:
            report.model = pool.loaded[-1]
            emit(BatchEvent("load", index, total, job, f"model: {stylizer.model}; device: {stylizer.device}"))
        elif not report.model:
            report.model = stylizer.model
        if stop is not None:
            stop.on_stop = stylizer.request_stop
        if resume is None:
            emit(BatchEvent("start", index, total, job))
        else:
            source = job.checkpoint_file or checkpoint_path(job.output)
            emit(BatchEvent("resume", index, total, job, f"{source} from step {resume.step}"))

        def step(event: Iterate, index: int = index, job: Job = job, stylizer: Stylizer = stylizer) -> None:
            if stop is not None and stop.requested:  # a signal that came before the run began
                stylizer.request_stop()
            emit(BatchEvent("step", index, total, job, iterate=event))

        try:
            outcome = run_job(stylizer, job.output, content=content, style=style, resume=resume, callback=step,
                              keep_checkpoint=keep_checkpoint, resume_file=resume_file)
        except RestyleError as e:
            report.reports.append(JobReport(job, "failed", str(e)))
            emit(BatchEvent("fail", index, total, job, str(e)))
            continue
        if outcome.status == "interrupted":
            report.reports.append(JobReport(job, "interrupted", outcome=outcome))
            emit(BatchEvent("interrupted", index, total, job, outcome=outcome))
            report.reports += [JobReport(j, "not run") for j in jobs[index + 1:]]
            break
        report.reports.append(JobReport(job, "resumed" if outcome.resumed_from is not None else "done",
                                        outcome=outcome))
        emit(BatchEvent("done", index, total, job, outcome=outcome))
    return report
