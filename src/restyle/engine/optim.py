"""Optimisers over the image pixels.

L-BFGS in pixel units. torch's L-BFGS (stepped without a line search, as neural-style does)
has one step whose size has no scale of its own: while no curvature pair is in its memory
(the first pair after the probe step was rejected because ``yᵀs <= 1e-10``, e.g. the negative
curvature at a nearly flat start image) it steps ``lr·g`` — an identity inverse Hessian, in
units of pixel² per loss unit. With the loss in the 1e8 range of neural-style's raw sums and
the image in [0, 1] that step moved pixels by up to 1.7e3 (1700 times the whole pixel range),
the loss jumped to 6e21, and the curvature pair of that step set the inverse-Hessian scale to
2.5e-13: every later step was ~1e-8 px, below float32 resolution, so the run stood still on a
grey image. (The seeds optimise 0-255 pixels, which makes the same step 255² times smaller.)

:class:`BoundedLBFGS` is torch's L-BFGS with one addition: a step that would move any pixel by
more than ``max_step`` (in [0, 1] units; :data:`MAX_STEP`) is shortened along its own
direction, and the step length kept in the optimiser's state is shortened with it, so the next
curvature pair is the step actually taken; and the first step of a memory (of every scale, and after
a reset) is a gradient step that moves the pixel that moves most by :data:`FIRST_STEP`, where torch
would take one of length ``1/‖g‖₁`` that vanishes as the pixel count grows (the Stylizer takes it at
scales larger than 512 px, ``stylize.PIXEL_FIRST_STEP_SIDE``, tiled or not). Every other step within
the bound is torch's own (restyle's default recipe never reaches the bound). Quasi-Newton steps
are invariant to the loss scale anyway; the bound makes the one step that is not (and any step
at all) mean at most ``max_step`` of the pixel range, whatever the loss scale. The state dict is
torch's, so checkpoints are interchangeable.
"""

from __future__ import annotations

import torch

from restyle.config import RunConfig

DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}

#: Bytes L-BFGS's memory (two image-sized vectors per remembered step) may take at one scale. At print
#: size the configured history would dominate the run's memory (50 steps at 4096x3072 are 15 GB, more
#: than all of a tiled step's other parts together); capping it keeps memory bounded as the size grows.
#: 4 GB leaves every scale up to 2048x1536 at the default history of 50 (so those runs are unchanged)
#: and gives 4096x3072 a history of 13.
LBFGS_HISTORY_BYTES = 4_000_000_000


