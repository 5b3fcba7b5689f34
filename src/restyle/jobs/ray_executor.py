"""Jobs on a Ray cluster: :class:`RayExecutor`, the second implementation of the Executor protocol.

The split of the work:

* the **driver** (the process calling :meth:`RayExecutor.run`) does everything that needs the
  output folder, with the same functions as :class:`~restyle.jobs.executor.LocalExecutor`:
  :func:`~restyle.jobs.executor.prepare_job` (load and fingerprint the inputs, skip finished
  outputs, pick up matching checkpoints) before a job is sent, and
  :func:`~restyle.jobs.executor.record_result` (atomic final image, or partial image and
  checkpoint) when its result comes back -- plus the periodic checkpoints and intermediates the
  workers send. No file system is shared with the workers;
* the **workers** are Ray actors (:class:`StylizeWorker`), each holding one
  :class:`~restyle.jobs.executor.StylizerPool` (weights loaded once per actor) and running one
  job at a time, as many as the driver hands it. They receive the loaded input pixels (or the
  checkpoint to continue) and send back the result, progress and checkpoints.

A worker that dies mid-job (its process killed, its node gone) loses only that attempt: the job
goes back to the front of the queue and runs on the next free worker -- from the last checkpoint
the worker sent, when ``checkpoint_every`` is set -- and a new actor replaces the dead one. A bad
input fails only its job (:class:`~restyle.jobs.events.JobFailed`), as locally. The same seed
gives the same image as the local executor. :meth:`RayExecutor.request_stop` (Ctrl-C through
:class:`~restyle.jobs.signals.GracefulStop`) stops every running job after its current step;
their partial images and checkpoints are written, and a rerun skips the finished outputs and
continues the rest.

Listeners get the usual job events (``JobStep`` s are throttled: at most one per job and poll,
each with the image of its step; ``JobTile`` s of tiled print-size steps likewise, the newest) plus
:class:`WorkerReady`, :class:`JobAssigned` and :class:`WorkerLost` for a display of the workers.
Ray itself is optional (``pip install -e '.[ray]'``): this module imports without it, and
:func:`import_ray` says how to get it.

>>> with RayExecutor(RunConfig(size=256), workers=4) as executor:              # doctest: +SKIP
...     report = run_batch(plan_jobs(["photos/"], ["styles/"], "out/"), executor=executor)
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from restyle.config import RunConfig
from restyle.engine.checkpoint import Checkpoint
from restyle.engine.events import Iterate, TileDone
from restyle.engine.inputs import RunInputs
from restyle.engine.pyramid import ScaleSteps
from restyle.engine.stylize import Stylizer, StylizeResult
from restyle.engine.targets import TargetCache
from restyle.errors import ConfigError, RestyleError
from restyle.features.convert import VGGWeights
from restyle.jobs.events import JobEvent, JobFailed, JobSkipped, JobStep, JobTile, Listener, ModelLoaded
from restyle.jobs.executor import (
    BatchReport,
    PreparedJob,
    StylizerPool,
    file_writers,
    prepare_job,
    record_result,
    started,
)
from restyle.jobs.job import Job, JobResult
from restyle.jobs.signals import GracefulStop

__all__ = [
    "RAY_MISSING",
    "JobAssigned",
    "RayExecutor",
    "RayUnavailable",
    "StylizeWorker",
    "WorkerInfo",
    "WorkerLost",
    "WorkerReady",
    "import_ray",
]

#: The one line shown when Ray is needed but not installed.
RAY_MISSING = "the ray executor needs Ray, an optional extra: pip install -e '.[ray]'"


class RayUnavailable(ConfigError):
    """Ray is not installed, or the cluster cannot be reached."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`RayUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(RAY_MISSING) from None
    return ray


# ------------------------------------------------------------------------------------------ events
@dataclass
class WorkerInfo:
    """One worker actor: the driver's name for it, and where it runs."""

    name: str  #: ``w1``, ``w2``, ... (a replacement gets a new name)
    node: str  #: host name of its node
    pid: int  #: its process id on that node
    device: str  #: ``cpu`` or ``cuda`` (what ``device=auto`` gives there)
    node_id: str = ""  #: Ray's id of its node (tells apart nodes on one host)


