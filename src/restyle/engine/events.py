"""The engine's events: what one run of the Stylizer reports while it optimises.

* :class:`Iterate` -- one optimiser step of a run (emitted by :meth:`Stylizer.run` to its callback);
* :class:`TileDone` -- a tile of a long tiled step (to the Stylizer's ``on_tile``).

The job system wraps them in its own events (:mod:`restyle.jobs.events`: ``JobStep``, ``JobTile``, ...);
the engine knows nothing of jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from restyle.engine.pyramid import ScaleSteps
from restyle.io.image import tensor_to_pil


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
    _present: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)
    tiles: int = 0  #: tiles each step of this scale is evaluated in (0: untiled)
    schedule: tuple[ScaleSteps, ...] = ()  #: every scale's size and planned steps (``Stylizer.schedule``; for an ETA)

    def pixels(self) -> torch.Tensor:
        """Current image as a detached ``(3, H, W)`` tensor in [0, 1] on the CPU (as the result will look)."""
        x = self._pixels.detach()
        if self._present is not None:
            x = self._present(x)
        return x[0].clamp(0, 1).float().cpu()

    def image(self) -> Image.Image:
        """Current iterate as an 8-bit RGB PIL image (computed only when asked)."""
        return tensor_to_pil(self.pixels())

    def checkpoint(self) -> Any:
        """A :class:`~restyle.engine.checkpoint.Checkpoint` of the run as it stands after this step.

        Only valid during the callback (the run continues afterwards).
        """
        if self._snapshot is None:
            raise RuntimeError("this event carries no checkpoint")
        return self._snapshot()


Callback = Callable[[Iterate], None]


@dataclass(frozen=True)
class TileDone:
    """Progress inside one tiled step (a print-size step takes minutes): ``tile`` of ``tiles`` done.

    A tiled step makes two passes over its tiles: ``phase`` "statistics" (no gradients: the whole
    image's Gram sums) and then "gradient".
    """

    step: int  #: the step in progress, 1-based
    scale: int
    scales: int
    size: tuple[int, int]  #: (width, height) of the scale
    tile: int  #: 1-based
    tiles: int
    phase: str


def combine(*callbacks: Callable[[Any], None] | None) -> Callable[[Any], None]:
    """One callback calling each of ``callbacks`` (None entries skipped) in order."""
    active = [c for c in callbacks if c is not None]

    def call(event: Any) -> None:
        for c in active:
            c(event)

    return call
