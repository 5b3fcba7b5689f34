"""--strength: the weight search on synthetic curves, the precedence rules, and a monotone mapping on tiny images."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import make_image, record_first_steps
from restyle.config import RunConfig
from restyle.engine import stylize
from restyle.engine.quality import JUDGE_SIZE, Judge
from restyle.engine.strength import (
    CONTENT_PER_STRENGTH,
    EXTRAPOLATION,
    FINISH_DECAY,
    FINISH_MEASURE_SIDE,
    FINISH_MIN_STEPS,
    FINISH_RANGE,
    FINISH_RATIO,
    FINISH_RESPONSE,
    FINISH_RISE,
    MAX_PROBES,
    PROBE_STEPS,
    TOLERANCE,
    WeightSearch,
    calibrate,
    finish_check_step,
    finish_correction,
    finish_scale,
    heading_distance,
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


def test_probes_take_torchs_first_step_at_any_size(tiny_weights, monkeypatch):
    """The calibration's constants were measured with torch's first L-BFGS step: the probes keep it even where
    the run's own scales take the pixel-sized one (above PIXEL_FIRST_STEP_SIDE, patched down to show it)."""
    monkeypatch.setattr(stylize, "PIXEL_FIRST_STEP_SIDE", 0)
    made = record_first_steps(monkeypatch)
    result = Stylizer(RunConfig(size=48, scales=1, iterations=3, device="cpu"), weights=tiny_weights).run(
        make_image(48, 40, 1), make_image(40, 40, 2)
    )
    seen = [first_step for _, first_step in made]
    probes = len(result.calibration["probes"])
    assert probes >= 2 and seen[:probes] == [None] * probes
    assert seen[probes:] and set(seen[probes:]) == {stylize.FIRST_STEP}


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


def test_the_correction_runs_at_the_scale_of_the_reports_size():
    """The largest scale not above 256 px, never the coarsest (its probes measured it) and never one above 256 px."""
    assert FINISH_MEASURE_SIDE == JUDGE_SIZE == 256
    assert finish_scale([64, 128, 256]) == 2 and finish_scale([128, 256, 512]) == 1
    assert finish_scale([64, 128]) == 1 and finish_scale([64, 96, 192, 384]) == 2
    assert finish_scale([256, 512, 1024]) is None and finish_scale([512, 1024, 2048]) is None
    assert finish_scale([256]) is None and finish_scale([64]) is None


def test_the_finish_correction_aims_the_final_scale_at_the_target():
    """At a third of the final scale: heading above the target -> less style, below -> more, near -> unchanged."""
    assert finish_check_step(60) == 20 and finish_check_step(FINISH_MIN_STEPS) == 3
    assert finish_check_step(FINISH_MIN_STEPS - 1) == 0  # too short a scale to predict: no correction
    heading = heading_distance(0.5, 20, 60)
    assert heading == pytest.approx(0.5 * 3**-FINISH_DECAY) and heading_distance(0.5, 60, 60) == 0.5
    target = 0.35
    less = finish_correction(0.6, 20, 60, target)
    more = finish_correction(0.25, 20, 60, target)
    assert less < 1 < more
    # the factor moves the heading onto the target along the measured response
    assert heading_distance(0.6, 20, 60) * less**FINISH_RESPONSE == pytest.approx(target)
    assert finish_correction(target / 3**-FINISH_DECAY, 20, 60, target) == 1.0  # already heading there
    assert finish_correction(50.0, 20, 60, target) == pytest.approx(1 / FINISH_RANGE)  # clamped
    assert finish_correction(1e-6, 20, 60, target) == pytest.approx(FINISH_RANGE)
    for bad in (math.inf, math.nan, 0.0):
        assert finish_correction(bad, 20, 60, target) == 1.0
    assert finish_correction(0.6, 20, 60, 0.0) == 1.0  # strength 0: nothing to aim at


#: A two-scale pyramid (64 then 128 px): the correction belongs to the final scale of a pyramid.
PYRAMID = RunConfig(size=128, scales=2, iterations=12, coarse_factor=1, strength=0.5, device="cpu")


@pytest.fixture(scope="module")
def pyramid_run(tiny_weights):
    """The photo, the painting, the run of PYRAMID on them and each step's event note."""
    photo, painting = make_image(128, 96, 1), make_image(64, 64, 2)
    notes: dict[int, str] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests that compare with it (module scope: one_thread is per test)
    try:
        result = Stylizer(PYRAMID, weights=tiny_weights).run(photo, painting, lambda e: notes.update({e.step: e.note}))
    finally:
        torch.set_num_threads(threads)
    return photo, painting, result, notes


