"""An exponential moving average of the iterate (crowsonkb's style-transfer-pytorch does the same).

Adam's iterate keeps jittering around the optimum by about ``lr`` per pixel, which shows as fine
noise; the average of the last ~1/(1 − decay) iterates sits in the middle of that jitter. It is
bias-corrected (the first steps are not pulled towards zero) and restarts at every scale of the
pyramid, where the image is resampled.
"""

from __future__ import annotations

import torch


class IterateAverage:
    """``value()`` = bias-corrected EMA of the tensors given to :meth:`update` (decay ``decay``)."""

    def __init__(self, like: torch.Tensor, decay: float) -> None:
        self.decay = decay
        self.sum = torch.zeros_like(like)
        self.weight = 0.0  #: 1 − decay^n: what the biased sum must be divided by

    def update(self, x: torch.Tensor) -> None:
        """Fold in the iterate after a step."""
        self.sum.mul_(self.decay).add_(x.detach(), alpha=1 - self.decay)
        self.weight = self.weight * self.decay + (1 - self.decay)

    def value(self) -> torch.Tensor:
        """The average so far (the tensor given to ``__init__`` before the first update is not in it)."""
        if self.weight == 0.0:
            raise ValueError("IterateAverage.value() before any update")
        return self.sum / self.weight

    def state_dict(self) -> dict[str, object]:
        """For checkpoints: the biased sum and its weight."""
        return {"sum": self.sum, "weight": self.weight, "decay": self.decay}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> IterateAverage:
        """The average a checkpoint's :meth:`state_dict` holds."""
        total = state["sum"]
        assert isinstance(total, torch.Tensor)
        avg = cls(total, float(state["decay"]))  # type: ignore[arg-type]
        avg.sum.copy_(total)
        avg.weight = float(state["weight"])  # type: ignore[arg-type]
        return avg