def lbfgs_history(config: RunConfig, pixels: int, itemsize: int = 4) -> int:
    """L-BFGS steps remembered for an image of ``pixels`` values: ``config.lbfgs_history``, capped by
    :data:`LBFGS_HISTORY_BYTES` (never below 3, where L-BFGS still beats plain gradient steps)."""
    return max(3, min(config.lbfgs_history, LBFGS_HISTORY_BYTES // (2 * pixels * itemsize)))


#: The most one L-BFGS step may move any pixel, in [0, 1] units (1 is the whole range). restyle's
#: default recipe moves pixels by at most ~0.25 per step (max 0.22 over 40 steps at 256 px, 0.3
#: at 64 px), healthy raw-scale runs (gatys2016) ~0.22; 0.5 leaves room for those and cuts a
#: runaway step (1.7e3 px in issue 14) to half the pixel range.
MAX_STEP = 0.5


#: How far the first step of an L-BFGS memory moves the pixel that moves most, in [0, 1] units. With no
#: curvature pair yet torch steps ``lr·min(1, 1/‖g‖₁)·g``: a length set by the gradient's 1-norm, which
#: grows with the pixel count, so that step barely moves the image (at 4096x3072 the loss went from
#: 5.918055 to 5.918053) and is lost at every scale and after every memory reset. A gradient step
#: scaled in pixel units means the same at every size; see :class:`BoundedLBFGS`.
FIRST_STEP = 0.1


class BoundedLBFGS(torch.optim.LBFGS):
    """torch's L-BFGS whose every step moves each pixel by at most ``max_step``, and whose first step
    (of a memory) moves the pixel that moves most by ``first_step`` times ``lr`` (None: torch's step).

    Only for ``max_iter=1`` without a line search (one step per :meth:`step` call), as
    :func:`make_optimizer` builds it. ``bounded`` counts the steps that were shortened.
    """

    def __init__(self, params, *, max_step: float = MAX_STEP, first_step: float | None = FIRST_STEP, **kwargs) -> None:
        if kwargs.get("max_iter", 1) != 1 or kwargs.get("line_search_fn") is not None:
            raise ValueError("BoundedLBFGS takes one step per call (max_iter=1) and no line search")
        super().__init__(params, max_iter=1, **{k: v for k, v in kwargs.items() if k != "max_iter"})
        if not max_step > 0:
            raise ValueError(f"max_step must be positive, got {max_step}")
        if first_step is not None and not 0 < first_step <= max_step:
            raise ValueError(f"first_step must be in (0, max_step={max_step}], got {first_step}")
        self.max_step = float(max_step)
        #: The first step's reach in pixel units, or None for torch's own ``lr·min(1, 1/‖g‖₁)``.
        self.first_step = first_step
        self.bounded = 0

    def _add_grad(self, step_size, update) -> None:  # type: ignore[override]
        """Apply torch's step ``step_size·update``, first rescaled (the only place torch moves the iterate).

        Choosing the length before the step is applied keeps the iterate exact (no undo of a runaway
        step whose size swamps float32) and needs no copy of the image.
        """
        (p,) = self._params
        t = float(step_size)
        reach = float(update.abs().max())  # pixels moved per unit of t
        if self.state[p]["n_iter"] == 1 and reach > 0 and self.first_step is not None:
            # torch's lr·min(1, 1/|g|_1): replaced by a length in pixel units
            t = self.first_step * float(self.param_groups[0]["lr"]) / reach
        if reach * t > self.max_step:  # NaN compares False: the caller's NaN guard sees it
            t = self.max_step / reach
            self.bounded += 1
        self._taken = t
        p.add_(update.view_as(p), alpha=t)

    @torch.no_grad()
    def step(self, closure):  # type: ignore[override]
        """One L-BFGS step (one closure evaluation): the first of a memory scaled to :data:`FIRST_STEP`
        (times ``lr``) at the pixel that moves most, any step shortened to ``max_step`` when needed."""
        (p,) = self._params
        self._taken: float | None = None
        loss = super().step(closure)
        if self._taken is not None:  # a step was taken (none when the gradient was already zero)
            self.state[p]["t"] = self._taken  # the next curvature pair uses s = d·t, the step actually taken
        return loss


def make_optimizer(
    config: RunConfig, image: torch.Tensor, first_step: float | None = FIRST_STEP
) -> torch.optim.Optimizer:
    """The optimiser named by ``config.optimizer`` over the single tensor ``image``.

    L-BFGS is stepped once per call (``max_iter=1``) so every iteration costs exactly one
    forward/backward and emits one event; its history lives in the optimiser state, so
    this is the same algorithm as one long call. Its history is capped at print size
    (:func:`lbfgs_history`). Its tolerances are disabled: runs stop
    after the requested iterations, as in neural-style. Its steps are bounded to
    :data:`MAX_STEP` per pixel (:class:`BoundedLBFGS`). Adam needs no bound: its steps are
    ``lr`` per pixel whatever the loss scale, and the run clamps its iterate to [0, 1].
    """
    lr = config.lr if config.lr is not None else DEFAULT_LR[config.optimizer]
    if config.optimizer == "lbfgs":
        return BoundedLBFGS(
            [image],
            lr=lr,
            history_size=lbfgs_history(config, image.numel(), image.element_size()),
            tolerance_grad=-1,
            tolerance_change=-1,
            max_step=MAX_STEP,
            first_step=first_step,
        )
    return torch.optim.Adam([image], lr=lr, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps)
