"""The --tol stopping rule on synthetic loss sequences, and a run whose scale stops early."""

from __future__ import annotations

import math

import pytest

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine.stopping import WINDOW, Plateau
from restyle.engine.stylize import Stylizer

pytestmark = pytest.mark.usefixtures("one_thread")


def first_stop(losses, tol, window=WINDOW) -> int | None:
    """1-based step after which the rule stops, or None."""
    p = Plateau(tol, window)
    for t, v in enumerate(losses, 1):
        if p.update(v):
            return t
    return None


def test_geometric_decay_never_stops_while_it_improves_faster_than_tol():
    losses = [100 * 0.9**t for t in range(200)]  # 1 - 0.9**10 = 65 % per window
    assert first_stop(losses, tol=0.01) is None


def test_stops_exactly_when_the_best_improves_less_than_tol_over_the_window():
    losses = [100.0 * 0.5**t for t in range(5)] + [6.25 - 0.001 * t for t in range(100)]
    t = first_stop(losses, tol=0.01, window=3)
    best = [min(losses[: i + 1]) for i in range(len(losses))]
    # the rule, by hand: first t > window with (best[t-1-w] - best[t-1]) / best[t-1-w] < tol
    expected = next(i + 1 for i in range(3, len(losses)) if (best[i - 3] - best[i]) / best[i - 3] < 0.01)
    assert t == expected and t > 5


def test_a_single_uphill_step_does_not_stop_it_the_best_loss_is_compared():
    losses = [100 * 0.8**t for t in range(30)]
    losses[15] = 1e6  # L-BFGS without a line search may step uphill once
    assert first_stop(losses, tol=0.05) is None


def test_flat_or_rising_loss_stops_after_one_window():
    assert first_stop([5.0] * 50, tol=1e-6) == WINDOW + 1
    assert first_stop([float(t) for t in range(1, 50)], tol=1e-6) == WINDOW + 1


def test_tol_zero_never_stops_and_non_finite_losses_are_ignored():
    assert first_stop([1.0] * 100, tol=0.0) is None
    assert first_stop([10.0, math.nan, math.inf] + [10.0 * 0.5**t for t in range(30)], tol=0.01) is None


def test_replaying_the_losses_gives_the_same_state():
    losses = [100 * 0.97**t for t in range(40)]
    live = Plateau(0.3)
    for v in losses:
        live.update(v)
    replayed = Plateau(0.3, losses=losses)
    assert replayed.best == live.best and replayed.stopped == live.stopped


def test_bad_arguments():
    with pytest.raises(ValueError):
        Plateau(-1.0)
    with pytest.raises(ValueError):
        Plateau(0.1, window=0)


def run(tiny_weights, **settings):
    config = RunConfig().replace(**{"size": 48, "scales": 1, "iterations": 30, "device": "cpu", **settings})
    events = []
    result = Stylizer(config, weights=tiny_weights).run(make_image(48, 40, 1), make_image(40, 40, 2), events.append)
    return result, events


def test_a_loose_tol_stops_a_scale_early(tiny_weights):
    result, events = run(tiny_weights, tol=0.5, style_weight=10)
    assert WINDOW < result.timings["steps"] < 30
    assert events[-1].step == events[-1].total_steps == result.timings["steps"]  # the bar ends full


def test_early_stop_in_a_pyramid_and_total_steps_follow(tiny_weights):
    config = RunConfig().replace(size=128, scales=2, iterations=30, coarse_factor=1, tol=0.5, style_weight=10)
    events = []
    Stylizer(config.replace(device="cpu"), weights=tiny_weights).run(
        make_image(128, 96, 1), make_image(64, 64, 2), events.append
    )
    coarse = [e for e in events if e.scale == 0]
    fine = [e for e in events if e.scale == 1]
    assert WINDOW < len(coarse) < 30 and fine  # stopped early, then the final scale ran
    assert events[0].total_steps == 60 and fine[0].total_steps == len(coarse) + 30
    assert events[-1].step == events[-1].total_steps


def test_tol_zero_runs_every_iteration(tiny_weights):
    result, _ = run(tiny_weights, tol=0, style_weight=10, iterations=14)
    assert result.timings["steps"] == 14