@dataclass
class WorkerReady:
    """A worker actor is up (after its process started)."""

    worker: WorkerInfo


@dataclass
class JobAssigned(JobEvent):
    """The job was sent to worker ``worker`` (its name; see :class:`WorkerReady` for where it runs)."""

    worker: str = ""
    attempt: int = 1  #: 2 and more: a retry after a lost worker


@dataclass
class WorkerLost(JobEvent):
    """The worker running this job died (``error``); ``retry``: the job runs again on another worker."""

    worker: str = ""
    error: str = ""
    retry: bool = True


# ------------------------------------------------------------------------------------------ the worker
@dataclass
class _Task:
    """What travels to a worker: one job's settings and loaded inputs (or the checkpoint to continue)."""

    id: int
    config: RunConfig
    inputs: RunInputs | None
    resume: Checkpoint | None


@dataclass
class _Step:
    """One step as it travels back: the Iterate's values, the image of that step and, when due, a checkpoint."""

    step: int
    total_steps: int
    scale: int
    scales: int
    scale_step: int
    size: tuple[int, int]
    losses: dict[str, float]
    elapsed: float
    note: str
    pixels: torch.Tensor  #: (3, H, W) in [0, 1]
    checkpoint: Checkpoint | None = None
    keep: bool = False  #: never coalesced away (a checkpoint, an intermediate or a note)
    schedule: tuple[ScaleSteps, ...] = ()  #: the run's scales and planned steps (for the driver's ETA)

    def iterate(self) -> Iterate:
        """The driver-side :class:`Iterate` (its ``checkpoint()`` works only when one was sent)."""
        snapshot = None if self.checkpoint is None else (lambda c=self.checkpoint: c)
        return Iterate(
            self.step,
            self.total_steps,
            self.scale,
            self.scales,
            self.scale_step,
            self.size,
            self.losses,
            self.elapsed,
            self.pixels[None],
            self.note,
            snapshot,
            schedule=self.schedule,
        )


@dataclass
class _Loaded:
    """The worker loaded weights for this job (the ModelLoaded description)."""

    description: str


@dataclass
class _Outcome:
    """How a task ended on the worker: ``ran`` (``result``), ``failed`` (a RestyleError) or ``fatal``."""

    task: int
    status: str
    result: StylizeResult | None = None
    error: str = ""
    exception: RestyleError | None = None
    total_steps: int = 0
    events: list[Any] = field(default_factory=list)  #: the progress not yet polled
    targets: dict[str, float] = field(default_factory=dict)  #: the worker's TargetCache counters
    model: str = ""


