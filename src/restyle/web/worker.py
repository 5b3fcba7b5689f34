"""Worker processes of the web app: each takes queued jobs from the store and runs them on a LocalExecutor.

A web job is one :class:`~restyle.jobs.job.Job` handed to
:meth:`LocalExecutor.run <restyle.jobs.executor.LocalExecutor.run>`; its events
(:mod:`restyle.jobs.events`) are forwarded into the :class:`~restyle.web.store.JobStore`, from where
the server streams them to the page. The listener also writes a preview image every
``preview_seconds`` and a checkpoint every ``checkpoint_seconds``, so a job the server loses can be
resumed. A monitor thread turns a cancel request (or the server shutting down, or the server
process disappearing) into :meth:`~restyle.jobs.executor.LocalExecutor.request_stop`.

The server side is :class:`WorkerPool`: it starts the processes (fresh interpreters: no torch
state is inherited from the server), replaces one that dies and fails the job it was running.

A sweep job is :func:`~restyle.jobs.sweep.sweep` on a LocalExecutor that skips finished cells:
its cells are Jobs like any other, so the same listener sees their steps (progress and preview
of the running cell, its checkpoints next to the cell's image) plus a
:class:`~restyle.jobs.sweep.CellDone` per finished cell; cancelled or interrupted, it keeps its
finished cells and continues the stopped one from its checkpoint when resumed.

Files of job ``ID`` under the data dir: ``jobs/ID/content.*``, ``style.*`` (the uploads),
``out.png`` (the result, with the run's metadata), ``out.ckpt``, ``out.partial.png`` (engine
conventions) and ``preview.jpg``; a sweep's outputs are under ``jobs/ID/sweep/``
(:mod:`restyle.web.sweeps`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from restyle.config import RunConfig
from restyle.engine.checkpoint import save_checkpoint
from restyle.engine.fast_run import FastStylizer
from restyle.errors import RestyleError
from restyle.io.files import atomic_write
from restyle.jobs.eta import RunETA
from restyle.jobs.events import JobStarted, JobStep, ModelLoaded
from restyle.jobs.executor import LocalExecutor
from restyle.jobs.job import Job, checkpoint_path
from restyle.jobs.sweep import CellDone, sweep
from restyle.web.store import JobStore
from restyle.web.sweeps import SHEET_CELL_SIZE, SWEEP_DIR, axes_of

PREVIEW_NAME = "preview.jpg"
RESULT_NAME = "out.png"


@dataclass
class WorkerSettings:
    """How workers run jobs (the same for every worker of a server).

    Attributes:
        weights: a weights file every job uses (server-side; never from a client). None: the job's model.
        preview_seconds: write a preview image at most this often (and at the first step).
        checkpoint_seconds: write a resumable checkpoint at most this often.
        progress_seconds: write progress to the store at most this often.
        torch_threads: torch threads per worker (None: torch's default).
        poll_seconds: how often an idle worker looks for a queued job.
        fast_preview: the fast method's picture as an optimisation's first preview (about a second of work).
    """

    weights: str | None = None
    preview_seconds: float = 2.0
    checkpoint_seconds: float = 15.0
    progress_seconds: float = 0.25
    torch_threads: int | None = None
    poll_seconds: float = 0.2
    #: Show the feed-forward network's picture as the first preview of an optimisation (see ``fast_preview``).
    fast_preview: bool = True


def job_dir(data_dir: Path, job_id: str) -> Path:
    """Folder of one job's files (``job_id`` is server-generated hex, never a client's string)."""
    return data_dir / "jobs" / job_id


def store_path(data_dir: Path) -> Path:
    """The SQLite file of a data dir."""
    return data_dir / "jobs.sqlite3"


def job_config(row: dict[str, Any], settings: WorkerSettings) -> RunConfig:
    """The RunConfig a stored job runs with: its validated settings, plus the server's weights file."""
    config = RunConfig.from_dict(row["config"])
    if settings.weights is not None:
        config = config.replace(weights=settings.weights)
    return config.validate()


