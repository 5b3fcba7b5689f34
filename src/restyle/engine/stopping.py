"""When a scale has converged: the ``--tol`` stopping rule.

The rule, exactly: let ``best_t`` be the lowest total loss of steps 1..t of a scale. After step
t (t > :data:`WINDOW`) the scale stops when

    (best_{t-WINDOW} − best_t) / best_{t-WINDOW} < tol

i.e. when the best loss improved by less than the fraction ``tol`` over the last ``WINDOW``
steps. ``tol = 0`` never stops (every scale runs its iterations). Using the best loss rather
than the last one makes the rule blind to a single noisy step (L-BFGS without a line search
sometimes steps uphill); a loss that does not fall at all (flat or rising) stops it too.

The decision depends only on the loss history of the scale, which checkpoints hold, so a
resumed run stops exactly where the uninterrupted one does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: Steps the best loss is compared across.
WINDOW = 10


class Plateau:
    """The stopping rule of one scale: feed it each step's total loss; :attr:`stopped` says when.

    >>> p = Plateau(tol=0.01, window=2)
    >>> [p.update(v) for v in (10.0, 5.0, 4.99, 4.98)]
    [False, False, False, True]
    """

    def __init__(self, tol: float, window: int = WINDOW, losses: Iterable[float] = ()) -> None:
        if not (tol >= 0 and window >= 1):
            raise ValueError(f"tol must be >= 0 and window >= 1, got {tol}, {window}")
        self.tol = tol
        self.window = window
        self.best: list[float] = []  #: best_t for t = 1, 2, ...
        self.stopped = False
        for v in losses:  # replay (a resumed scale)
            self.update(v)

    def update(self, loss: float) -> bool:
        """Record one step's loss; True when the scale should stop after it."""
        previous = self.best[-1] if self.best else math.inf
        self.best.append(min(previous, loss) if math.isfinite(loss) else previous)
        t = len(self.best)
        if self.tol > 0 and t > self.window:
            before, now = self.best[t - 1 - self.window], self.best[-1]
            if math.isfinite(before) and before > 0:
                self.stopped = self.stopped or (before - now) / before < self.tol
        return self.stopped
