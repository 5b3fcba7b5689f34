"""The one path for work: :class:`Job` s handed to an :class:`Executor`, observed through events.

``restyle run`` (one pair or a batch), ``restyle resume`` and every sweep cell are Jobs run by an
executor; the web app, video frames and remote workers are meant to be too. An executor:

* loads each job's inputs once (:func:`~restyle.engine.inputs.load_run_inputs`) and fingerprints them;
* skips a job whose output is already finished with the same image settings and inputs, and
  continues one whose checkpoint matches exactly (same result as a fresh run, less time);
* runs the rest with one model load per weights file, sharing loss targets between jobs;
* writes results, checkpoints and partial images following :mod:`restyle.jobs.job`;
* records a job that fails on a bad input (a :class:`~restyle.errors.RestyleError`) and goes on;
* on :meth:`Executor.request_stop` (e.g. from :class:`~restyle.jobs.signals.GracefulStop`) saves the
  running job's partial image and checkpoint and reports the rest as ``not run``;
* emits the events of :mod:`restyle.jobs.events` to its listener.

>>> report = LocalExecutor(RunConfig(size=256)).run([Job(Path("out.png"), "photo.jpg", "art.jpg")])  # doctest: +SKIP
>>> report.counts()                                                                            # doctest: +SKIP
{'done': 1}
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from restyle.config import RunConfig
from restyle.engine.checkpoint import Checkpoint
from restyle.engine.events import Callback, Iterate, combine
from restyle.engine.fast_run import FastStylizer
from restyle.engine.inputs import RunInputs, load_run_inputs
from restyle.engine.memory import OutOfMemory
from restyle.engine.stylize import MEMORY_ADVICE, Stylizer, StylizeResult
from restyle.engine.targets import TargetCache
from restyle.errors import ConfigError, RestyleError
from restyle.features import weights as registry
from restyle.features.convert import VGGWeights
from restyle.jobs.events import (
    JobFailed,
    JobFinished,
    JobInterrupted,
    JobSkipped,
    JobStarted,
    JobStep,
    JobTile,
    Listener,
    ModelLoaded,
)
from restyle.jobs.job import (
    Job,
    JobResult,
    checkpoint_fingerprint,
    config_from_checkpoint,
)
from restyle.jobs.signals import GracefulStop

__all__ = [
    "BatchReport",
    "Executor",
    "LocalExecutor",
    "PreparedJob",
    "StylizerPool",
    "prepare_job",
    "record_result",
    "run_job",
]


@dataclass
class BatchReport:
    """What an executor's :meth:`~Executor.run` did: one :class:`JobResult` per job, in order."""

    results: list[JobResult] = field(default_factory=list)
    model: str = ""  #: which weights were used ("" if no job needed the model)
    targets: dict[str, float] = field(default_factory=dict)  #: the shared TargetCache's counters

    def with_status(self, *status: str) -> list[JobResult]:
        """The results whose status is one of ``status``."""
        return [r for r in self.results if r.status in status]

    @property
    def failed(self) -> list[JobResult]:
        """Jobs that raised a RestyleError."""
        return self.with_status("failed")

    @property
    def interrupted(self) -> JobResult | None:
        """The job that was stopped, if any."""
        found = self.with_status("interrupted")
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        """``{"done": 3, "skipped": 1, ...}`` for the statuses that occur (resumed runs as ``resumed``)."""
        out: dict[str, int] = {}
        for r in self.results:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record of the whole run."""
        return {"model": self.model, "counts": self.counts(), "jobs": [r.to_dict() for r in self.results]}


class Executor(Protocol):
    """Runs jobs and reports them through events; :class:`LocalExecutor` is the in-process one."""

    def run(self, jobs: Sequence[Job], on_event: Listener | None = None) -> BatchReport:
        """Run every job (skipping finished ones, resuming matching checkpoints); never stops at a bad one."""
        ...

    def request_stop(self) -> None:
        """Stop soon: the running job saves its partial image and checkpoint; later jobs are not run."""
        ...


class StylizerPool:
    """Stylizers for the configs a run of jobs needs, all sharing one loaded copy of each weights file."""

    #: Stylizers kept (each holds a copy of the network); weights stay loaded regardless.
    MAX_STYLIZERS = 2

    def __init__(self, weights: VGGWeights | None = None, targets: TargetCache | None = None) -> None:
        self._given = weights
        self._weights: dict[tuple[str, str | None], tuple[VGGWeights, str]] = {}
        self._stylizers: OrderedDict[str, Stylizer] = OrderedDict()
        self.targets = targets
        self.loaded: list[str] = []  #: model descriptions, in load order

    def add(self, stylizer: Stylizer) -> None:
        """Use ``stylizer`` for jobs with its config, and its weights for jobs with its model."""
        self._stylizers[stylizer.config.to_json()] = stylizer
        self._weights[(stylizer.config.model, stylizer.config.weights)] = (stylizer.weights, stylizer.model)

    def get(self, config: RunConfig) -> Stylizer:
        """A Stylizer for ``config`` (weights loaded once per file; errors here concern every job).

        ``method=fast``: a :class:`~restyle.engine.fast_run.FastStylizer` with the same interface.
        """
        key = config.to_json()
        if key in self._stylizers:
            self._stylizers.move_to_end(key)
            return self._stylizers[key]
        if config.method == "fast":
            runner = FastStylizer(config)
            if runner.model not in self.loaded:
                self.loaded.append(runner.model)
            return runner  # type: ignore[return-value]  # the network is cached per process: nothing to pool
        if self._given is not None:
            weights, model = self._given, None
        else:
            wkey = (config.model, config.weights)
            if wkey not in self._weights:
                self._weights[wkey] = registry.load(config.model, config.weights)
                self.loaded.append(self._weights[wkey][1])
            weights, model = self._weights[wkey]
        stylizer = Stylizer(config, weights, model=model, targets=self.targets)
        self._stylizers[key] = stylizer
        while len(self._stylizers) > self.MAX_STYLIZERS:
            self._stylizers.popitem(last=False)
        return stylizer


@dataclass
class PreparedJob:
    """A job ready to run: its config, inputs (or checkpoint) and the inputs' fingerprint (see :func:`prepare_job`)."""

    config: RunConfig
    fingerprint: str
    inputs: RunInputs | None = None
    resume: Checkpoint | None = None
    resume_file: Path | None = None