class _Forwarder:
    """The executor's listener for one web job: events → store, plus previews and checkpoints on a timer.

    ``cells``: given for a sweep (its finished cells so far); then each cell's start and end are recorded too.
    """

    def __init__(
        self, store: JobStore, job_id: str, folder: Path, settings: WorkerSettings, cells: dict[str, Any] | None = None
    ) -> None:
        self.store, self.job_id, self.folder, self.settings = store, job_id, folder, settings
        self.last_progress = self.last_preview = 0.0
        self.last_checkpoint = time.monotonic()  # the first checkpoint after checkpoint_seconds
        self.first = True
        self.sweep = cells is not None
        self.cells = dict(cells or {})  #: a sweep's finished cells by index (as stored)
        self.eta: RunETA | None = None  #: the running job's (cell's) remaining time, priced per scale

    def __call__(self, event: Any) -> None:
        match event:
            case ModelLoaded(description=description):
                self.store.update(self.job_id, model=description)
            case JobStarted(resumed_from=resumed_from, index=index) if self.sweep:
                self.first = True  # each cell shows its first step at once
                self.eta = None
                self.last_checkpoint = time.monotonic()
                progress = {"step": 0, "checkpoint_step": resumed_from or 0, "eta_s": None}
                self.store.update(self.job_id, resumed_from=resumed_from, cell=index, **progress)
            case JobStarted(resumed_from=resumed_from, job=job):
                self.store.update(self.job_id, resumed_from=resumed_from, eta_s=None)
                if resumed_from is None and self.settings.fast_preview:
                    self.fast_preview(job)
            case JobStep(iterate=it, job=job) if it is not None:
                self.step(it, job.output)
            case CellDone(record=record, done=done) if record is not None:
                self.cells[str(record.cell.index)] = {
                    "losses": record.losses,
                    "time_s": record.time_s,
                    "size": list(record.size),
                    "resumed": record.resumed,
                }
                self.store.update(self.job_id, cells=self.cells, cells_done=done)

    def fast_preview(self, job: Job) -> None:
        """The feed-forward network's picture (``--method fast``, well under a second) as the job's first preview,
        on screen while the optimisation computes its first steps; the first step's preview replaces it. Best
        effort: a job that is fast already needs none, and a failure here only leaves no early preview."""
        config = job.config
        if config is None or config.method == "fast" or job.content is None or job.style is None:
            return
        try:
            result = FastStylizer(dataclasses.replace(config, method="fast")).run(job.content, job.style)
        except RestyleError:
            return
        image = result.image().convert("RGB")
        atomic_write(self.folder / PREVIEW_NAME, lambda fp: image.save(fp, "JPEG", quality=85))
        self.store.bump_preview(self.job_id)

    def step(self, it: Any, output: Path) -> None:
        now = time.monotonic()
        last = it.step == it.total_steps
        if self.eta is None and it.schedule:
            self.eta = RunETA(it.schedule)
        if self.eta is not None:
            self.eta.observe(it.scale, it.scale_step, it.elapsed)
        if self.first or now - self.last_preview >= self.settings.preview_seconds or last:
            image = it.image()
            atomic_write(self.folder / PREVIEW_NAME, lambda fp: image.save(fp, "JPEG", quality=85))
            self.store.bump_preview(self.job_id)
            self.last_preview = now
        if now - self.last_checkpoint >= self.settings.checkpoint_seconds and not last:
            checkpoint = it.checkpoint()
            checkpoint.output = str(Path(output).resolve())  # next to the job's image: the executor resumes it
            save_checkpoint(checkpoint, checkpoint_path(output))
            self.store.update(self.job_id, checkpoint_step=it.step)
            self.last_checkpoint = now
        if self.first or now - self.last_progress >= self.settings.progress_seconds or last:
            self.store.update(
                self.job_id,
                step=it.step,
                total_steps=it.total_steps,
                scale=it.scale,
                scales=it.scales,
                width=it.size[0],
                height=it.size[1],
                losses=it.losses,
                elapsed=it.elapsed,
                eta_s=self.eta.remaining() if self.eta is not None else None,
                eta_at=time.time(),
            )
            self.last_progress = now
        self.first = False


