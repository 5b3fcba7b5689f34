"""Rich progress displays fed by the engine's events: a run's steps, a batch of jobs, a sweep's cells, workers."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from restyle.cli.common import say
from restyle.engine.events import Iterate, TileDone
from restyle.jobs.eta import RunETA
from restyle.jobs.events import (
    JobFailed,
    JobFinished,
    JobInterrupted,
    JobSkipped,
    JobStarted,
    JobStep,
    JobTile,
    ModelLoaded,
)
from restyle.jobs.ray_executor import JobAssigned, WorkerLost, WorkerReady
from restyle.jobs.sweep import Cell, CellDone


def format_losses(losses: dict[str, float]) -> str:
    """``content 1.2e+00  style 3.4e-01 ...`` for a loss dict."""
    return "  ".join(f"{k} {v:.3g}" for k, v in losses.items())


def format_eta(seconds: float | None) -> str:
    """``eta 1:05`` (or ``eta -:--`` when unknown)."""
    if seconds is None:
        return "eta -:--"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"eta {h}:{m:02d}:{s:02d}" if h else f"eta {m}:{s:02d}"


def info_progress(console: Console, enabled: bool) -> Progress:
    """Bars of ``description  ━━━  n/N  elapsed  info`` (the sweep's and the cluster's displays)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not enabled,
    )


