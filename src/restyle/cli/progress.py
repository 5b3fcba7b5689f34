"""Rich progress display for runs: step, scale, loss terms and ETA."""

from __future__ import annotations

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


def format_losses(losses: dict[str, float]) -> str:
    """``content 1.2e+00  style 3.4e-01 ...`` for a loss dict."""
    return "  ".join(f"{k} {v:.3g}" for k, v in losses.items())


class RunProgress:
    """Context manager whose ``callback`` updates a rich progress bar from Iterate events."""

    def __init__(self, console: Console, label: str = "stylising", enabled: bool = True) -> None:
        self.console = console
        self.label = label
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, disable=not enabled, transient=False,
        )
        self.task = self.progress.add_task(label, total=None, losses="loading")

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def callback(self, event: Iterate) -> None:
        """Update the bar with one optimisation step."""
        desc = f"{self.label} {event.size[0]}x{event.size[1]} ({event.scale + 1}/{event.scales})"
        self.progress.update(self.task, total=event.total_steps, completed=event.step, description=desc,
                             losses=format_losses(event.losses))
        if event.note:
            self.console.print(f"[yellow]{event.note}")