class LocalExecutor:
    """Runs jobs one after another in this process (see the module docstring for what it guarantees).

    Args:
        config: settings of jobs that carry none (``job.config`` is None).
        weights: use these weights for every job instead of loading each config's (tests, notebooks).
        stop: a :class:`GracefulStop` in effect around :meth:`run`: its first signal stops the run.
        skip_finished: skip jobs whose output is already finished (same settings and inputs).
        auto_resume: continue a job from the checkpoint next to its output when it matches exactly.
        keep_checkpoint: keep checkpoints of finished jobs.
        targets: the loss-target memo shared by all jobs (default: a new one).
    """

    def __init__(
        self,
        config: RunConfig | None = None,
        *,
        weights: VGGWeights | None = None,
        stop: GracefulStop | None = None,
        skip_finished: bool = True,
        auto_resume: bool = True,
        keep_checkpoint: bool = False,
        targets: TargetCache | None = None,
    ) -> None:
        self.config = (config or RunConfig()).validate()
        self.targets = targets if targets is not None else TargetCache()
        self.pool = StylizerPool(weights, self.targets)
        self.skip_finished, self.auto_resume, self.keep_checkpoint = skip_finished, auto_resume, keep_checkpoint
        self._signals = stop
        self._stop = False
        self._running: Stylizer | None = None
        if stop is not None:
            stop.on_stop = self.request_stop

    def request_stop(self) -> None:
        """Stop after the running job's current step (safe from a signal handler)."""
        self._stop = True
        if self._running is not None:
            self._running.request_stop()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (directly or by the signal handler)."""
        return self._stop or (self._signals is not None and self._signals.requested)

    def run(self, jobs: Sequence[Job], on_event: Listener | None = None) -> BatchReport:
        """Run ``jobs`` in order; see :class:`Executor`.

        Raises:
            RestyleError: problems common to all jobs -- the weights cannot be loaded, unknown layer names --
                end the run at once; per-job problems are recorded in the report instead.
            Aborted: a second stop signal.
        """
        emit = on_event or (lambda event: None)
        report = BatchReport()
        self._stop = False
        for index, job in enumerate(jobs):
            if self.stopping:
                report.results += [JobResult(j, "not run") for j in jobs[index:]]
                break
            result = self.run_job(job, index, len(jobs), emit, report)
            report.results.append(result)
            if result.status == "interrupted":
                report.results += [JobResult(j, "not run") for j in jobs[index + 1 :]]
                break
        report.targets = self.targets.stats()
        return report

    def run_job(
        self, job: Job, index: int = 0, total: int = 1, emit: Listener | None = None, report: BatchReport | None = None
    ) -> JobResult:
        """Run one job and return how it ended (``emit`` receives its events)."""
        emit = emit or (lambda event: None)
        try:
            prepared = self._prepare(job)
        except RestyleError as e:
            emit(JobFailed(job, index, total, str(e)))
            return JobResult(job, "failed", str(e), exception=e)
        if prepared is None:
            emit(JobSkipped(job, index, total))
            return JobResult(job, "skipped")
        n_loaded = len(self.pool.loaded)
        stylizer = self.pool.get(prepared.config)
        if report is not None:
            report.model = report.model or stylizer.model
        if len(self.pool.loaded) > n_loaded:
            if report is not None:
                report.model = self.pool.loaded[-1]
            emit(ModelLoaded(job, index, total, f"model: {stylizer.model}; device: {stylizer.device}"))
        emit(started(job, index, total, prepared))
        steps = [0]

        def step(event: Iterate) -> None:
            if self.stopping:  # a stop that came before this run began
                stylizer.request_stop()
            steps[0] = event.total_steps
            emit(JobStep(job, index, total, event))

        callback: Callback = combine(step, file_writers(job, prepared.config))
        self._running = stylizer
        stylizer.on_tile = lambda tile: emit(JobTile(job, index, total, tile))
        try:
            result = stylizer.run(prepared.inputs, None, callback, resume=prepared.resume)
        except RestyleError as e:
            emit(JobFailed(job, index, total, str(e)))
            return JobResult(job, "failed", str(e), exception=e)
        finally:
            self._running = None
            stylizer.on_tile = None
        return record_result(
            job,
            index,
            total,
            prepared,
            result,
            steps[0],
            emit,
            keep_checkpoint=self.keep_checkpoint,
        )

    def _prepare(self, job: Job) -> PreparedJob | None:
        """Load and fingerprint the job's inputs once; None when its output is already finished."""
        return prepare_job(job, self.config, skip_finished=self.skip_finished, auto_resume=self.auto_resume)


