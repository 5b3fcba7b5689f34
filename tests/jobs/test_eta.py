"""The ETA: per-scale step costs by pixel scaling, refined by measurement; the run's schedule reaches the events."""

from __future__ import annotations

import pytest

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine.pyramid import ScaleSteps
from restyle.engine.stylize import Stylizer
from restyle.jobs.eta import RunETA

PLAN = (ScaleSteps(128, 96, 10), ScaleSteps(256, 192, 10), ScaleSteps(512, 384, 10))


def test_nothing_known_before_the_first_step() -> None:
    eta = RunETA(PLAN)
    assert eta.remaining() is None and eta.step_cost(0) is None
    with pytest.raises(ValueError):
        RunETA(())


def test_unmeasured_scales_cost_the_pixel_ratio_of_the_measured_one() -> None:
    eta = RunETA(PLAN)
    for i in range(1, 5):  # 1 s per coarse step
        eta.observe(0, i, float(i))
    assert eta.step_cost(0) == 1.0
    assert eta.step_cost(1) == pytest.approx(4.0) and eta.step_cost(2) == pytest.approx(16.0)
    assert eta.remaining() == pytest.approx(6 * 1 + 10 * 4 + 10 * 16)
    # A step count would say 26/4 of the 4 s spent: 26 s, far short of the 206 s left.


def test_a_measured_scale_replaces_its_estimate_and_refines_the_next() -> None:
    eta = RunETA(PLAN)
    t = 0.0
    for i in range(1, 11):
        t += 1.0
        eta.observe(0, i, t)
    for i in range(1, 4):  # finer steps are cheaper per pixel than the coarse ones suggested (overheads)
        t += 3.0
        eta.observe(1, i, t)
    assert eta.step_cost(1) == 3.0
    assert eta.step_cost(2) == pytest.approx(12.0)  # scaled from the nearest measured scale below
    assert eta.remaining() == pytest.approx(7 * 3 + 10 * 12)


def test_the_median_ignores_an_outlier_step() -> None:
    eta = RunETA((ScaleSteps(100, 100, 20),))
    times = [5.0, 1.0, 1.0, 1.2, 0.9]  # the first step also computed the targets
    t = 0.0
    for i, d in enumerate(times, 1):
        t += d
        eta.observe(0, i, t)
    assert eta.step_cost(0) == 1.0
    assert eta.remaining() == pytest.approx(15.0)


def test_a_scale_stopped_early_is_finished() -> None:
    eta = RunETA(PLAN[:2])
    eta.observe(0, 1, 1.0)
    eta.observe(0, 2, 2.0)
    eta.observe(1, 1, 6.0)  # scale 0 stopped after 2 of its 10 steps
    assert eta.remaining() == pytest.approx(9 * 4.0)


def test_a_resumed_run_times_nothing_until_its_second_step() -> None:
    eta = RunETA(PLAN)
    eta.observe(1, 4, 100.0)  # elapsed includes the earlier session's time
    assert eta.remaining() is None
    eta.observe(1, 5, 104.0)
    assert eta.step_cost(1) == 4.0 and eta.step_cost(0) == pytest.approx(1.0)
    assert eta.remaining() == pytest.approx(5 * 4 + 10 * 16)
    eta.observe(2, 10, 300.0)
    assert eta.remaining() == 0.0


def test_the_run_emits_its_schedule_and_the_total_is_its_sum(tiny_weights) -> None:
    config = RunConfig(size=128, scales=2, iterations=2, coarse_factor=2.5, device="cpu", precision="fp32")
    stylizer = Stylizer(config, weights=tiny_weights)
    events = []
    stylizer.run(make_image(128, 96, 1), make_image(64, 64, 2), events.append)
    schedule = events[0].schedule
    assert config.scale_iterations(2) == [5, 2]  # --coarse-factor 2.5 at the coarser scale
    assert schedule == (ScaleSteps(64, 48, 5), ScaleSteps(128, 96, 2))
    assert all(e.schedule == schedule for e in events)
    assert [(p.width, p.height) for p in schedule] == [events[0].size, events[-1].size]
    assert sum(p.steps for p in schedule) == events[-1].total_steps == len(events)
    eta = RunETA(schedule)
    for e in events:
        eta.observe(e.scale, e.scale_step, e.elapsed)
    assert eta.remaining() == 0.0
