"""BoundedLBFGS: torch's L-BFGS bit for bit within the pixel bound (with torch's first step), bounded (with a
consistent memory) beyond it, and a first step of a memory that moves pixels by FIRST_STEP whatever the size."""

from __future__ import annotations

import pytest
import torch

import restyle.engine.stylize as stylize_module
from helpers import make_image
from restyle import RunConfig, Stylizer
from restyle.engine import memory, optim
from restyle.engine.optim import FIRST_STEP, MAX_STEP, BoundedLBFGS, make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")


def smooth(x: torch.Tensor) -> torch.Tensor:
    """A non-quadratic objective on [0, 1] pixels with its minimum near the start (steps stay below the bound)."""
    target = torch.linspace(0.2, 0.8, x.numel()).view_as(x)
    return ((x - target) ** 2).sum() + 10 * ((x - target) ** 4).sum()


def near_target(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    noise = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) - 0.5
    return torch.linspace(0.2, 0.8, noise.numel()).view(shape) + 0.3 * noise


def concave(scale: float):
    """Negative curvature at the start, as a nearly flat image under a Gram loss: L-BFGS rejects its first pair."""
    return lambda x: scale * torch.cos(3 * x).sum()


def run(opt_cls, f, x0: torch.Tensor, steps: int, **kw) -> tuple[list[torch.Tensor], torch.optim.Optimizer]:
    x = x0.clone().requires_grad_(True)
    opt = opt_cls([x], lr=1, history_size=10, tolerance_grad=-1, tolerance_change=-1, **kw)
    path = []
    for _ in range(steps):

        def closure():
            opt.zero_grad()
            loss = f(x)
            loss.backward()
            return loss

        opt.step(closure)
        path.append(x.detach().clone())
    return path, opt


def test_within_the_bound_it_is_torch_lbfgs_bit_for_bit():
    x0 = near_target((3, 8, 8), 0)
    ours, opt = run(BoundedLBFGS, smooth, x0, 15, first_step=None)
    theirs, ref = run(torch.optim.LBFGS, smooth, x0, 15, max_iter=1)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert opt.bounded == 0
    assert ours[-1].sub(x0).abs().max() > 0.1  # it did move


def test_a_runaway_step_is_bounded_and_the_memory_stays_consistent():
    x0 = torch.full((3, 8, 8), 0.1)
    theirs, _ = run(torch.optim.LBFGS, concave(1e8), x0, 2, max_iter=1)
    assert float((theirs[1] - theirs[0]).abs().max()) > 1e6  # torch: the fallback step lr*g of issue 14
    ours, opt = run(BoundedLBFGS, concave(1e8), x0, 6, first_step=None)
    steps = [float((b - a).abs().max()) for a, b in zip([x0, *ours], ours, strict=False)]
    assert max(steps) == pytest.approx(MAX_STEP, rel=1e-5)
    assert opt.bounded >= 1
    state = opt.state[opt._params[0]]
    taken = ours[-1] - ours[-2]  # the last step is d * t as stored: the next curvature pair is the step taken
    assert torch.allclose(taken.flatten(), state["d"] * state["t"], atol=1e-6)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e8])
def test_no_step_leaves_the_bound_whatever_the_loss_scale(scale):
    x0 = torch.full((3, 8, 8), 0.1)
    ours, _ = run(BoundedLBFGS, concave(scale), x0, 8, max_step=0.25)
    assert max(float((b - a).abs().max()) for a, b in zip([x0, *ours], ours, strict=False)) <= 0.25 + 1e-6


@pytest.mark.parametrize("side", [8, 64, 256])
def test_the_first_step_moves_pixels_by_first_step_whatever_the_size(side):
    """torch's first step is lr/|g|_1 long: it vanishes as the pixels grow. Ours moves the farthest pixel by
    FIRST_STEP along -g at every size, and the memory records the step taken."""
    x0 = near_target((3, side, side), 2)
    ours, opt = run(BoundedLBFGS, smooth, x0, 1)
    moved = ours[0] - x0
    assert float(moved.abs().max()) == pytest.approx(FIRST_STEP, rel=1e-4)
    x = x0.clone().requires_grad_(True)
    smooth(x).backward()
    assert torch.allclose(moved / float(moved.abs().max()), -x.grad / float(x.grad.abs().max()), atol=1e-5)
    state = opt.state[opt._params[0]]
    assert torch.allclose(moved.flatten(), state["d"] * state["t"], atol=1e-6)
    theirs, _ = run(torch.optim.LBFGS, smooth, x0, 1, max_iter=1)
    if side >= 64:
        assert float((theirs[0] - x0).abs().max()) < FIRST_STEP / 10  # torch's step is lost at these sizes
    # Later steps are L-BFGS on that memory; the lr scales the first step too.
    later, _ = run(BoundedLBFGS, smooth, x0, 10)
    assert float(smooth(later[-1])) < float(smooth(ours[0]))
    half, _ = run(BoundedLBFGS, smooth, x0, 1, first_step=FIRST_STEP / 2)
    assert float((half[0] - x0).abs().max()) == pytest.approx(FIRST_STEP / 2, rel=1e-4)