class RunProgress:
    """Context manager whose ``callback`` updates a rich progress bar from Iterate events.

    The bar appears with the first event, so an error before the first step prints only itself. The
    ETA is :class:`~restyle.jobs.eta.RunETA`'s (measured per-scale step costs), only rendered here.
    """

    def __init__(self, console: Console, label: str = "stylising", enabled: bool = True) -> None:
        self.console = console
        self.label = label
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task(label, total=None, losses="loading", eta=format_eta(None))
        self.started = False
        self.eta: RunETA | None = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Remove the live display (idempotent)."""
        if self.started:
            self.progress.stop()
            self.started = False

    def callback(self, event: Iterate) -> None:
        """Update the bar with one optimisation step."""
        if not self.started:
            self.progress.start()
            self.started = True
        desc = f"{self.label} {event.size[0]}x{event.size[1]} ({event.scale + 1}/{event.scales})"
        if event.tiles:
            desc += f" in {event.tiles} tiles"
        if self.eta is None and event.schedule:
            self.eta = RunETA(event.schedule)
        if self.eta is not None:
            self.eta.observe(event.scale, event.scale_step, event.elapsed)
        self.progress.update(
            self.task,
            total=event.total_steps,
            completed=event.step,
            description=desc,
            losses=format_losses(event.losses),
            eta=format_eta(self.eta.remaining() if self.eta is not None else None),
        )
        if event.note:
            self.console.print(f"[yellow]{event.note}")

    def tile(self, event: TileDone) -> None:
        """Show progress inside a long tiled step: which tile of which pass."""
        if not self.started:
            self.progress.start()
            self.started = True
        pass_name = "Gram pass" if event.phase == "statistics" else "gradient"
        self.progress.update(
            self.task,
            description=f"{self.label} {event.size[0]}x{event.size[1]} ({event.scale + 1}/{event.scales}) "
            f"step {event.step}: tile {event.tile}/{event.tiles} ({pass_name})",
        )


class JobsDisplay:
    """Shows an executor's job events: one progress bar per job, a line per skip/failure.

    ``batch=False`` (a single run) prints no job headers and leaves failures to the caller, so a bad
    input prints nothing but the caller's one error line. The model line is held back until the first
    step for the same reason.
    """

    def __init__(self, console: Console, batch: bool, enabled: bool = True) -> None:
        self.console = console
        self.batch = batch
        self.enabled = enabled
        self.bar: RunProgress | None = None
        self.pending_model: str | None = None

    def __enter__(self) -> JobsDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self._end_bar()

    def _end_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def on_event(self, event: object) -> None:
        """Update the display from one job event."""
        match event:
            case ModelLoaded(description=description):
                self.pending_model = description
            case JobStarted(job=job, index=index, total=total, resumed_from=step, checkpoint=source):
                self._end_bar()
                if self.batch:
                    say(self.console, f"[bold][{index + 1}/{total}] {job.label}[/] → {job.output}")
                if step is not None:
                    say(self.console, f"resuming {source} from step {step}")
                self.bar = RunProgress(self.console, "stylising", enabled=self.enabled)
            case JobStep(iterate=iterate) if iterate is not None:
                if self.pending_model:
                    say(self.console, self.pending_model)
                    self.pending_model = None
                if self.bar is not None:
                    self.bar.callback(iterate)
            case JobTile(tile=tile) if tile is not None and self.bar is not None:
                self.bar.tile(tile)
            case JobFinished(result=done) if done is not None and done.result is not None:
                self._end_bar()
                r = done.result
                say(
                    self.console,
                    f"wrote {done.output} ({r.pixels.shape[2]}x{r.pixels.shape[1]}) in "
                    f"{r.timings['total_s']:.1f} s; {format_losses(r.losses)}",
                )
            case JobSkipped(job=job, index=index, total=total):
                say(self.console, f"[{index + 1}/{total}] {job.label}: already finished, skipped")
            case JobFailed(job=job, index=index, total=total, error=error):
                self._end_bar()
                if self.batch:
                    say(self.console, f"[red][{index + 1}/{total}] {job.label}: failed:[/] {error}")
            case JobInterrupted():
                self._end_bar()


class SweepProgress:
    """Rich display of a sweep: cells done/total with ETA, and the running cell's steps and losses."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.progress = info_progress(console, enabled)
        self.cells = self.progress.add_task("cells", total=None, info="")
        self.steps = self.progress.add_task("cell", total=None, info="")
        self.run_start: float | None = None
        self.done = 0  # cells finished (run or found)
        self.finished_runs = 0  # cells computed in this call
        self.current = 0.0  # fraction of the running cell done
        self.to_run: int | None = None

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _eta(self) -> str:
        ran = self.finished_runs + self.current
        if self.run_start is None or ran <= 0 or self.to_run is None:
            return format_eta(None)
        return format_eta((time.perf_counter() - self.run_start) / ran * (self.to_run - ran))

    def callback(self, event: object) -> None:
        """Update the display from one job or :class:`~restyle.jobs.sweep.CellDone` event."""
        match event:
            case JobStarted(job=job, total=total):
                cell: Cell = job.tag
                if self.run_start is None:
                    self.run_start = time.perf_counter()
                    self.to_run = total - self.done
                self.progress.update(self.steps, description=_label(cell), total=None, completed=0, info="loading")
            case JobStep(total=total, iterate=it) if it is not None:
                self.current = it.step / it.total_steps
                self.progress.update(self.cells, total=total, completed=self.done + self.current, info=self._eta())
                self.progress.update(self.steps, total=it.total_steps, completed=it.step, info=format_losses(it.losses))
            case CellDone(total=total, record=rec, done=done) if rec is not None:
                self.done = done
                if rec.resumed:
                    say(self.console, f"[dim]already done: {_label(rec.cell)}[/]")
                else:
                    self.finished_runs, self.current = self.finished_runs + 1, 0.0
                    say(self.console, f"done {_label(rec.cell)}: {format_losses(rec.losses)} ({rec.time_s:.1f} s)")
                self.progress.update(self.cells, total=total, completed=done, info=self._eta())


def _label(cell: Cell) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.labels.items())


