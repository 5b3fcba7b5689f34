"""Memory: the estimate against autograd's saved tensors, the up-front refusal, allocation failures mid-run."""

from __future__ import annotations

import time

import pytest
import torch

from helpers import make_image, saved_bytes
from restyle.config import RunConfig
from restyle.engine import memory, stylize
from restyle.engine.inputs import load_run_inputs
from restyle.engine.memory import OutOfMemory, activation_bytes, available_memory, is_allocation_failure
from restyle.engine.stylize import Stylizer
from restyle.features.vgg import VGGFeatures
from restyle.jobs.plan import TILED_COST, StepCost, plan_run
from restyle.losses.perceptual import PerceptualLoss

pytestmark = pytest.mark.usefixtures("one_thread")

#: What the CPU allocator says when it fails (the issue's own run).
CPU_OOM = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1610612736 bytes. Error code 12"


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the default layers, max pooling, TV on
        {
            "pooling": "avg",
            "content_layers": {"conv4_2": 1.0},
            "style_layers": {"relu1_1": 1.0, "pool3": 1.0},
            "tv_weight": 0.0,
        },
    ],
)
@pytest.mark.parametrize("size", [(96, 64), (160, 120), (250, 190)])
def test_saved_part_of_the_estimate_matches_autograd(tiny_weights, settings, size) -> None:
    config = RunConfig(scales=1, iterations=1, device="cpu", **settings)
    stylizer = Stylizer(config, weights=tiny_weights)
    w, h = size
    params = sum(p.numel() for p in stylizer.extractor.parameters())
    est = memory.estimate(config, "vgg16", list(stylizer.content_layers), list(stylizer.style_layers), [size], params)
    assert est.saved == pytest.approx(saved_bytes(stylizer, w, h), rel=0.10)
    assert est.total > est.saved  # plus the backward, targets, image buffers and the network copy


def test_the_estimate_grows_with_pixels_history_and_depth() -> None:
    base = RunConfig(iterations=100)

    def total(config: RunConfig, size=(512, 384), layers=("relu4_2", "relu5_1")) -> int:
        return memory.estimate(config, "vgg16", layers[:1], layers[1:], [size], 1).total

    assert 3.5 < total(base, (1024, 768)) / total(base) < 4.5  # ~ linear in pixels
    assert total(base.replace(lbfgs_history=100)) > total(base) > total(base.replace(optimizer="adam"))
    assert total(base.replace(iterations=1)) < total(base)  # L-BFGS remembers at most `iterations` steps
    assert total(base, layers=("relu2_2", "relu3_1")) < total(base)  # a shallower net keeps less
    assert activation_bytes("vgg19", ["relu5_1"], 64, 64)[0] > activation_bytes("vgg16", ["relu5_1"], 64, 64)[0]


def test_available_memory_names_its_limit() -> None:
    have, limit = available_memory(torch.device("cpu"))
    assert have > 0 and limit