def test_state_dicts_are_torch_lbfgs_ones():
    x0 = near_target((3, 4, 4), 1)
    _, ref = run(torch.optim.LBFGS, smooth, x0, 3, max_iter=1)
    x = x0.clone().requires_grad_(True)
    ours = BoundedLBFGS([x], lr=1, history_size=10, tolerance_grad=-1, tolerance_change=-1)
    ours.load_state_dict(ref.state_dict())  # an old checkpoint resumes
    assert ours.state[x]["n_iter"] == 3
    torch.optim.LBFGS([x], max_iter=1).load_state_dict(ours.state_dict())


def test_bounded_lbfgs_takes_one_step_per_call():
    x = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="max_iter=1"):
        BoundedLBFGS([x], max_iter=20)
    with pytest.raises(ValueError, match="line search"):
        BoundedLBFGS([x], line_search_fn="strong_wolfe")
    with pytest.raises(ValueError, match="max_step"):
        BoundedLBFGS([x], max_step=0)
    with pytest.raises(ValueError, match="first_step"):
        BoundedLBFGS([x], max_step=0.5, first_step=0.6)


def test_make_optimizer_kinds():
    x = torch.zeros(1, 3, 4, 4, requires_grad=True)
    assert isinstance(make_optimizer(RunConfig(), x), BoundedLBFGS)
    assert isinstance(make_optimizer(RunConfig(optimizer="adam"), x), torch.optim.Adam)


def test_default_recipe_never_reaches_the_bound_on_real_weights(real_vgg16, monkeypatch):
    """restyle's default recipe never reaches the bound: the result equals that of the same L-BFGS without one
    (untiled runs take torch's first step; tiled ones take FIRST_STEP)."""
    content, style = make_image(64, 48, seed=1), make_image(64, 64, seed=4)
    config = RunConfig(model="vgg16", size=64, scales=1, iterations=25, style_weight=10.0)
    ours = Stylizer(config).run(content, style)

    def optimizer(**kw):
        def make(config, image, *_):
            return BoundedLBFGS(
                [image], lr=1.0, history_size=config.lbfgs_history, tolerance_grad=-1, tolerance_change=-1, **kw
            )

        return make

    monkeypatch.setattr(stylize_module, "make_optimizer", optimizer(max_step=1e9, first_step=None))
    unbounded = Stylizer(config).run(content, style)
    assert torch.equal(ours.pixels, unbounded.pixels)
    assert ours.history[-1]["total"] < 0.8 * ours.history[0]["total"]


def test_lbfgs_history_is_capped_at_print_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to 2048x1536 the configured history; beyond, at most LBFGS_HISTORY_BYTES of remembered steps."""
    config = RunConfig()
    assert optim.lbfgs_history(config, 3 * 2048 * 1536) == config.lbfgs_history
    capped = optim.lbfgs_history(config, 3 * 4096 * 3072)
    assert 3 <= capped < config.lbfgs_history
    assert 2 * capped * 3 * 4096 * 3072 * 4 <= optim.LBFGS_HISTORY_BYTES
    assert optim.lbfgs_history(config.replace(lbfgs_history=5), 3 * 4096 * 3072) == 5  # a smaller one is kept
    assert optim.lbfgs_history(config, 3 * 65536 * 65536) == 3  # never below 3
    # make_optimizer applies the cap to the image it is given; the memory estimate counts the same history.
    monkeypatch.setattr(optim, "LBFGS_HISTORY_BYTES", 2 * 7 * 3 * 8 * 8 * 4)
    opt = make_optimizer(config, torch.zeros(1, 3, 8, 8, requires_grad=True))
    assert opt.param_groups[0]["history_size"] == 7
    default = memory.estimate(config, "vgg16", ["relu4_2"], ["relu1_1"], [(8, 8)], 0)
    seven = memory.estimate(config.replace(lbfgs_history=7), "vgg16", ["relu4_2"], ["relu1_1"], [(8, 8)], 0)
    assert default.buffers == seven.buffers