def started(job: Job, index: int, total: int, prepared: PreparedJob) -> JobStarted:
    """The :class:`JobStarted` of a prepared job: naming the checkpoint it resumes from, if it does."""
    resume = prepared.resume
    source = job.checkpoint_file or job.files.checkpoint
    return JobStarted(job, index, total, resume.step if resume else None, str(source) if resume else "")


def file_writers(job: Job, config: RunConfig) -> Callback:
    """What a job's steps write next to its output: checkpoints and intermediates, as ``config`` asks."""
    return job.files.writers(config)


def prepare_job(
    job: Job, config: RunConfig, *, skip_finished: bool = True, auto_resume: bool = True
) -> PreparedJob | None:
    """The planning an executor does on the machine holding the outputs, before a job computes.

    Loads and fingerprints the job's inputs once (or takes its checkpoint), checks the output can
    be written, and returns None when the output is already finished with the same image settings
    and inputs (``skip_finished``, unless ``job.force``); a matching checkpoint next to the output
    is picked up to continue (``auto_resume``). ``config`` applies to jobs without their own.

    Raises:
        RestyleError: a bad input or output of this job only (the caller records it and goes on).
    """
    files = job.files
    if job.checkpoint is not None:
        ckpt_config = config_from_checkpoint(job.checkpoint, job.checkpoint_file or "checkpoint")
        files.check(ckpt_config)
        return PreparedJob(
            ckpt_config,
            checkpoint_fingerprint(job.checkpoint),
            resume=job.checkpoint,
            resume_file=job.checkpoint_file,
        )
    if job.content is None or job.style is None:
        raise ConfigError("content and style images are required")
    config = job.config.validate() if job.config is not None else config
    files.check(config)
    inputs = load_run_inputs(config, job.content, job.style)
    if job.guide is not None:
        inputs = dataclasses.replace(inputs, guide=job.guide)
    fp = inputs.fingerprint()
    if skip_finished and not job.force and files.is_finished(inputs.config, fp):
        return None
    resume = files.find_resumable(inputs.config, fp) if auto_resume else None
    if resume is not None:
        return PreparedJob(inputs.config, fp, resume=resume)
    return PreparedJob(inputs.config, fp, inputs=inputs)


