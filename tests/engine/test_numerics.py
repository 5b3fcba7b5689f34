"""Numerical safety: a NaN/inf in the loss or the image is rolled back and retried, never written as the result."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import make_image
from restyle import RestyleError, RunConfig, Stylizer
from restyle.engine.stylize import MAX_RETRIES
from restyle.errors import NumericalError

pytestmark = pytest.mark.usefixtures("one_thread")
# A fixed style weight (the default before --strength): these tests count and inject steps of the guard.
FAST = {
    "size": 32,
    "scales": 1,
    "iterations": 6,
    "style_layers": "relu1_1,relu2_1",
    "content_layers": "relu2_2",
    "style_weight": 10.0,
}


def stylizer(tiny_weights, **overrides) -> Stylizer:
    return Stylizer(RunConfig().replace(**{**FAST, **overrides}), weights=tiny_weights)


def poison_loss(st: Stylizer, bad_calls: set[int] | None) -> list[int]:
    """Make the loss NaN on the given 1-based forward calls (None: always); returns the call counter."""
    original = st.loss.forward
    calls = [0]

    def forward(image):
        calls[0] += 1
        out = original(image)
        if bad_calls is None or calls[0] in bad_calls:
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    st.loss.forward = forward  # nn.Module.__call__ looks up self.forward
    return calls


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_nan_loss_once_is_retried_and_reported(tiny_weights, optimizer):
    st = stylizer(tiny_weights, optimizer=optimizer)
    poison_loss(st, {3})
    events = []
    result = st.run(make_image(32, 32, 1), make_image(32, 32, 2), events.append)
    assert [e.step for e in events] == list(range(1, 7))  # every step still done
    assert torch.isfinite(result.pixels).all()
    assert all(math.isfinite(v) for v in result.losses.values())
    assert len(result.notes) == 1 and "non-finite loss at step 3" in result.notes[0]
    noted = [e for e in events if e.note]
    assert len(noted) == 1 and noted[0].step == 3 and noted[0].note == result.notes[0]
    assert "lr now" in result.notes[0]
    assert result.summary()["notes"] == result.notes


def test_nan_in_the_image_is_rolled_back(tiny_weights):
    """A callback (or a bad update) that leaves NaN in the iterate: the last good image is restored."""
    st = stylizer(tiny_weights, optimizer="adam")
    seen = []

    def corrupt(event):
        seen.append(event.step)
        if event.step == 2:
            event._pixels.data[..., 0, 0] = float("nan")

    result = st.run(make_image(32, 32, 1), make_image(32, 32, 2), corrupt)
    assert torch.isfinite(result.pixels).all()
    assert seen == list(range(1, 7))
    assert any("step 3" in n for n in result.notes)


def test_persistent_nan_is_a_clear_error(tiny_weights):
    st = stylizer(tiny_weights, optimizer="adam")
    calls = poison_loss(st, None)
    with pytest.raises(NumericalError, match=r"not finite at step 1 even after \d+ smaller steps") as info:
        st.run(make_image(32, 32, 1), make_image(32, 32, 2))
    assert calls[0] == MAX_RETRIES + 1
    assert isinstance(info.value, RestyleError) and isinstance(info.value, FloatingPointError)
    assert "\n" not in str(info.value)