def test_allocation_failures_are_recognised() -> None:
    assert is_allocation_failure(RuntimeError(CPU_OOM))
    assert is_allocation_failure(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_allocation_failure(MemoryError())
    assert not is_allocation_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_allocation_failure(ValueError("can't allocate memory"))


def test_a_run_that_does_not_fit_is_refused_before_any_compute(tiny_weights, monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda device: (50_000_000, "available RAM"))
    config = RunConfig(size=512, scales=1, iterations=2, style_weight=10, device="cpu")  # no probes at 512 px
    stylizer = Stylizer(config, weights=tiny_weights)
    steps = []
    t0 = time.perf_counter()
    with pytest.raises(
        OutOfMemory,
        match=r"needs about 0\.\d GB for a step at 512x384 px but only 0\.1 GB is free "
        r"\(available RAM\); use a smaller --size",
    ):
        stylizer.run(make_image(512, 384), make_image(64, 64, 2), steps.append)
    assert not steps and time.perf_counter() - t0 < 1.0
    monkeypatch.setenv(stylize.MEMORY_CHECK_ENV, "0")  # the way to overrule the estimate
    assert stylizer.run(make_image(512, 384), make_image(64, 64, 2)).timings["steps"] == 2


def failing_forward(monkeypatch, at_call: int, error: BaseException, module: type = PerceptualLoss) -> None:
    """Make ``module``'s ``at_call``-th forward (default: the loss's) raise ``error``, as the allocator does."""
    original = module.forward
    calls = [0]

    def forward(self, image):  # noqa: ANN001, ANN202
        calls[0] += 1
        if calls[0] == at_call:
            raise error
        return original(self, image)

    monkeypatch.setattr(module, "forward", forward)


@pytest.mark.parametrize("error", [RuntimeError(CPU_OOM), torch.OutOfMemoryError("CUDA out of memory.")])
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_an_allocation_failure_mid_run_keeps_the_last_good_iterate(tiny_weights, monkeypatch, error, optimizer) -> None:
    # a fixed style weight: the strength calibration's probes would be the forwards counted here
    config = RunConfig(size=48, scales=1, iterations=6, optimizer=optimizer, style_weight=10, device="cpu")
    content, style = make_image(48, 40, 1), make_image(40, 40, 2)
    reference = Stylizer(config, weights=tiny_weights).run(content, style)
    failing_forward(monkeypatch, 4, error)  # the 4th step fails
    stylizer = Stylizer(config, weights=tiny_weights)
    seen = []
    result = stylizer.run(content, style, lambda e: seen.append(e.pixels()))
    assert result.interrupted and result.out_of_memory.startswith("out of memory at step 4 (")
    assert result.checkpoint is not None and result.checkpoint.step == 3 and len(seen) == 3
    assert torch.equal(result.pixels, seen[-1])  # the image after step 3, not a broken one
    monkeypatch.undo()
    resumed = Stylizer(config, weights=tiny_weights).run(None, resume=result.checkpoint)
    assert torch.equal(resumed.pixels, reference.pixels)  # nothing lost


def test_out_of_memory_before_the_first_step_is_one_error(tiny_weights, monkeypatch) -> None:
    failing_forward(monkeypatch, 1, RuntimeError(CPU_OOM), VGGFeatures)  # computing the targets
    with pytest.raises(OutOfMemory, match="out of memory before the first step"):
        Stylizer(RunConfig(size=48, scales=1, iterations=2, device="cpu"), weights=tiny_weights).run(
            make_image(48, 40), make_image(40, 40, 2)
        )


def test_other_runtime_errors_are_not_swallowed(tiny_weights, monkeypatch) -> None:
    failing_forward(monkeypatch, 3, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        Stylizer(RunConfig(size=48, scales=1, iterations=4, device="cpu"), weights=tiny_weights).run(
            make_image(48, 40), make_image(40, 40, 2)
        )


def test_plan_lists_the_scales(tiny_weights) -> None:
    config = RunConfig(size=200, scales=2, iterations=3, coarse_factor=2.5, device="cpu")
    stylizer = Stylizer(config, weights=tiny_weights)
    plan = plan_run(stylizer, load_run_inputs(config, make_image(200, 150), make_image(64, 64, 2)))
    assert [s.size for s in plan.scales] == [(100, 75), (200, 150)] and [s.steps for s in plan.scales] == [
        8,
        3,
    ]  # x2.5 coarse
    assert plan.peak == plan.scales[-1].memory and plan.fits and plan.available > 0
    small, large = (s.seconds_per_step for s in plan.scales)
    # priced by a fixed part plus one per pixel: 4x the pixels costs more, but at most 4x
    assert small is not None and large is not None and small < large <= small * 4 * (1 + 1e-9) and plan.seconds > 0


def test_step_cost_is_the_line_through_the_probes() -> None:
    cost = StepCost.fit([(1000, 0.3), (4000, 0.6)])  # 0.2 s fixed + 1e-4 s per pixel
    assert cost.fixed == pytest.approx(0.2) and cost.per_pixel == pytest.approx(1e-4)
    assert cost.seconds(16000) == pytest.approx(1.8)  # by pixels alone from the small probe: 4.8 s
    assert cost.seconds(16000, tiles=4) == pytest.approx(4 * 0.2 + 1.6 * TILED_COST)
    noisy = StepCost.fit([(1000, 0.5), (4000, 0.6)])  # 0.467 s fixed: a line, kept
    assert noisy.seconds(4000) == pytest.approx(0.6)
    backwards = StepCost.fit([(1000, 0.3), (4000, 0.2)])  # noise made the large probe faster
    assert backwards.fixed == 0 and backwards.seconds(4000) == pytest.approx(0.2)
    assert StepCost.fit([(1000, 0.3)]).seconds(2000) == pytest.approx(0.6)