def record_result(
    job: Job,
    index: int,
    total: int,
    prepared: PreparedJob,
    result: StylizeResult,
    total_steps: int,
    emit: Listener,
    *,
    keep_checkpoint: bool = False,
) -> JobResult:
    """Write what a finished :meth:`Stylizer.run` of ``prepared`` produced, emit its event, return its JobResult.

    Finished: the final image (atomically; stale partial image and checkpoints removed). Interrupted
    or out of memory: the partial image and checkpoint (out of memory is reported as the job's error).
    Runs where the outputs are, wherever the computing happened.
    """
    files, resume = job.files, prepared.resume

    def ended(status: str, **files: Any) -> JobResult:
        return JobResult(
            job,
            status,
            result=result,
            resumed_from=resume.step if resume else None,
            total_steps=total_steps,
            fingerprint=prepared.fingerprint,
            **files,
        )

    if not result.interrupted:
        files.write_finished(
            result, prepared.fingerprint, keep_checkpoint=keep_checkpoint, resume_file=prepared.resume_file
        )
        done = ended("done")
        emit(JobFinished(job, index, total, done))
        return done
    partial, ckpt = files.write_interrupted(result, prepared.fingerprint)
    if result.out_of_memory:  # saved like an interrupt, reported as this job's error
        error = OutOfMemory(
            f"{result.out_of_memory}: saved {partial} and {ckpt}; continue on a machine with more memory with "
            f"`restyle resume {ckpt}`, or run again and {MEMORY_ADVICE}"
        )
        emit(JobFailed(job, index, total, str(error)))
        return ended("failed", error=str(error), exception=error, checkpoint=ckpt, partial=partial)
    done = ended("interrupted", checkpoint=ckpt, partial=partial)
    emit(JobInterrupted(job, index, total, done))
    return done


def run_job(
    stylizer: Stylizer,
    output: str | os.PathLike,
    *,
    content: Any = None,
    style: Any = None,
    resume: Checkpoint | None = None,
    callback: Callback | None = None,
    keep_checkpoint: bool = False,
    resume_file: str | os.PathLike | None = None,
) -> JobResult:
    """One job with an existing ``stylizer`` (its config applies): a :class:`LocalExecutor` of one job.

    ``callback`` receives every :class:`Iterate`. Unlike a batch, the job is never skipped and
    continues only the checkpoint given as ``resume``. Raises the job's RestyleError, if any.
    """
    executor = LocalExecutor(
        stylizer.config,
        skip_finished=False,
        auto_resume=False,
        keep_checkpoint=keep_checkpoint,
        targets=stylizer.targets,
    )
    executor.pool.add(stylizer)
    job = Job(
        Path(output),
        content,
        style,
        stylizer.config,
        checkpoint=resume,
        checkpoint_file=Path(resume_file) if resume_file is not None else None,
    )

    def listen(event: Any) -> None:
        if isinstance(event, JobStep) and callback is not None and event.iterate is not None:
            callback(event.iterate)

    result = executor.run_job(job, emit=listen)
    if result.exception is not None:
        raise result.exception
    return result