def _monitor(
    store: JobStore, job_id: str, executor: LocalExecutor, shutdown: _Shutdown, parent: int, done: threading.Event
) -> None:
    """Stop the running job when it is cancelled, the server shuts down or the server process is gone."""
    while not done.wait(0.2):
        row = store.get(job_id)
        if row is None or row["cancel_requested"] or shutdown.is_set() or os.getppid() != parent:
            executor.request_stop()


@contextmanager
def _watched(store: JobStore, job_id: str, executor: LocalExecutor, shutdown: _Shutdown, parent: int) -> Iterator[None]:
    """While the block runs, :func:`_monitor` stops the executor on a cancel, a shutdown or a lost server."""
    done = threading.Event()
    monitor = threading.Thread(target=_monitor, args=(store, job_id, executor, shutdown, parent, done), daemon=True)
    monitor.start()
    try:
        yield
    finally:
        done.set()


def _failed(store: JobStore, job_id: str, error: Exception, **values: Any) -> str:
    """Record a job that ended in ``error``: a RestyleError's own line, anything else as an internal error
    (a bug must not take the worker down with it: the job fails, the next one runs)."""
    message = str(error) if isinstance(error, RestyleError) else f"internal error: {type(error).__name__}: {error}"
    store.finish(job_id, "failed", error=message, **values)
    return "failed"


def run_one(
    store: JobStore,
    data_dir: Path,
    row: dict[str, Any],
    executor: LocalExecutor,
    settings: WorkerSettings,
    shutdown: _Shutdown,
    parent: int,
) -> str:
    """Run one claimed job to its end and record it; returns the final state."""
    if row["kind"] == "sweep":
        return run_sweep(store, data_dir, row, executor, settings, shutdown, parent)
    job_id = row["id"]
    folder = job_dir(data_dir, job_id)
    try:
        with _watched(store, job_id, executor, shutdown, parent):
            config = job_config(row, settings)
            content, style = folder / row["content_file"], folder / row["style_file"]
            job = Job(folder / RESULT_NAME, content, style, config, tag=job_id)
            report = executor.run([job], _Forwarder(store, job_id, folder, settings))
    except Exception as e:
        return _failed(store, job_id, e)
    result = report.results[0]
    if result.status == "done":
        final = result.result
        values: dict[str, Any] = {}
        if final is not None:
            values = {"losses": final.losses, "elapsed": float(final.timings.get("total_s", row["elapsed"]) or 0)}
        store.finish(job_id, "done", step=result.total_steps or row["total_steps"], **values)
        return "done"
    if result.status == "interrupted":
        return _stopped(store, job_id, result.step)
    store.finish(job_id, "failed", error=result.error or result.status)
    return "failed"


def _stopped(store: JobStore, job_id: str, checkpoint_step: int) -> str:
    """Record a job stopped by a cancel (``cancelled``) or by the server stopping (``interrupted``)."""
    latest = store.get(job_id)
    cancelled = latest is not None and bool(latest["cancel_requested"])
    state = "cancelled" if cancelled else "interrupted"
    error = "cancelled" if cancelled else "the server stopped while this job ran; resume it to continue"
    store.finish(job_id, state, error=error, checkpoint_step=checkpoint_step)
    return state


def run_sweep(
    store: JobStore,
    data_dir: Path,
    row: dict[str, Any],
    executor: LocalExecutor,
    settings: WorkerSettings,
    shutdown: _Shutdown,
    parent: int,
) -> str:
    """Run one claimed sweep job (its cells on ``executor``, which skips finished cells) and record it."""
    job_id = row["id"]
    folder = job_dir(data_dir, job_id)
    try:
        with _watched(store, job_id, executor, shutdown, parent):
            base = job_config(row, settings)
            axes = axes_of(row["sweep"])
            content, style = folder / row["content_file"], folder / row["style_file"]
            listener = _Forwarder(store, job_id, folder, settings, cells=row["cells"])
            result = sweep(
                content, style, base, axes, folder / SWEEP_DIR, listener, executor=executor, cell_size=SHEET_CELL_SIZE
            )
    except Exception as e:  # a cell failed (the others ran and are kept), the inputs are bad, or a bug
        return _failed(store, job_id, e, cell=-1)
    if result.sheet is None:  # stopped: the finished cells are kept, the stopped one has a checkpoint
        return _stopped(store, job_id, result.interrupted.step if result.interrupted else 0)
    store.finish(job_id, "done", cell=-1, cells_done=len(result.records), elapsed=result.timings["total_s"])
    return "done"


