"""bf16 runs: close to fp32 (stated tolerances), the same through tiles, resumable, recorded, estimated."""

from __future__ import annotations

import pytest
import torch

from helpers import make_image, saved_bytes
from restyle.config import RunConfig
from restyle.engine import memory
from restyle.engine.stylize import Stylizer
from restyle.engine.tiling import TiledObjective, layer_stride, plan_tiles
from restyle.features import precision

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"size": 48, "scales": 1, "device": "cpu"}
#: bf16 keeps 8 bits of mantissa (~3 significant digits) in the network; the losses are fp32 sums of
#: many such values, so they stay within 2 % of fp32's and the pixel gradient points the same way
#: (cosine 0.98 with these random weights, 0.99+ with the real VGG16: benchmarks/bench_step.py).
LOSS_RTOL = 0.02
MIN_GRAD_COSINE = 0.97


def loss_and_grad(stylizer: Stylizer, content: torch.Tensor, style: torch.Tensor, x: torch.Tensor):
    stylizer.loss.targets = stylizer.loss.compute_targets(content, [style])
    x = x.clone().requires_grad_(True)
    terms = stylizer.loss(x)
    terms["total"].backward()
    return {k: float(v.detach()) for k, v in terms.items()}, x.grad


def test_bf16_loss_and_gradient_are_close_to_fp32(tiny_weights) -> None:
    content, style = make_image(64, 48, 1)[None], make_image(48, 48, 2)[None]
    x = (0.7 * content + 0.3 * make_image(64, 48, 3)[None]).clamp(0, 1)
    fp32 = Stylizer(RunConfig(precision="fp32", **SMALL), weights=tiny_weights)
    bf16 = Stylizer(RunConfig(precision="bf16", **SMALL), weights=tiny_weights)
    assert bf16.extractor.net[0].weight.dtype == torch.bfloat16
    assert all(f.dtype == torch.float32 for f in bf16.extractor(x).values())  # the losses see fp32
    (v32, g32), (v16, g16) = loss_and_grad(fp32, content, style, x), loss_and_grad(bf16, content, style, x)
    for term in ("content", "style", "total"):
        assert v16[term] == pytest.approx(v32[term], rel=LOSS_RTOL)
    assert v16["tv"] == v32["tv"]  # no network involved
    assert g16.dtype == torch.float32
    assert float(torch.nn.functional.cosine_similarity(g16.flatten(), g32.flatten(), dim=0)) > MIN_GRAD_COSINE


def test_a_bf16_run_records_its_precision_and_lowers_the_loss(tiny_weights) -> None:
    content, style = make_image(48, 36, 1), make_image(48, 48, 2)
    result = Stylizer(RunConfig(precision="bf16", iterations=6, **SMALL), weights=tiny_weights).run(content, style)
    assert result.config.precision == "bf16"
    totals = [h["total"] for h in result.history]
    assert all(torch.isfinite(torch.tensor(totals))) and totals[-1] < totals[0]
    auto = Stylizer(RunConfig(iterations=1, **SMALL), weights=tiny_weights)
    assert auto.precision in ("fp32", "bf16")
    assert auto.run(content, style).config.precision == auto.precision  # never "auto" in a record


def test_tiled_bf16_matches_untiled_bf16(tiny_weights) -> None:
    shallow = {"content_layers": {"relu3_2": 1.0}, "style_layers": {"relu1_1": 1.0, "relu3_1": 1.0}}
    stylizer = Stylizer(RunConfig(device="cpu", precision="bf16", **shallow), weights=tiny_weights)
    h, w = 64, 96
    content = make_image(w, h, 1)[None]
    stylizer.loss.targets = stylizer.loss.compute_targets(content, [make_image(48, 48, 2)[None]])
    x = (content * 0.8 + 0.1 * make_image(w, h, 3)[None]).requires_grad_(True)
    reference = stylizer.loss(x)
    reference["total"].backward()
    expected, x.grad = x.grad.clone(), None
    align = max(layer_stride(n) for n in stylizer.extractor.layers)
    tiled = TiledObjective(stylizer.loss, plan_tiles(h, w, 32, 48, align), h, w)(x)
    for k, v in reference.items():  # the same bf16 convolutions on other extents: rounding differs a little
        assert float(tiled[k]) == pytest.approx(float(v.detach()), rel=1e-2)
    assert float((x.grad - expected).norm() / expected.norm()) < 2e-2


def test_a_resumed_bf16_run_equals_an_uninterrupted_one(tiny_weights) -> None:
    config = RunConfig(precision="bf16", iterations=4, size=48, scales=2, device="cpu")
    content, style = make_image(48, 36, 1), make_image(48, 48, 2)
    whole = Stylizer(config, weights=tiny_weights).run(content, style)
    st = Stylizer(config, weights=tiny_weights)
    stopped = st.run(content, style, lambda e: st.request_stop() if e.step == 3 else None)
    assert stopped.interrupted and stopped.checkpoint is not None
    resumed = Stylizer(config, weights=tiny_weights).run(None, resume=stopped.checkpoint)
    assert torch.equal(resumed.pixels, whole.pixels)


@pytest.mark.parametrize("size", [(96, 64), (160, 120)])
def test_the_bf16_estimate_matches_autograd_and_is_smaller(tiny_weights, size) -> None:
    config = RunConfig(scales=1, iterations=1, device="cpu", precision="bf16")
    stylizer = Stylizer(config, weights=tiny_weights)
    params = sum(p.numel() for p in stylizer.extractor.parameters())
    layers = list(stylizer.content_layers), list(stylizer.style_layers)
    est = memory.estimate(config, "vgg16", *layers, [size], params)
    assert est.saved == pytest.approx(saved_bytes(stylizer, *size), rel=0.10)
    fp32 = memory.estimate(config.replace(precision="fp32"), "vgg16", *layers, [size], params)
    # Smaller activations; the style layers' fp32 copies (for the Grams) give back part of the saving.
    assert est.activations < 0.6 * fp32.activations and est.losses > fp32.losses
    assert est.saved < fp32.saved and est.total < fp32.total


def test_a_resume_keeps_the_precision_auto_resolved_to_on_the_first_machine(tiny_weights, monkeypatch) -> None:
    """``auto`` is bf16 on one machine and fp32 on another (a Ray retry elsewhere): the resumed run stays bf16."""
    config = RunConfig(iterations=4, size=48, scales=2, device="cpu")  # precision auto
    content, style = make_image(48, 36, 1), make_image(48, 48, 2)
    monkeypatch.setenv(precision.AUTO_ENV, "bf16")  # the first machine has native bf16
    whole = Stylizer(config, weights=tiny_weights).run(content, style)
    st = Stylizer(config, weights=tiny_weights)
    stopped = st.run(content, style, lambda e: st.request_stop() if e.step == 3 else None)
    assert stopped.checkpoint is not None and stopped.checkpoint.precision == "bf16"
    monkeypatch.setenv(precision.AUTO_ENV, "fp32")  # the second one does not
    elsewhere = Stylizer(config, weights=tiny_weights)
    assert elsewhere.precision == "fp32"
    seen = []
    resumed = elsewhere.run(None, None, lambda e: seen.append(elsewhere.extractor.dtype), resume=stopped.checkpoint)
    assert seen and set(seen) == {torch.bfloat16}
    assert resumed.config.precision == "bf16" and torch.equal(resumed.pixels, whole.pixels)
    # the Stylizer serves later jobs in its own precision again
    assert elsewhere.precision == "fp32" and elsewhere.extractor.net[0].weight.dtype == torch.float32
    assert elsewhere.loss.extractor is elsewhere.extractor
