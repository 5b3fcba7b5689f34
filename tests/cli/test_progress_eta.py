"""The run's progress bar renders the engine's ETA (measured per-scale step costs), not a step count."""

from __future__ import annotations

import io

import torch
from rich.console import Console

from restyle.cli.progress import RunProgress, format_eta
from restyle.engine.events import Iterate
from restyle.engine.pyramid import ScaleSteps

PLAN = (ScaleSteps(64, 48, 4), ScaleSteps(128, 96, 4))


def event(step: int, scale: int, scale_step: int, elapsed: float) -> Iterate:
    w, h = PLAN[scale].width, PLAN[scale].height
    return Iterate(
        step, 8, scale, 2, scale_step, (w, h), {"total": 1.0}, elapsed, torch.zeros(1, 3, h, w), schedule=PLAN
    )


def test_the_bar_shows_the_time_left_priced_per_scale() -> None:
    out = io.StringIO()
    bar = RunProgress(Console(file=out, force_terminal=False, width=200), enabled=False)
    for i in range(1, 3):  # 2 s per coarse step
        bar.callback(event(i, 0, i, 2.0 * i))
    field = bar.progress.tasks[0].fields["eta"]
    # 2 coarse steps left at 2 s, 4 fine ones at 4x the pixels: 4 + 32 s (a step count would say 12 s)
    assert field == format_eta(36.0) == "eta 0:36"
    for i in range(3, 5):
        bar.callback(event(i, 0, i, 2.0 * i))
    bar.callback(event(5, 1, 1, 8.0 + 6.0))  # the first fine step took 6 s: measured beats scaled
    assert bar.progress.tasks[0].fields["eta"] == format_eta(3 * 6.0)
    bar.stop()
