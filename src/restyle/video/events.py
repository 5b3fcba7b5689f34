"""Events a video run adds to the job events of its frames (each frame is a Job: JobStarted, JobStep, ...).

The job events' ``index``/``total`` count the frames to stylise; these say what the run is about to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass
class VideoPlanned:
    """The frames are chosen: ``frames`` to stylise at ``size`` (of ``source_frames`` in the part), into ``work``."""

    frames: int
    source_frames: int
    size: tuple[int, int]
    fps: Fraction
    work: Path
    finished: int  #: frames already in ``work`` from an earlier run (found as the loop reaches them)
    first_steps: int = 0  #: optimiser steps of the first frame (the full config)
    later_steps: int = 0  #: optimiser steps of each later frame


@dataclass
class VideoEncoding:
    """Every frame is stylised; the clip is being written to ``output``."""

    output: Path
