"""Events: one type per thing that happens, and the listener protocol.

* :class:`Iterate` -- one optimiser step of a run (emitted by :meth:`Stylizer.run` to its callback);
* job events (emitted by an :class:`~restyle.engine.executor.Executor` to its listener): :class:`ModelLoaded`,
  :class:`JobStarted`, :class:`JobStep` (an Iterate of that job), :class:`JobSkipped`, :class:`JobFinished`,
  :class:`JobFailed`, :class:`JobInterrupted`;
* the sweep adds :class:`~restyle.engine.sweep.CellDone`.

Listeners dispatch on the type (``match event: case JobStep(iterate=it): ...``). The CLI's progress
display, the web app and a remote executor's driver all listen to these same events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from restyle.engine.eta import ScaleSteps
from restyle.io.image import tensor_to_pil

if TYPE_CHECKING:
    from restyle.engine.job import Job, JobResult


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


# ------------------------------------------------------------------------------------------ job events
@dataclass
class JobEvent:
    """Base of the events about one job of an executor's list."""

    job: Job
    index: int  #: 0-based position of the job in the list handed to the executor
    total: int  #: number of jobs in that list


@dataclass
class ModelLoaded(JobEvent):
    """Weights were loaded (once per model) for this job; ``description`` says which, and the device."""

    description: str = ""


@dataclass
class JobStarted(JobEvent):
    """The job begins computing: afresh, or continuing ``checkpoint`` from step ``resumed_from``."""

    resumed_from: int | None = None
    checkpoint: str = ""  #: the checkpoint file resumed, when resuming


@dataclass
class JobStep(JobEvent):
    """One optimiser step of the job."""

    iterate: Iterate | None = None


@dataclass
class JobTile(JobEvent):
    """A tile of the job's current (tiled, long) step is done."""

    tile: TileDone | None = None


@dataclass
class JobSkipped(JobEvent):
    """The job's output is already finished with the same settings and inputs."""

    reason: str = "already finished"


@dataclass
class JobFinished(JobEvent):
    """The job's image is written (``result.output``)."""

    result: JobResult | None = None


@dataclass
class JobFailed(JobEvent):
    """The job failed on a bad input or setting (``error``: one line); the others go on."""

    error: str = ""


@dataclass
class JobInterrupted(JobEvent):
    """The job was stopped: its partial image and checkpoint are written (``result``)."""

    result: JobResult | None = None


Listener = Callable[[Any], None]