class ClusterDisplay:
    """Shows a run on several workers: the jobs (done/running/failed, ETA) and what each worker is doing.

    Fed by an executor with workers (:class:`~restyle.jobs.ray_executor.RayExecutor`): one line per
    finished, skipped, failed or retried job, a bar for the whole batch and one bar per worker with
    its node, job and steps.
    """

    def __init__(self, console: Console, batch: bool = True, enabled: bool = True) -> None:
        self.console = console
        self.batch = batch  # False: a single run, whose failure the caller prints (one line)
        self.progress = info_progress(console, enabled)
        self.jobs = self.progress.add_task("jobs", total=None, info="")
        self.workers: dict[str, TaskID] = {}  # worker name -> its bar
        self.nodes: dict[str, str] = {}  # worker name -> "node (device)"
        self.on_worker: dict[int, str] = {}  # job index -> worker name
        self.running: set[int] = set()
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.total: int | None = None
        self.start: float | None = None
        self.model_shown = False
        self.started = False  # the bars appear when a job is sent to a worker (not for skips and bad inputs)

    def __enter__(self) -> ClusterDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()
            self.started = False

    def _worker_bar(self, name: str) -> TaskID:
        if name not in self.workers:
            self.workers[name] = self.progress.add_task(name, total=None, info="starting")
        return self.workers[name]

    def _describe(self, name: str) -> str:
        return f"{name} {self.nodes[name]}" if name in self.nodes else name

    def _update_jobs(self) -> None:
        c = self.counts
        ended = sum(c.values())
        eta = None
        if self.start is not None and c["done"] and self.total is not None:
            eta = (time.perf_counter() - self.start) / c["done"] * (self.total - ended)
        info = f"{c['done']} done, {len(self.running)} running, {c['failed']} failed, {c['skipped']} skipped"
        self.progress.update(self.jobs, total=self.total, completed=ended, info=f"{info}  {format_eta(eta)}")

    def on_event(self, event: object) -> None:
        """Update the display from one job or worker event."""
        match event:
            case WorkerReady(worker=w):
                self.nodes[w.name] = f"@ {w.node} ({w.device}, pid {w.pid})"
                self.progress.update(self._worker_bar(w.name), description=self._describe(w.name))
            case JobAssigned(job=job, index=index, total=total, worker=name, attempt=attempt):
                if not self.started:
                    self.progress.start()
                    self.started = True
                self.on_worker[index] = name
                again = f" (attempt {attempt})" if attempt > 1 else ""
                info = f"[{index + 1}/{total}] {job.label}{again}"
                bar = self._worker_bar(name)
                self.progress.update(bar, description=self._describe(name), total=None, completed=0, info=info)
            case JobStarted(index=index, total=total):
                self.total = total
                self.start = self.start or time.perf_counter()
                self.running.add(index)
                self._update_jobs()
            case ModelLoaded(description=description) if not self.model_shown:
                self.model_shown = True
                say(self.console, description)
            case JobStep(job=job, index=index, total=total, iterate=it) if it is not None:
                name = self.on_worker.get(index)
                if name is not None:
                    info = f"[{index + 1}/{total}] {job.label}  {format_losses(it.losses)}"
                    self.progress.update(self._worker_bar(name), total=it.total_steps, completed=it.step, info=info)
                if it.note:
                    say(self.console, f"[yellow][{index + 1}/{total}] {it.note}")
            case WorkerLost(job=job, index=index, total=total, worker=name, error=error, retry=retry):
                self.running.discard(index)
                then = "running it again on another worker" if retry else "giving up on this job"
                say(
                    self.console,
                    f"[yellow]worker {name} lost during [{index + 1}/{total}] {job.label}[/]: {error}; {then}",
                )
                if name in self.workers:
                    self.progress.remove_task(self.workers.pop(name))
                self._update_jobs()
            case JobFinished(job=job, index=index, total=total, result=done) if done is not None:
                self._ended(index, "done")
                r = done.result
                size = f" ({r.pixels.shape[2]}x{r.pixels.shape[1]}) in {r.timings['total_s']:.1f} s" if r else ""
                where = f" on {self.on_worker[index]}" if index in self.on_worker else ""
                say(self.console, f"[{index + 1}/{total}] wrote {done.output}{size}{where}")
            case JobSkipped(job=job, index=index, total=total):
                self.total = total
                self._ended(index, "skipped")
                say(self.console, f"[{index + 1}/{total}] {job.label}: already finished, skipped")
            case JobFailed(job=job, index=index, total=total, error=error):
                self.total = total
                self._ended(index, "failed")
                if self.batch:
                    say(self.console, f"[red][{index + 1}/{total}] {job.label}: failed:[/] {error}")
            case JobInterrupted(index=index):
                self.running.discard(index)
                self._idle(index)
                self._update_jobs()

    def _ended(self, index: int, status: str) -> None:
        self.running.discard(index)
        self.counts[status] += 1
        self._idle(index)
        self._update_jobs()

    def _idle(self, index: int) -> None:
        name = self.on_worker.get(index)
        if name in self.workers:
            self.progress.update(self.workers[name], total=None, completed=0, info="idle")
