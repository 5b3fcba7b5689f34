"""Progress events emitted by the stylizer, and the callback protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image


@dataclass
class Iterate:
    """One optimisation step: where the run is, the loss terms, and access to the current image."""

    step: int  #: 1-based, counted over all scales
    total_steps: int
    scale: int  #: 0-based index of the pyramid scale
    scales: int
    scale_step: int  #: 1-based step within this scale
    size: tuple[int, int]  #: (width, height) at this scale
    losses: dict[str, float]  #: weighted terms ("content", "style", "tv") and "total"
    elapsed: float  #: seconds since the run started (target computation included)
    _pixels: torch.Tensor = field(repr=False)
    note: str = ""  #: set when something noteworthy happened (e.g. a step was retried)
    _snapshot: Callable[[], Any] | None = field(default=None, repr=False)

    def pixels(self) -> torch.Tensor:
        """Current iterate as a detached ``(3, H, W)`` tensor in [0, 1] on the CPU."""
        return self._pixels.detach()[0].clamp(0, 1).float().cpu()

    def image(self) -> Image.Image:
        """Current iterate as an 8-bit RGB PIL image (computed only when asked)."""
        from restyle.io.image import tensor_to_pil

        return tensor_to_pil(self.pixels())

    def checkpoint(self) -> Any:
        """A :class:`~restyle.engine.checkpoint.Checkpoint` of the run as it stands after this step.

        Only valid during the callback (the run continues afterwards).
        """
        if self._snapshot is None:
            raise RuntimeError("this event carries no checkpoint")
        return self._snapshot()

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from the pace so far (None before the first step)."""
        if self.step == 0:
            return None
        return self.elapsed / self.step * (self.total_steps - self.step)


Callback = Callable[[Iterate], None]


def combine(*callbacks: Callback | None) -> Callback:
    """One callback calling each of ``callbacks`` (None entries skipped) in order."""
    active = [c for c in callbacks if c is not None]

    def call(event: Iterate) -> None:
        for c in active:
            c(event)

    return call
