"""Optimisers over the image pixels."""

from __future__ import annotations

import torch

from restyle.config import RunConfig

DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}


def make_optimizer(config: RunConfig, image: torch.Tensor) -> torch.optim.Optimizer:
    """The optimiser named by ``config.optimizer`` over the single tensor ``image``.

    L-BFGS is stepped once per call (``max_iter=1``) so every iteration costs exactly one
    forward/backward and emits one event; its history lives in the optimiser state, so
    this is the same algorithm as one long call. Its tolerances are disabled: runs stop
    after the requested iterations, as in neural-style.
    """
    lr = config.lr if config.lr is not None else DEFAULT_LR[config.optimizer]
    if config.optimizer == "lbfgs":
        return torch.optim.LBFGS(
            [image],
            lr=lr,
            max_iter=1,
            history_size=config.lbfgs_history,
            tolerance_grad=-1,
            tolerance_change=-1,
        )
    return torch.optim.Adam([image], lr=lr, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps)