def test_the_run_corrects_its_weight_once_at_a_third_of_the_final_scale(tiny_weights, pyramid_run, monkeypatch):
    """Recorded in the calibration, announced in that step's event, in the direction asked: a larger weight ends
    further from the photo than the uncorrected run, a smaller one nearer."""
    photo, painting, result, notes = pyramid_run
    finish = result.calibration["finish"]
    assert finish["step"] == 12 + 4  # the coarse scale's 12 steps, then a third of the final 12
    assert result.style_weight == pytest.approx(result.calibration["style_weight"] * finish["factor"])
    assert finish["style_weight"] == result.style_weight and finish["factor"] != 1
    assert finish["size"] == [128, 96]  # the final scale, the largest not larger than the report's 256 px
    assert "strength: content distance" in notes[finish["step"]] and "style weight x" in notes[finish["step"]]
    assert not any("strength: content" in n for s, n in notes.items() if s != finish["step"])

    monkeypatch.setattr(stylize, "finish_check_step", lambda steps: 0)
    plain = Stylizer(PYRAMID, weights=tiny_weights).run(photo, painting)
    assert "finish" not in plain.calibration and plain.style_weight == result.calibration["style_weight"]
    judge = Judge(tiny_weights, size=128)
    corrected = judge.measure(result.pixels[None], photo[None], painting[None]).content
    uncorrected = judge.measure(plain.pixels[None], photo[None], painting[None]).content
    assert (corrected > uncorrected) == (finish["factor"] > 1), (corrected, uncorrected, finish)


def test_a_resume_after_the_correction_ends_as_the_uninterrupted_run(tiny_weights, pyramid_run):
    """The corrected weight and the stopping rule's restart after it are checkpointed: same weight, same image."""
    photo, painting, reference, _ = pyramid_run
    stop = reference.calibration["finish"]["step"] + 2
    stylizer = Stylizer(PYRAMID, weights=tiny_weights)

    def stop_there(event):
        if event.step == stop:
            stylizer.request_stop()

    first = stylizer.run(photo, painting, stop_there)
    assert first.checkpoint is not None and "finish" in first.checkpoint.calibration
    result = Stylizer(PYRAMID, weights=tiny_weights).run(None, resume=first.checkpoint)
    assert result.calibration == reference.calibration and result.style_weight == reference.style_weight
    assert len(result.history) == len(reference.history)
    assert torch.equal(result.pixels, reference.pixels)


def test_a_correction_with_finer_scales_after_it_aims_lower(tiny_weights, monkeypatch):
    """The 256 px scale of a 512 px run: each finer scale after it adds back texture, so it aims FINISH_RISE lower."""
    seen = []
    real = stylize.finish_correction

    def spy(d, step, steps, aim):
        seen.append((step, steps, aim))
        return real(d, step, steps, aim)

    monkeypatch.setattr(stylize, "finish_scale", lambda sides: 0)  # the 64 px scale, the 128 px one after it
    monkeypatch.setattr(stylize, "finish_correction", spy)
    config = RunConfig(size=128, scales=2, iterations=9, coarse_factor=1, strength=0.5, device="cpu")
    result = Stylizer(config, weights=tiny_weights).run(make_image(128, 96, 1), make_image(64, 64, 2))
    assert seen == [(3, 9, pytest.approx(target_distance(0.5) / FINISH_RISE))]
    assert result.calibration["finish"]["step"] == 3 and result.calibration["finish"]["size"] == [64, 48]


def test_a_one_scale_run_is_not_corrected(tiny_weights):
    """Its probes measured its only scale from the photo: no correction (FINISH_DECAY is a final scale's)."""
    config = RunConfig(size=48, scales=1, iterations=12, device="cpu")
    result = Stylizer(config, weights=tiny_weights).run(make_image(48, 40, 1), make_image(40, 40, 2))
    assert result.calibration is not None and "finish" not in result.calibration
    assert result.style_weight == result.calibration["style_weight"]


def test_a_given_style_weight_is_never_corrected(tiny_weights):
    config = RunConfig(size=48, scales=1, iterations=12, style_weight=3.0, device="cpu")
    result = Stylizer(config, weights=tiny_weights).run(make_image(48, 40, 1), make_image(40, 40, 2))
    assert result.calibration is None and result.style_weight == 3.0
