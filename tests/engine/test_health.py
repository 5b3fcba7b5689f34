"""The optimiser health guard: verdicts on loss sequences, final warnings, and its integration in the run loop."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import make_image
from restyle import RunConfig, Stylizer
from restyle.engine.health import THRESHOLDS, HealthMonitor, Thresholds, final_warnings, join_notes, pixel_spread

pytestmark = pytest.mark.usefixtures("one_thread")


def verdicts(losses, monitor: HealthMonitor | None = None) -> list[str]:
    m = monitor or HealthMonitor()
    return [m.check(v, i + 1).kind for i, v in enumerate(losses)]


# ------------------------------------------------------------------ HealthMonitor
def test_a_falling_loss_is_ok():
    assert set(verdicts([100.0 * 0.9**i for i in range(50)])) == {"ok"}


def test_healthy_rises_are_ok():
    """Rises as large as the measured healthy ones (5.5x the best, then recovery) are left alone."""
    assert set(verdicts([1.2e8, 1.2e8, 1.1e8, 6.1e8, 1.0e8, 9e7, 4.9e8, 8e7])) == {"ok"}


def test_issue14_sequence_explodes_then_would_stall():
    """The numbers of issue 14: 1.2e8, 1.2e8, 6.1e21, then 1.2e8 for ever."""
    m = HealthMonitor()
    assert m.check(1.2e8, 1).kind == "ok"
    assert m.check(1.2e8, 2).kind == "ok"
    v = m.check(6.1e21, 3)
    assert v.kind == "exploded" and v.restore and not v.accepted
    assert "6.1e+21 at step 3" in v.note and "1.2e+08" in v.note
    # The restored image evaluates to 1.2e8 again (not a stall); after that, stall_steps unchanged steps are.
    kinds = [m.check(1.2e8, s).kind for s in range(4, 5 + THRESHOLDS.stall_steps)]
    assert kinds[:-1] == ["ok"] * THRESHOLDS.stall_steps and kinds[-1] == "stalled"


def test_explosion_is_relative_to_the_best_loss():
    m = HealthMonitor()
    assert verdicts([100.0, 10.0, 1.0, 9.0], m) == ["ok"] * 4
    assert m.check(10.5, 5).kind == "exploded"  # > 10x the best (1.0), though below the start


def test_non_finite_is_reported_and_not_accepted():
    m = HealthMonitor()
    m.check(5.0, 1)
    for bad in (math.nan, math.inf):
        v = m.check(bad, 2)
        assert v.kind == "nonfinite" and v.restore and v.note == "non-finite loss at step 2"
    v = m.check(5.0, 2, finite=False)  # e.g. the image went NaN after the update
    assert v.kind == "nonfinite"
    assert m.best == 5.0


def test_repeated_loss_after_a_restore_is_not_a_stall():
    m = HealthMonitor()
    m.check(10.0, 1)
    m.check(9.0, 2)
    assert m.check(1e6, 3).kind == "exploded"
    # The restored iterate evaluates to its old loss again, then the run moves on.
    assert verdicts([9.0, 9.0, 9.0], m) == ["ok", "ok", "ok"]
    assert m.check(9.0, 7).kind == "stalled"  # now three unchanged steps in a row


def test_stall_needs_identical_losses_for_several_steps():
    t = THRESHOLDS
    change = 1e-7  # one float32 ulp of relative change is progress, not a stall
    losses = [50.0, 40.0] + [40.0 * (1 - change) ** i for i in range(10)]
    assert "stalled" not in verdicts(losses)
    assert verdicts([50.0] + [40.0] * (t.stall_steps + 1))[-1] == "stalled"
    assert verdicts([50.0] + [40.0] * t.stall_steps)[-1] == "ok"


def test_converged_or_zero_loss_is_not_a_stall():
    assert set(verdicts([0.0] * 10)) == {"ok"}  # e.g. every weight zero
    assert set(verdicts([1000.0, 10.0, 0.5] + [0.5] * 10)) == {"ok"}  # fell > 1000x: the float32 floor


def test_stall_resets_are_limited_and_then_noted_once():
    m = HealthMonitor()
    v = [m.check(7.0, s) for s in range(1, 40)]
    stalled = [x for x in v if x.kind == "stalled"]
    assert len(stalled) == THRESHOLDS.max_resets
    assert all(x.reset and x.accepted for x in stalled)
    gave_up = [x for x in v if x.kind == "ok" and x.note]
    assert len(gave_up) == 1 and "after 3 optimiser resets" in gave_up[0].note


def test_explosion_restores_are_limited():
    m = HealthMonitor(Thresholds(max_restores=2))
    m.check(1.0, 1)
    kinds = [m.check(1e9, s) for s in range(2, 6)]
    assert [k.kind for k in kinds] == ["exploded", "exploded", "ok", "ok"]
    assert "guard off" in kinds[2].note and kinds[3].note == ""


def test_each_scale_starts_afresh_and_resume_replays():
    m = HealthMonitor()
    verdicts([100.0, 1.0], m)
    m.start_scale(1)  # a raw-sum loss is larger at the next, larger scale
    assert m.check(50.0, 3).kind == "ok"
    m.start_scale(1, previous=[50.0, 2.0])  # a resumed scale knows its best
    assert m.check(25.0, 5).kind == "exploded"


# ------------------------------------------------------------------ final warnings
def test_pixel_spread_ignores_colour():
    grey = torch.tensor([0.485, 0.458, 0.408]).view(3, 1, 1).expand(3, 32, 32).clone()
    assert grey.std() > 0.03  # the issue's "std 0.03" of a flat image
    assert pixel_spread(grey) == pytest.approx(0.0, abs=1e-7)
    assert pixel_spread(grey[None]) == pytest.approx(0.0, abs=1e-7)
    assert pixel_spread(make_image(64, 48)) > 0.15


def test_flat_result_warns():
    flat = torch.full((3, 16, 16), 0.5) + torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(0)) * 1e-3
    (w,) = final_warnings(flat, [10.0, 5.0, 2.0])
    assert w.startswith("warning: the result is flat") and "\n" not in w
    assert final_warnings(make_image(16, 16), [10.0, 5.0, 2.0]) == []


def test_loss_that_never_fell_warns_per_scale():
    history = [{"scale": 0, "total": v} for v in (10.0, 6.0, 5.0, 4.0, 3.0)]
    history += [{"scale": 1, "total": 8.0 - 1e-6 * i} for i in range(6)]
    (w,) = final_warnings(make_image(16, 16), history)
    assert w == "warning: the loss never fell at scale 2/2 in 6 steps (8, best 8): the optimiser did not move"
    assert final_warnings(make_image(16, 16), [5.0] * 4) == []  # too few steps to tell
    assert final_warnings(make_image(16, 16), [0.0] * 10) == []  # nothing to reduce
    assert len(final_warnings(torch.full((3, 8, 8), 0.4), [1.2e8] * 40)) == 2  # issue 14: both


def test_join_notes():
    assert join_notes("", "a", "", "b") == "a\nb"
    assert join_notes("", "") == ""


# ------------------------------------------------------------------ integration in Stylizer.run
# A fixed style weight (the default before --strength): these tests count and inject steps of the guard.
FAST = {
    "size": 32,
    "scales": 1,
    "iterations": 8,
    "style_layers": "relu1_1,relu2_1",
    "content_layers": "relu2_2",
    "style_weight": 10.0,
}


def stylizer(tiny_weights, **overrides) -> Stylizer:
    return Stylizer(RunConfig().replace(**{**FAST, **overrides}), weights=tiny_weights)


def patch_loss(st: Stylizer, factor_on_call: dict[int, float]) -> list[torch.Tensor]:
    """Multiply every loss term by ``factor`` on the given 1-based forward calls; returns the images evaluated."""
    original = st.loss.forward
    seen: list[torch.Tensor] = []

    def forward(image):
        seen.append(image.detach().clone())
        out = original(image)
        f = factor_on_call.get(len(seen))
        return {k: v * f for k, v in out.items()} if f is not None else out

    st.loss.forward = forward
    return seen


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_exploded_loss_restores_the_last_good_image_and_notes_it(tiny_weights, optimizer):
    st = stylizer(tiny_weights, optimizer=optimizer)
    seen = patch_loss(st, {4: 1e12})  # the 4th evaluation "explodes" (finite)
    events = []
    result = st.run(make_image(32, 32, 1), make_image(32, 32, 2), events.append)
    assert [e.step for e in events] == list(range(1, 9))  # every step still done
    assert len(seen) == 8 + 1 + 1  # the steps, the retry from the restored image, the final image
    assert torch.equal(seen[4], seen[2])  # the retry starts from the image evaluated at step 3
    (note,) = result.notes
    assert note.startswith("loss jumped to") and "at step 4" in note and "restored last good image" in note
    assert "lr now" in note
    noted = [e for e in events if e.note]
    assert len(noted) == 1 and noted[0].step == 4 and noted[0].note == note
    assert max(h["total"] for h in result.history) < 1e6  # the exploded value is not in the history
    assert result.summary()["notes"] == result.notes


def test_stalled_run_resets_the_optimiser(tiny_weights, monkeypatch):
    """A loss that stops changing (the poisoned L-BFGS of issue 14) resets the optimiser's memory."""
    st = stylizer(tiny_weights, iterations=10)
    original = st.loss.forward
    frozen: list[dict[str, torch.Tensor]] = []

    def forward(image):  # from the 3rd evaluation on, the loss of the 2nd whatever the image
        out = original(image)
        if len(frozen) < 2:
            frozen.append({k: v.detach() for k, v in out.items()})
            return out
        return {k: frozen[1][k] + v * 0 for k, v in out.items()}

    st.loss.forward = forward
    import restyle.engine.stylize as stylize_module

    made = []
    real = stylize_module.make_optimizer

    def counting(config, image, *rest):
        made.append(config.lr)
        return real(config, image, *rest)

    monkeypatch.setattr(stylize_module, "make_optimizer", counting)
    events = []
    result = st.run(make_image(32, 32, 1), make_image(32, 32, 2), events.append)
    stalls = [n for n in result.notes if n.startswith("loss unchanged")]
    assert stalls and "optimiser memory reset" in stalls[0]
    assert len(made) == 1 + len(stalls)  # one fresh optimiser per stall, same lr
    assert set(made) == {1.0}  # c.replace(lr=lr): the default L-BFGS lr, not halved
    assert any(e.note.startswith("loss unchanged") for e in events)


def test_flat_result_warns_on_the_console_and_in_the_metadata(tiny_weights):
    """A run that cannot paint (no weights at all, flat start) ends with a warning on the last event."""
    st = stylizer(
        tiny_weights,
        content_weight=0,
        style_weight=0,
        tv_weight=1.0,
        init="noise",
        noise="normal:0.001",
        optimizer="adam",
        lr=1e-9,
        iterations=6,
    )
    events = []
    result = st.run(make_image(32, 32, 1), make_image(32, 32, 2), events.append)
    flat = [n for n in result.notes if n.startswith("warning: the result is flat")]
    assert len(flat) == 1
    assert flat[0] in events[-1].note and not any("warning:" in e.note for e in events[:-1])
    assert any("never fell" in n for n in result.notes)


def test_a_healthy_run_has_no_notes(tiny_weights):
    result = stylizer(tiny_weights, iterations=10).run(make_image(32, 32, 1), make_image(32, 32, 2))
    assert result.notes == []
