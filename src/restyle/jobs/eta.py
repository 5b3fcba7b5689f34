"""The remaining time of a run, from the measured cost of its steps at each scale.

A step's cost grows with the pixels of its scale (a coarse scale's step is ~4x cheaper than the
next one's), so counting steps misjudges a coarse-to-fine run: after the cheap first scale a
step-count ETA is far too short. :class:`RunETA` prices every remaining step instead:

* a scale whose steps have been measured costs the median of its measured step times (robust to
  the first step, which also computes the scale's targets, and to a busy machine's outliers);
* a scale not reached yet costs the latest measured scale's step scaled by the pixel ratio, and is
  refined as soon as its own steps are measured.

The steps still to run come from the run's :class:`ScaleSteps` (``Stylizer.schedule``). A scale that
stops early (a convergence tolerance) ends when the next scale's first step arrives, so the ETA is
then an upper bound.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from restyle.engine.pyramid import ScaleSteps


class RunETA:
    """Seconds left in a run, from the step times observed so far (a pure estimator: no clock of its own).

    Feed it every step's ``(scale, scale_step, elapsed)`` (as an :class:`~restyle.engine.events.Iterate`
    carries them) with :meth:`observe`; :meth:`remaining` is the estimate (None before any step).
    """

    def __init__(self, schedule: Sequence[ScaleSteps]) -> None:
        if not schedule:
            raise ValueError("RunETA needs a schedule of at least one scale")
        self.schedule = tuple(schedule)
        self.durations: dict[int, list[float]] = {}  #: measured step seconds per scale
        self._last: float | None = None  # elapsed at the previous observed step
        self._at: tuple[int, int] | None = None  # (scale, scale_step) of the latest step

    def observe(self, scale: int, scale_step: int, elapsed: float) -> None:
        """Record that step ``scale_step`` (1-based) of ``scale`` ended ``elapsed`` seconds into the run.

        The first observation of a resumed run (or one after a gap) has no previous step to time
        against unless it is the run's first step, whose time counts from the start (targets included).
        """
        first_of_run = self._last is None and scale == 0 and scale_step == 1
        if self._last is not None or first_of_run:
            took = elapsed - (self._last or 0.0)
            if took >= 0:
                self.durations.setdefault(scale, []).append(took)
        self._last = elapsed
        self._at = (scale, scale_step)

    def step_cost(self, scale: int) -> float | None:
        """Estimated seconds of one step at ``scale`` (None while nothing has been measured)."""
        if self.durations.get(scale):
            return statistics.median(self.durations[scale])
        measured = [s for s in self.durations if self.durations[s]]
        if not measured:
            return None
        # The nearest measured scale below (else above), scaled by pixels.
        below = [s for s in measured if s < scale]
        ref = max(below) if below else min(measured)
        return statistics.median(self.durations[ref]) * self.schedule[scale].pixels / self.schedule[ref].pixels

    def remaining(self) -> float | None:
        """Seconds until the last planned step (None before the first observation)."""
        if self._at is None:
            return None
        scale, done = self._at
        total = 0.0
        for s in range(scale, len(self.schedule)):
            left = self.schedule[s].steps - (done if s == scale else 0)
            if left <= 0:
                continue
            cost = self.step_cost(s)
            if cost is None:
                return None
            total += left * cost
        return total
