"""--strength: the weight search on synthetic curves, the precedence rules, and a monotone mapping on tiny images."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine import stylize
from restyle.engine.quality import Judge
from restyle.engine.strength import (
    CONTENT_PER_STRENGTH,
    EXTRAPOLATION,
    FINISH_RATIO,
    MAX_PROBES,
    PROBE_STEPS,
    TOLERANCE,
    WeightSearch,
    calibrate,
    probe_distance,
    probe_steps,
    target_distance,
)
from restyle.engine.stylize import Stylizer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("slope", [0.3, 0.6, 1.2])
@pytest.mark.parametrize("true", [0.5, 10.0, 300.0, 3000.0])
def test_search_finds_the_weight_of_a_power_law(slope: float, true: float):
    """d(w) = goal·(w/true)^slope (capped at 1.5): the weight found gives the probes' goal within the tolerance."""
    goal = probe_distance(0.5)

    def probe(w: float) -> float:
        return min(1.5, goal * (w / true) ** slope)

    result = calibrate(0.5, 10.0, probe, (32, 32))
    assert len(result.probes) <= MAX_PROBES
    assert abs(probe(result.weight) / goal - 1) <= 2 * TOLERANCE, (result.probes, true)


def test_search_interpolates_once_bracketed_and_steps_down_after_non_finite():
    s = WeightSearch(0.3, 10.0)
    s.record(10.0, 0.2)
    s.record(100.0, 0.4)
    w = s.next_weight()
    assert 10 < w < 100  # log-log interpolation between the bracket
    t = WeightSearch(0.3, 10.0)
    t.record(10.0, math.nan)
    assert t.next_weight() < 10


def test_strength_zero_keeps_the_photo_without_probes():
    c = calibrate(0.0, 10.0, lambda w: pytest.fail("no probe needed"), (8, 8))
    assert c.weight == 0 and c.probes == ()
    assert target_distance(0.5) == pytest.approx(0.5 * CONTENT_PER_STRENGTH)
    assert probe_distance(0.5) == pytest.approx(target_distance(0.5) / FINISH_RATIO)


def test_precedence_an_explicit_style_weight_wins_presets_set_theirs():
    assert RunConfig().style_weight is None and RunConfig().strength == 0.5  # calibrated by default
    assert RunConfig(style_weight=100).style_weight == 100
    assert RunConfig().replace(style_weight="none").style_weight is None
    for name in ("gatys2016", "neural-style", "sbavon"):
        c = RunConfig().replace(preset=name)
        assert c.style_weight is not None and (c.tol, c.coarse_factor) == (0.0, 1.0)
    assert RunConfig().replace(preset="gatys2016").iterations == 200  # the schedule the paper's preset had
    assert RunConfig().replace(preset="gatys2016", tol=0.01).tol == 0.01


def test_schedule_spends_steps_at_coarse_scales():
    assert RunConfig().scale_iterations() == [94, 75, 60]
    assert RunConfig(iterations=30, coarse_factor=2.5).scale_iterations() == [188, 75, 30]
    assert RunConfig(iterations=10, coarse_factor=1).scale_iterations(3) == [10, 10, 10]
    assert RunConfig(iterations=3, coarse_factor=2).scale_iterations(2) == [6, 3]


def test_more_strength_paints_more(tiny_weights, monkeypatch):
    """Monotone: a higher strength gives a higher content distance and a lower style distance.

    With probes of the full PROBE_STEPS, as the default run has them (a run this short would get
    short probes from probe_steps' budget). Strengths up to 0.3: on this tiny random network the
    style distance cannot fall below ~0.24 (reached near strength 0.3, content distance 0.3), so
    beyond it both measures are flat and their order is noise.
    """
    monkeypatch.setattr(stylize, "probe_steps", lambda coarse: PROBE_STEPS)
    photo, painting = make_image(48, 40, 1), make_image(40, 40, 2)
    judge = Judge(tiny_weights, size=48)
    measured = []
    for strength in (0.1, 0.2, 0.3):
        config = RunConfig(size=48, scales=1, iterations=20, strength=strength, device="cpu")
        result = Stylizer(config, weights=tiny_weights).run(photo, painting)
        assert result.calibration is not None and result.style_weight == result.calibration["style_weight"]
        assert result.summary()["style_weight"] == result.style_weight
        d = judge.measure(result.pixels[None], photo[None], painting[None])
        measured.append((strength, result.style_weight, d.content, d.style))
    weights, contents, styles = zip(*[(w, c, s) for _, w, c, s in measured], strict=True)
    assert list(weights) == sorted(weights), measured
    assert list(contents) == sorted(contents), measured
    assert list(styles) == sorted(styles, reverse=True), measured