class _Shutdown:
    """Set by SIGTERM (the server stopping): the running job saves its checkpoint, the worker exits."""

    def __init__(self) -> None:
        self.event = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: self.event.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which sends SIGTERM

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


def worker_main(data_dir: str, settings: dict[str, Any]) -> None:
    """Body of a worker process: run queued jobs until SIGTERM or until the server process is gone."""
    shutdown = _Shutdown()
    ws = WorkerSettings(**settings)
    if ws.torch_threads:
        import torch

        torch.set_num_threads(ws.torch_threads)
    root = Path(data_dir)
    store = JobStore(store_path(root))
    executor = LocalExecutor(RunConfig(), skip_finished=False, auto_resume=True)
    # A sweep's executor skips cells already finished (a resumed sweep); it shares the model pool and
    # target memo, so a worker holds one copy of each weights file whatever it runs.
    sweeper = LocalExecutor(RunConfig(), skip_finished=True, auto_resume=True, targets=executor.targets)
    sweeper.pool = executor.pool
    parent = os.getppid()
    while not shutdown.is_set() and os.getppid() == parent:
        row = store.claim(os.getpid())
        if row is None:
            shutdown.wait(ws.poll_seconds)
            continue
        chosen = sweeper if row["kind"] == "sweep" else executor
        run_one(store, root, row, chosen, ws, shutdown, parent)


class WorkerPool:
    """``n`` worker processes for a data dir, watched by a thread that replaces any that dies.

    Each worker is ``python -m restyle.web.worker DATA_DIR SETTINGS`` (a fresh interpreter: no torch
    or server state inherited, whatever started the server). A worker that dies (a crash, SIGKILL,
    the OOM killer) fails the job it was running with a message saying so; a new worker takes the
    next job. :meth:`stop` sends SIGTERM: a running job saves its checkpoint (``interrupted``).
    """

    def __init__(self, data_dir: Path, n: int, settings: WorkerSettings) -> None:
        self.data_dir, self.n, self.settings = data_dir, n, settings
        self.store = JobStore(store_path(data_dir))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.processes: list[subprocess.Popen[bytes]] = []
        self._watcher: threading.Thread | None = None
        self.crashes = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # the folder holding the restyle package
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH", "")]))
        args = [sys.executable, "-m", "restyle.web.worker", str(self.data_dir), json.dumps(asdict(self.settings))]
        return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL)

    def start(self) -> None:
        """Start the workers and the watcher thread."""
        with self._lock:
            self.processes = [self._spawn() for _ in range(self.n)]
        self._watcher = threading.Thread(target=self._watch, name="restyle-worker-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                for i, p in enumerate(self.processes):
                    code = p.poll()
                    if code is None or self._stop.is_set():
                        continue
                    how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                    self.store.fail_running(
                        p.pid, f"the worker process crashed ({how}) while running this job; start it again to retry"
                    )
                    self.crashes += 1
                    self.processes[i] = self._spawn()

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        with self._lock:
            return [p.pid for p in self.processes if p.poll() is None]

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the workers (SIGTERM: a running job saves its checkpoint, ``interrupted``) and wait for them."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)
        with self._lock:
            for p in self.processes:
                if p.poll() is None:
                    p.terminate()
            deadline = time.monotonic() + timeout
            for p in self.processes:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        self.store.recover()


def main(argv: list[str] | None = None) -> None:
    """``python -m restyle.web.worker DATA_DIR SETTINGS_JSON`` (started by :class:`WorkerPool`)."""
    args = sys.argv[1:] if argv is None else argv
    worker_main(args[0], json.loads(args[1]))


if __name__ == "__main__":
    main()