def _portable(error: RestyleError) -> RestyleError | None:
    """``error`` if it survives pickling (it travels to the driver), else None (its message still does)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # an exception type with an unusual __init__
        return None
    return error


class StylizeWorker:
    """The body of a worker actor: one StylizerPool (weights loaded once), any number of jobs, one at a time.

    Runs as a threaded actor (``max_concurrency=2``) so that :meth:`poll` and :meth:`stop` are
    answered while :meth:`run` computes.

    Args:
        name: the driver's name for this worker.
        weights: weights for every job (else each config's are loaded on this node, once).
        threads: torch threads (the CPUs the actor was given).
    """

    def __init__(self, name: str, weights: VGGWeights | None = None, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self.pool = StylizerPool(weights, TargetCache())
        self._lock = threading.Lock()
        self._events: list[Any] = []
        self._stopped: set[int] = set()
        self._running: tuple[int, Stylizer] | None = None

    def info(self) -> WorkerInfo:
        """Where this worker runs."""
        device = "cuda" if torch.cuda.is_available() else "cpu"
        node_id = import_ray().get_runtime_context().get_node_id()
        return WorkerInfo(self.name, socket.gethostname(), os.getpid(), device, node_id)

    def poll(self) -> list[Any]:
        """The progress since the last poll (:class:`_Step`, :class:`_Loaded`, ``TileDone`` records), oldest first."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def stop(self, task: int) -> None:
        """Stop task ``task`` after its current step (also when it has not started yet)."""
        self._stopped.add(task)
        running = self._running
        if running is not None and running[0] == task:
            running[1].request_stop()

    def _push(self, event: Any) -> None:
        with self._lock:
            last = self._events[-1] if self._events else None
            if isinstance(event, _Step) and not event.keep and isinstance(last, _Step) and not last.keep:
                self._events[-1] = event  # throttle: only the newest plain step waits for the driver
            elif isinstance(event, TileDone) and isinstance(last, TileDone):
                self._events[-1] = event  # likewise the newest tile of a long step
            else:
                self._events.append(event)

    def run(self, task: _Task) -> _Outcome:
        """Run one task to its end (finished, stopped, or failed) and return how it ended."""
        config = task.config
        try:
            n_loaded = len(self.pool.loaded)
            stylizer = self.pool.get(config)
        except RestyleError as e:  # the weights or layers: the same for every job
            return _Outcome(task.id, "fatal", error=str(e), exception=_portable(e))
        if len(self.pool.loaded) > n_loaded or n_loaded == 0:
            self._push(_Loaded(f"model: {stylizer.model}; device: {stylizer.device}"))
        steps = [0]
        every, save_every = config.checkpoint_every, config.save_every

        def callback(it: Iterate) -> None:
            if task.id in self._stopped:  # a stop that came before this run began
                stylizer.request_stop()
            steps[0] = it.total_steps
            due = bool(every) and it.step % every == 0
            saved = bool(save_every) and it.step % save_every == 0
            self._push(
                _Step(
                    it.step,
                    it.total_steps,
                    it.scale,
                    it.scales,
                    it.scale_step,
                    it.size,
                    dict(it.losses),
                    it.elapsed,
                    it.note,
                    it.pixels(),
                    it.checkpoint() if due else None,
                    keep=due or saved or bool(it.note),
                    schedule=it.schedule,
                )
            )

        self._running = (task.id, stylizer)
        stylizer.on_tile = self._push  # tile i/N of print-size steps, as the LocalExecutor reports them
        try:
            result = stylizer.run(task.inputs, None, callback, resume=task.resume)
        except RestyleError as e:
            return _Outcome(task.id, "failed", error=str(e), exception=_portable(e), events=self.poll())
        finally:
            stylizer.on_tile = None
            self._running = None
            self._stopped.discard(task.id)
        return _Outcome(
            task.id,
            "ran",
            result=result,
            total_steps=steps[0],
            events=self.poll(),
            targets=self.pool.targets.stats() if self.pool.targets is not None else {},
            model=stylizer.model,
        )


# ------------------------------------------------------------------------------------------ the driver
@dataclass
class _Worker:
    """The driver's view of one actor."""

    name: str
    actor: Any
    info_ref: Any
    info: WorkerInfo | None = None
    alive: bool = True


@dataclass
class _Running:
    """A job in flight on a worker."""

    index: int
    task: int
    prepared: PreparedJob
    ref: Any
    attempt: int
    writers: Any
    poll: Any = None
    total_steps: int = 0
    stop_sent: bool = False


class RayExecutor:
    """Runs jobs on Ray actors; the driver plans and writes (see the module docstring).

    Args:
        config: settings of jobs that carry none (``job.config`` is None).
        address: the Ray cluster: None starts a local Ray instance (unless Ray is already initialised
            in this process, which is then used); ``auto`` or ``HOST:PORT`` joins a running cluster.
        workers: number of worker actors (default: the cluster's CPUs / ``cpus_per_worker``, or its
            GPUs / ``gpus_per_worker``); never more than the cluster holds, nor than there are jobs to run.
        cpus_per_worker: CPUs each actor asks Ray for (and its torch threads).
        gpus_per_worker: GPUs each actor asks Ray for (0: none; fractions share a GPU).
        weights: use these weights in every worker instead of loading each config's there.
        stop: a :class:`GracefulStop` in effect around :meth:`run`: its first signal stops the run.
        skip_finished, auto_resume, keep_checkpoint: as for :class:`~restyle.jobs.executor.LocalExecutor`.
        max_attempts: how many workers a job may lose before it is reported as failed.
        poll_interval: seconds between progress polls of the running workers.
        init_options: more keyword arguments for ``ray.init`` (e.g. ``runtime_env``).
    """

    #: The actors' class (a subclass of :class:`StylizeWorker` may add to what a worker does).
    worker_class: type[StylizeWorker] = StylizeWorker

    def __init__(
        self,
        config: RunConfig | None = None,
        *,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 0.0,
        weights: VGGWeights | None = None,
        stop: GracefulStop | None = None,
        skip_finished: bool = True,
        auto_resume: bool = True,
        keep_checkpoint: bool = False,
        max_attempts: int = 3,
        poll_interval: float = 0.2,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        import_ray()
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        if cpus_per_worker <= 0 or gpus_per_worker < 0:
            raise ConfigError("CPUs per worker must be > 0 and GPUs per worker >= 0")
        self.config = (config or RunConfig()).validate()
        self.address = address
        self.workers = workers
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker
        self.weights = weights
        self.skip_finished, self.auto_resume, self.keep_checkpoint = skip_finished, auto_resume, keep_checkpoint
        self.max_attempts = max(1, max_attempts)
        self.poll_interval = poll_interval
        self.init_options = dict(init_options or {})
        self._signals = stop
        self._stop = False
        self._owns_ray = False
        self._weights_ref: Any = None
        self._pool: list[_Worker] = []
        self._made = 0
        self._tasks = 0
        self._targets: dict[str, dict[str, float]] = {}
        if stop is not None:
            stop.on_stop = self.request_stop

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker actors, and the Ray instance if this executor started it."""
        ray = import_ray()
        if ray.is_initialized():
            for w in self._pool:
                if w.alive:
                    ray.kill(w.actor)
        self._pool = []
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def request_stop(self) -> None:
        """Stop every running job after its current step; jobs not started are not run (signal-safe)."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (directly or by the signal handler)."""
        return self._stop or (self._signals is not None and self._signals.requested)

    def connect(self) -> Any:
        """Join (or start) the Ray cluster, once; returns the ``ray`` module.

        Raises:
            RayUnavailable: Ray is missing or the cluster cannot be reached (one line).
        """
        ray = import_ray()
        if ray.is_initialized():
            return ray
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,  # not its notes (e.g. about token authentication) in our display
            **self.init_options,
        }
        address = self.address or "local"
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = "start a local Ray instance" if address == "local" else f"connect to the Ray cluster at {address}"
            raise RayUnavailable(f"cannot {where}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        self._owns_ray = True
        return ray

    def worker_info(self, name: str) -> WorkerInfo | None:
        """Where worker ``name`` runs (waits for it to be up); None if unknown or dead."""
        ray = import_ray()
        for w in self._pool:
            if w.name == name and w.alive:
                if w.info is None:
                    try:
                        w.info = ray.get(w.info_ref)
                    except ray.exceptions.RayError:
                        return None
                return w.info
        return None

    def _capacity(self, ray: Any) -> int:
        """How many workers run at once: ``workers``, at most as many as the cluster can hold.

        More actors than fit would wait for resources forever, holding their jobs.
        """
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        if cpus < self.cpus_per_worker or gpus < self.gpus_per_worker:
            raise RayUnavailable(
                f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs; a worker needs {self.cpus_per_worker:g} CPUs "
                f"and {self.gpus_per_worker:g} GPUs"
            )
        fit = int(cpus // self.cpus_per_worker)
        if self.gpus_per_worker > 0:
            fit = min(fit, int(gpus // self.gpus_per_worker))
        return min(self.workers, fit) if self.workers is not None else fit

    def _new_worker(self, ray: Any) -> _Worker:
        if self.weights is not None and self._weights_ref is None:
            self._weights_ref = ray.put(self.weights)
        self._made += 1
        name = f"w{self._made}"
        cls = ray.remote(self.worker_class).options(
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            max_concurrency=2,
            max_restarts=0,
        )
        threads = max(1, int(self.cpus_per_worker))
        actor = cls.remote(name, self._weights_ref, threads)
        worker = _Worker(name, actor, actor.info.remote())
        self._pool.append(worker)
        return worker

    # ------------------------------------------------------------------ running
    def run(self, jobs: Sequence[Job], on_event: Listener | None = None) -> BatchReport:
        """Run ``jobs`` on the cluster; see :class:`~restyle.jobs.executor.Executor`.

        Raises:
            RestyleError: problems common to all jobs (weights, layer names) end the run at once;
                per-job problems are recorded in the report instead.
            Aborted: a second stop signal (the workers are ended).
        """
        ray = self.connect()
        emit = on_event or (lambda event: None)
        self._stop = False
        total = len(jobs)
        results: list[JobResult | None] = [None] * total
        pending: deque[tuple[int, int]] = deque((i, 1) for i in range(total))
        running: dict[str, _Running] = {}
        report = BatchReport()
        capacity = self._capacity(ray)
        try:
            while pending or running:
                self._announce(ray, emit)
                if self.stopping:
                    for name, r in running.items():
                        if not r.stop_sent:
                            self._worker(name).actor.stop.remote(r.task)
                            r.stop_sent = True
                    if not running:
                        break
                else:
                    self._dispatch(ray, jobs, pending, running, results, capacity, emit)
                if not running:
                    continue
                self._wait(ray, jobs, pending, running, results, report, emit)
        except BaseException:
            for name in list(running):
                self._kill(ray, name)
            raise
        self._announce(ray, emit)
        report.results = [r if r is not None else JobResult(jobs[i], "not run") for i, r in enumerate(results)]
        stats = TargetCache().stats()
        for worker_stats in self._targets.values():
            for k, v in worker_stats.items():
                stats[k] = stats.get(k, 0.0) + v
        report.targets = stats
        return report

    def _worker(self, name: str) -> _Worker:
        return next(w for w in self._pool if w.name == name)

    def _kill(self, ray: Any, name: str) -> None:
        w = self._worker(name)
        if w.alive:
            w.alive = False
            ray.kill(w.actor)

    def _announce(self, ray: Any, emit: Listener) -> None:
        """Emit WorkerReady for actors whose process came up since the last look."""
        waiting = [w for w in self._pool if w.alive and w.info is None]
        if not waiting:
            return
        ready, _ = ray.wait([w.info_ref for w in waiting], num_returns=len(waiting), timeout=0)
        for w in waiting:
            if w.info_ref in ready:
                try:
                    w.info = ray.get(w.info_ref)
                except ray.exceptions.RayError:
                    continue  # died while starting: its task reports it
                emit(WorkerReady(w.info))

    def _dispatch(
        self,
        ray: Any,
        jobs: Sequence[Job],
        pending: deque[tuple[int, int]],
        running: dict[str, _Running],
        results: list[JobResult | None],
        capacity: int,
        emit: Listener,
    ) -> None:
        """Prepare queued jobs on the driver and send those that need computing to free workers."""
        total = len(jobs)
        while pending and len(running) < capacity:
            index, attempt = pending.popleft()
            job = jobs[index]
            try:
                prepared = prepare_job(job, self.config, skip_finished=self.skip_finished, auto_resume=self.auto_resume)
            except RestyleError as e:
                emit(JobFailed(job, index, total, str(e)))
                results[index] = JobResult(job, "failed", str(e), exception=e)
                continue
            if prepared is None:
                emit(JobSkipped(job, index, total))
                results[index] = JobResult(job, "skipped")
                continue
            free = [w for w in self._pool if w.alive and w.name not in running]
            worker = free[0] if free else self._new_worker(ray)
            self._tasks += 1
            task = _Task(self._tasks, prepared.config, prepared.inputs, prepared.resume)
            ref = worker.actor.run.remote(task)
            writers = file_writers(job, prepared.config)
            running[worker.name] = _Running(index, task.id, prepared, ref, attempt, writers)
            emit(JobAssigned(job, index, total, worker.name, attempt))
            emit(started(job, index, total, prepared))

    def _wait(
        self,
        ray: Any,
        jobs: Sequence[Job],
        pending: deque[tuple[int, int]],
        running: dict[str, _Running],
        results: list[JobResult | None],
        report: BatchReport,
        emit: Listener,
    ) -> None:
        """Wait up to one poll interval; forward progress, and record the jobs that ended."""
        refs = {r.ref: name for name, r in running.items()}
        ready, rest = ray.wait(list(refs), num_returns=1, timeout=self.poll_interval)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        polls = {r.poll: name for name, r in running.items() if r.poll is not None}
        if polls:
            done_polls, _ = ray.wait(list(polls), num_returns=len(polls), timeout=0)
            for ref in done_polls:
                self._take_poll(ray, polls[ref], running, jobs, emit)
        for ref in ready:
            self._finish(ray, refs[ref], running, jobs, pending, results, report, emit)
        for name, r in running.items():
            if r.poll is None:
                r.poll = self._worker(name).actor.poll.remote()

    def _take_poll(
        self, ray: Any, name: str, running: dict[str, _Running], jobs: Sequence[Job], emit: Listener
    ) -> None:
        r = running[name]
        ref, r.poll = r.poll, None
        try:
            events = ray.get(ref)
        except ray.exceptions.RayError:
            return  # the worker died: its task says so
        self._forward(events, r, jobs, emit)

    def _forward(self, events: list[Any], r: _Running, jobs: Sequence[Job], emit: Listener) -> None:
        job, total = jobs[r.index], len(jobs)
        for event in events:
            if isinstance(event, _Loaded):
                emit(ModelLoaded(job, r.index, total, event.description))
            elif isinstance(event, _Step):
                r.total_steps = event.total_steps
                iterate = event.iterate()
                if event.keep:
                    r.writers(iterate)  # checkpoints and intermediates, written here on the driver
                emit(JobStep(job, r.index, total, iterate))
            elif isinstance(event, TileDone):
                emit(JobTile(job, r.index, total, event))

    def _finish(
        self,
        ray: Any,
        name: str,
        running: dict[str, _Running],
        jobs: Sequence[Job],
        pending: deque[tuple[int, int]],
        results: list[JobResult | None],
        report: BatchReport,
        emit: Listener,
    ) -> None:
        """Record the end of the job on worker ``name`` (a lost worker sends the job back to the queue)."""
        r = running.pop(name)
        job, index, total = jobs[r.index], r.index, len(jobs)
        if r.poll is not None:  # progress sent before the end comes first
            try:
                self._forward(ray.get(r.poll), r, jobs, emit)
            except ray.exceptions.RayError:
                pass
        try:
            outcome: _Outcome = ray.get(r.ref)
        except ray.exceptions.RayTaskError:
            raise  # a bug in the worker's code: as a LocalExecutor would, stop here
        except ray.exceptions.RayError as e:
            self._kill(ray, name)
            lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
            if getattr(e, "actor_init_failed", False):  # the same on every attempt: e.g. restyle missing there
                raise RayUnavailable(
                    f"Ray workers cannot start (is restyle installed on every node?): {lines[-1]}"
                ) from None
            error = lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"
            retry = r.attempt < self.max_attempts
            emit(WorkerLost(job, index, total, name, error, retry))
            if retry:
                pending.appendleft((index, r.attempt + 1))
            else:
                message = f"lost its worker {r.attempt} times (last: {error})"
                emit(JobFailed(job, index, total, message))
                results[index] = JobResult(job, "failed", message, exception=RestyleError(message))
            return
        self._forward(outcome.events, r, jobs, emit)
        if outcome.targets:
            self._targets[name] = outcome.targets
        if outcome.status == "fatal":
            raise outcome.exception or ConfigError(outcome.error)
        if outcome.status == "failed":
            emit(JobFailed(job, index, total, outcome.error))
            results[index] = JobResult(job, "failed", outcome.error, exception=outcome.exception)
            return
        assert outcome.result is not None
        report.model = report.model or outcome.model
        results[index] = record_result(
            job,
            index,
            total,
            r.prepared,
            outcome.result,
            outcome.total_steps or r.total_steps,
            emit,
            keep_checkpoint=self.keep_checkpoint,
        )