def test_an_explicit_style_weight_is_used_as_given(tiny_weights):
    config = RunConfig(size=32, scales=1, iterations=2, style_weight=3.0, device="cpu")
    result = Stylizer(config, weights=tiny_weights).run(make_image(32, 32, 1), make_image(32, 32, 2))
    assert result.calibration is None and result.style_weight == 3.0


def test_resume_keeps_the_calibrated_weight_and_the_image(tiny_weights):
    """The weight is checkpointed: a resumed run does not calibrate again and ends on the same image."""
    photo, painting = make_image(48, 40, 1), make_image(40, 40, 2)
    config = RunConfig(size=48, scales=1, iterations=8, device="cpu")
    reference = Stylizer(config, weights=tiny_weights).run(photo, painting)
    stylizer = Stylizer(config, weights=tiny_weights)

    def stop_at_3(event):
        if event.step == 3:
            stylizer.request_stop()

    first = stylizer.run(photo, painting, stop_at_3)
    assert first.interrupted and first.checkpoint is not None
    assert first.checkpoint.style_weight == reference.style_weight and first.checkpoint.calibration is not None
    resumed = Stylizer(config, weights=tiny_weights)
    resumed.calibrate = lambda *a: pytest.fail("a resumed run must not calibrate again")  # type: ignore[method-assign]
    result = resumed.run(None, resume=first.checkpoint)
    assert result.style_weight == reference.style_weight and result.calibration == reference.calibration
    assert torch.equal(result.pixels, reference.pixels)


def test_probes_are_full_length_at_every_default_size_and_cheap_on_tiny_runs():
    assert probe_steps(94) == PROBE_STEPS  # 256-4096 px defaults: the coarsest of three scales
    assert probe_steps(75) == PROBE_STEPS  # 128 and 192 px defaults: two scales (9-step probes saturated)
    for coarse in (1, 2, 8, 20, 40, 160, 1000):
        steps = probe_steps(coarse)
        assert 1 <= steps <= PROBE_STEPS
        assert steps <= max(coarse / 2, 1)


def test_a_saturating_probe_curve_stops_at_its_knee():
    """Probes that run out of steps flatten out below the target: the search stops and paints with the knee."""
    goal = probe_distance(0.5)
    plateau = 0.9 * goal

    def probe(w: float) -> float:  # rises, then saturates at 0.9 of the goal whatever the weight
        return plateau * (1 - math.exp(-w / 5))

    search = WeightSearch(goal, 2.0)
    while not search.done():
        w = search.next_weight()
        search.record(w, probe(w))
    assert search.saturated() and dict(search.probes).get(search.best()) is not None  # a probed weight
    knee = 5 * math.log(20)  # 95 % of the plateau
    assert probe(search.best()) >= 0.9 * plateau and search.best() <= 2 * knee
    assert max(w for w, _ in search.probes) <= 2 * knee * 2  # it did not keep escalating

    # not saturated, probes spent far short of the target: the estimate stays within EXTRAPOLATION of them
    short = WeightSearch(goal, 2.0, max_probes=2)
    short.record(2.0, goal / 40)
    short.record(4.0, goal / 20)  # slope 1: the secant points at 80
    assert short.done() and not short.saturated() and short.next_weight() > 40
    assert short.best() == pytest.approx(4.0 * EXTRAPOLATION)


def test_a_tiled_coarsest_scale_calibrates_at_the_tile_size(tiny_weights):
    """Probes run untiled: a one-scale print-size run must not probe its whole (tiled) image."""
    shallow = {"content_layers": {"relu3_2": 1.0}, "style_layers": {"relu1_1": 1.0, "relu3_1": 1.0}}
    config = RunConfig(size=128, scales=1, iterations=2, tile=48, device="cpu", **shallow)
    result = Stylizer(config, weights=tiny_weights).run(make_image(128, 96, 1), make_image(64, 64, 2))
    assert result.calibration is not None and max(result.calibration["size"]) == 48
    untiled = Stylizer(config.replace(tile=0), weights=tiny_weights).run(make_image(128, 96, 1), make_image(64, 64, 2))
    assert untiled.calibration is not None and max(untiled.calibration["size"]) == 128
