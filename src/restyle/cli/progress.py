"""Rich progress display for runs: step, scale, loss terms and ETA."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from restyle.engine.events import Iterate

if TYPE_CHECKING:
    from restyle.engine.batch import BatchEvent


def format_losses(losses: dict[str, float]) -> str:
    """``content 1.2e+00  style 3.4e-01 ...`` for a loss dict."""
    return "  ".join(f"{k} {v:.3g}" for k, v in losses.items())


class RunProgress:
    """Context manager whose ``callback`` updates a rich progress bar from Iterate events.

    The bar appears with the first event, so an error before the first step prints only itself.
    """

    def __init__(self, console: Console, label: str = "stylising", enabled: bool = True) -> None:
        self.console = console
        self.label = label
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, disable=not enabled, transient=False,
        )
        self.task = self.progress.add_task(label, total=None, losses="loading")
        self.started = False

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
        self.progress.update(self.task, total=event.total_steps, completed=event.step, description=desc,
                             losses=format_losses(event.losses))
        if event.note:
            self.console.print(f"[yellow]{event.note}")


class JobsDisplay:
    """Shows :class:`~restyle.engine.batch.BatchEvent` s: one progress bar per job, a line per skip/failure.

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

    def _say(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def on_event(self, event: BatchEvent) -> None:
        """Update the display from one batch event."""
        job = event.job
        head = f"[{event.index + 1}/{event.total}] {job.label}" if job is not None else ""
        if event.kind == "load":
            self.pending_model = event.message
        elif event.kind in ("start", "resume"):
            self._end_bar()
            if self.batch:
                self._say(f"[bold]{head}[/] → {job.output if job else ''}")
            if event.kind == "resume":
                self._say(f"resuming {event.message}")
            self.bar = RunProgress(self.console, "stylising", enabled=self.enabled)
        elif event.kind == "step" and event.iterate is not None:
            if self.pending_model:
                self._say(self.pending_model)
                self.pending_model = None
            if self.bar is not None:
                self.bar.callback(event.iterate)
        elif event.kind == "done" and event.outcome is not None:
            self._end_bar()
            r = event.outcome.result
            self._say(f"wrote {event.outcome.output} ({r.pixels.shape[2]}x{r.pixels.shape[1]}) in "
                      f"{r.timings['total_s']:.1f} s; {format_losses(r.losses)}")
        elif event.kind == "skip":
            self._say(f"{head}: already finished, skipped")
        elif event.kind == "fail":
            self._end_bar()
            if self.batch:
                self._say(f"[red]{head}: failed:[/] {event.message}")
        elif event.kind == "interrupted":
            self._end_bar()
