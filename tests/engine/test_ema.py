"""--ema: the output is the bias-corrected moving average of the Adam iterate, per scale, and survives a resume."""

from __future__ import annotations

import pytest
import torch

from helpers import make_image
from restyle import RunConfig, Stylizer
from restyle.engine.checkpoint import load_checkpoint
from restyle.engine.ema import IterateAverage
from restyle.engine.stylize import RunState
from restyle.io.image import write_image
from restyle.jobs.executor import run_job

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = {
    "size": 32,
    "scales": 1,
    "iterations": 6,
    "optimizer": "adam",
    "style_layers": "relu1_1,relu2_1",
    "content_layers": "relu2_2",
}


def test_average_is_bias_corrected() -> None:
    avg = IterateAverage(torch.zeros(3), 0.9)
    with pytest.raises(ValueError):
        avg.value()
    for _ in range(3):
        avg.update(torch.full((3,), 2.0))
    assert torch.allclose(avg.value(), torch.full((3,), 2.0))  # a constant averages to itself, from step 1
    seq = [torch.tensor([float(i)]) for i in range(5)]
    avg = IterateAverage(seq[0], 0.5)
    for x in seq:
        avg.update(x)
    weights = [0.5**k for k in range(5)][::-1]  # the newest weighs most
    expected = sum(w * x for w, x in zip(weights, seq, strict=True)) / sum(weights)
    assert torch.allclose(avg.value(), expected)
    again = IterateAverage.from_state(avg.state_dict())
    assert torch.equal(again.value(), avg.value())


@pytest.fixture
def pair(tmp_path):
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    write_image(content, make_image(48, 40, 1))
    write_image(style, make_image(40, 40, 2))
    return content, style


def iterates(tiny_weights, pair, **overrides) -> tuple[list[tuple[int, torch.Tensor]], torch.Tensor]:
    """The raw iterates of a run without --ema (Iterate events: scale, image) and its result."""
    st = Stylizer(RunConfig().replace(**{**FAST, **overrides}), weights=tiny_weights)
    seen: list[tuple[int, torch.Tensor]] = []
    result = st.run(str(pair[0]), str(pair[1]), callback=lambda e: seen.append((e.scale, e._pixels.detach().clone())))
    return seen, result.pixels


def test_output_is_the_average_of_the_last_scale(tiny_weights, pair) -> None:
    raw, plain = iterates(tiny_weights, pair, scales=2, size=128)
    st = Stylizer(RunConfig().replace(**{**FAST, "scales": 2, "size": 128, "ema": 0.8}), weights=tiny_weights)
    shown: list[torch.Tensor] = []
    result = st.run(str(pair[0]), str(pair[1]), callback=lambda e: shown.append(e.pixels()))
    last = [x for scale, x in raw if scale == 1]  # the average restarts when the image is resampled
    first_of_last = len(raw) - len(last)
    assert first_of_last > 0 and len(shown) == len(raw)
    avg = IterateAverage(last[0], 0.8)
    for x in last:
        avg.update(x)
    assert torch.allclose(result.pixels, avg.value()[0].clamp(0, 1), atol=1e-6)
    assert not torch.allclose(result.pixels, plain, atol=1e-4)  # the average is not the last iterate
    assert torch.allclose(shown[-1], result.pixels, atol=1e-6)  # progress shows what will be written
    # The first step of each scale shows that step's iterate (an average of one).
    assert torch.allclose(shown[first_of_last], last[0][0].clamp(0, 1), atol=1e-6)


def test_lbfgs_ignores_ema(tiny_weights, pair) -> None:
    _, plain = iterates(tiny_weights, pair, optimizer="lbfgs")
    _, averaged = iterates(tiny_weights, pair, optimizer="lbfgs", ema=0.9)
    assert torch.equal(plain, averaged)


def test_resume_keeps_the_average(tiny_weights, pair, tmp_path) -> None:
    st = Stylizer(RunConfig().replace(**{**FAST, "ema": 0.7}), weights=tiny_weights)
    reference = run_job(st, tmp_path / "ref.png", content=pair[0], style=pair[1])

    def stop_at_3(event) -> None:
        if event.step == 3:
            st.request_stop()

    stopped = run_job(st, tmp_path / "out.png", content=pair[0], style=pair[1], callback=stop_at_3)
    checkpoint = load_checkpoint(stopped.checkpoint)
    assert checkpoint.average is not None and RunState.from_checkpoint(checkpoint, torch.device("cpu")).average
    resumed = run_job(st, tmp_path / "out.png", resume=checkpoint, resume_file=stopped.checkpoint)
    assert torch.equal(resumed.result.pixels, reference.result.pixels)
