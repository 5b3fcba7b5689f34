"""The job system's events: one type per thing that happens to a job, and the listener protocol.

* job events (emitted by an :class:`~restyle.jobs.executor.Executor` to its listener): :class:`ModelLoaded`,
  :class:`JobStarted`, :class:`JobStep` (an engine :class:`~restyle.engine.events.Iterate` of that job),
  :class:`JobTile` (a :class:`~restyle.engine.events.TileDone`), :class:`JobSkipped`, :class:`JobFinished`,
  :class:`JobFailed`, :class:`JobInterrupted`;
* the sweep adds :class:`~restyle.jobs.sweep.CellDone`; the Ray executor ``WorkerReady``, ``JobAssigned``
  and ``WorkerLost``.

Listeners dispatch on the type (``match event: case JobStep(iterate=it): ...``). The CLI's progress
display, the web app and a remote executor's driver all listen to these same events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restyle.engine.events import Iterate, TileDone

if TYPE_CHECKING:
    from restyle.jobs.job import Job, JobResult


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
