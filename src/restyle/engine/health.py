"""Optimiser health: what to do after each step, and warnings about a finished image.

Pure bookkeeping on numbers (no torch state), so the run loop stays a few calls:

* :class:`HealthMonitor` is fed the total loss of every step (:meth:`~HealthMonitor.check`)
  and answers with a :class:`Verdict`:

  - ``ok``;
  - ``nonfinite``: NaN/inf -- restore the last good iterate, reset the optimiser, smaller step;
  - ``exploded``: the loss jumped above :attr:`Thresholds.explode` times the best loss of this
    scale -- finite, but treated like a non-finite one;
  - ``stalled``: the loss has not changed (relative change <= :attr:`Thresholds.stall_rtol`)
    for :attr:`Thresholds.stall_steps` steps while far from converged -- reset the
    optimiser's memory (a poisoned L-BFGS history takes steps below float32 resolution).

* :func:`final_warnings` looks at the finished image and the loss history and returns one
  line per problem: a flat image (tiny spatial pixel spread) or a loss that never fell.

Thresholds (measured; see :class:`Thresholds`). The monitor keeps its reference losses per
pyramid scale (:meth:`~HealthMonitor.start_scale`): the loss of a raw-sum formula grows with the
image size, so a new scale is a new start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Thresholds:
    """The numbers the guard decides with, and why.

    ``explode = 10``: healthy runs rise at most 1.7x above their best loss before recovering
    (restyle's bounded L-BFGS on every preset, Adam presets 1.3x; torch's L-BFGS in the seeds'
    0-255 pixels, as neural-style runs it, 5.5x). The runaway steps of issue 14 were 3e16x
    (neural-style) and 29-160x (gatys2016 with the unbounded L-BFGS, pixels thrown far outside
    [0, 1]). 10x is above every healthy rise and far below a blow-up, and a loss 10x its best
    has thrown away most of the run's progress.

    ``stall_rtol = 1e-9``, ``stall_steps = 3``: a float32 loss that changes at all changes by
    at least one ulp (~6e-8 relative), so 1e-9 means "bit-identical"; three unchanged steps in
    a row never happened in healthy runs (issue 14's stalled run repeated its loss 36 times).

    ``converged = 1e-3``: a scale whose loss fell below 1/1000 of its start (or to 0) is
    converged, and an unchanged loss there is the float32 floor, not a stall. Real runs of
    40-200 steps fall 4-150x; only reachable-zero objectives (e.g. reconstructing the
    content from itself) fall that far.

    ``max_restores = 6``, ``max_resets = 3`` per scale: after that the guard stops acting
    (and says so once), so a pathological objective cannot loop for ever.

    ``flat_spread = 0.02``: the mean over channels of each channel's spatial standard
    deviation, in [0, 1] units. Photos and paintings in examples/ and shared/images measure
    0.13-0.31, restyle's outputs in docs/ 0.23-0.25; issue 14's grey result measures 0.0000
    (its overall std of 0.03 is only the difference between the channels of the mean pixel).

    ``fell = 0.99``: a scale of at least ``min_steps = 5`` steps whose best loss is not below
    99% of its first loss never fell; healthy scales fall far more within five steps.
    """

    explode: float = 10.0
    stall_rtol: float = 1e-9
    stall_steps: int = 3
    converged: float = 1e-3
    max_restores: int = 6
    max_resets: int = 3
    flat_spread: float = 0.02
    fell: float = 0.99
    min_steps: int = 5


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Verdict:
    """What the run should do after a step: ``kind`` is ok, nonfinite, exploded or stalled.

    ``note`` is one line for the user (empty when ok); ``restore`` says to put back the last
    good iterate and retry with a smaller step and a fresh optimiser; ``reset`` to keep the
    iterate and only start the optimiser afresh. Neither: carry on (the step is accepted).
    """

    kind: str = "ok"
    note: str = ""

    @property
    def restore(self) -> bool:
        return self.kind in ("nonfinite", "exploded")

    @property
    def reset(self) -> bool:
        return self.kind == "stalled"

    @property
    def accepted(self) -> bool:
        """True when the loss is fine: the point it was evaluated at is a good iterate."""
        return not self.restore


OK = Verdict()


class HealthMonitor:
    """Watches the total loss of each step of a run; see the module docstring.

    >>> m = HealthMonitor()
    >>> m.start_scale(0)
    >>> [m.check(v, i + 1).kind for i, v in enumerate([10.0, 8.0, 1e9])]
    ['ok', 'ok', 'exploded']
    """

    def __init__(self, thresholds: Thresholds = THRESHOLDS) -> None:
        self.t = thresholds
        self.start_scale(0)

    def start_scale(self, scale: int, previous: Iterable[float] = ()) -> None:
        """A new pyramid scale begins (or resumes, after the accepted losses ``previous``)."""
        self.scale = scale
        self.start: float | None = None
        self.best = math.inf
        self.last: float | None = None
        self.unchanged = 0
        self.restores = 0
        self.resets = 0
        self.silenced: set[str] = set()
        for value in previous:
            self._accept(value)

    def restored(self) -> None:
        """The run put back an earlier iterate: its next loss repeats an old one (not a stall)."""
        self.last = None
        self.unchanged = 0

    def check(self, loss: float, step: int, finite: bool = True) -> Verdict:
        """Verdict on ``loss``, the total loss evaluated at 1-based ``step``.

        ``finite=False`` says that some loss term (or the image) is not finite. A verdict whose
        ``restore`` is set assumes the caller restores the last good iterate (the point evaluated
        before this one): the repeated loss of that point does not count as a stall.
        """
        if not finite or not math.isfinite(loss):
            self.restored()
            return Verdict("nonfinite", f"non-finite loss at step {step}")
        t = self.t
        if self.best > 0 and math.isfinite(self.best) and loss > t.explode * self.best:
            if self.restores < t.max_restores:
                self.restores += 1
                self.restored()
                return Verdict(
                    "exploded",
                    f"loss jumped to {loss:.3g} at step {step}, {loss / self.best:.3g}x the "
                    f"best {self.best:.3g} so far",
                )
            verdict = self._once(
                "exploded",
                f"loss keeps jumping (to {loss:.3g} at step {step}); "
                f"guard off for this scale after {t.max_restores} restores",
            )
            self._accept(loss)
            return verdict
        previous = self.last
        self._accept(loss)
        if previous is not None and abs(loss - previous) <= t.stall_rtol * max(abs(loss), abs(previous)):
            self.unchanged += 1
        else:
            self.unchanged = 0
        converged = self.start is not None and (loss <= 0 or self.best <= t.converged * self.start)
        if self.unchanged >= t.stall_steps and not converged:
            self.unchanged = 0
            if self.resets < t.max_resets:
                self.resets += 1
                return Verdict(
                    "stalled",
                    f"loss unchanged at {loss:.3g} for {t.stall_steps} steps (step {step}): optimiser memory reset",
                )
            return self._once(
                "stalled", f"loss still unchanged at {loss:.3g} (step {step}) after {t.max_resets} optimiser resets"
            )
        return OK

    def _accept(self, loss: float) -> None:
        if self.start is None:
            self.start = loss
        self.best = min(self.best, loss)
        self.last = loss

    def _once(self, kind: str, note: str) -> Verdict:
        """A note (but no action) the first time the guard gives up on ``kind`` in this scale."""
        if kind in self.silenced:
            return OK
        self.silenced.add(kind)
        return Verdict("ok", note)


def pixel_spread(pixels: torch.Tensor) -> float:
    """Mean over channels of each channel's spatial standard deviation (``(C, H, W)`` or ``(N, C, H, W)``)."""
    p = pixels.detach().float()
    p = p.reshape(-1, *p.shape[-3:])[0] if p.dim() == 4 else p
    return float(p.reshape(p.shape[0], -1).std(dim=1, unbiased=False).mean())


def _scales(history: Sequence[Mapping[str, Any]] | Sequence[float]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for h in history:
        if isinstance(h, Mapping):
            out.setdefault(int(h.get("scale", 0)), []).append(float(h["total"]))
        else:
            out.setdefault(0, []).append(float(h))
    return out


def final_warnings(
    pixels: torch.Tensor,
    history: Sequence[Mapping[str, Any]] | Sequence[float],
    thresholds: Thresholds = THRESHOLDS,
    scales: int | None = None,
) -> list[str]:
    """One warning line per problem with a finished run (empty when it looks fine).

    ``pixels``: the result in [0, 1]; ``history``: the run's step records (dicts with ``total``
    and ``scale``, as :attr:`StylizeResult.history`) or plain total losses.
    """
    t = thresholds
    warnings: list[str] = []
    spread = pixel_spread(pixels.clamp(0, 1))
    if spread < t.flat_spread:
        warnings.append(
            f"warning: the result is flat (pixel spread {spread:.4f} < {t.flat_spread:g}): nothing was painted"
        )
    per_scale = _scales(history)
    n = scales if scales is not None else (max(per_scale) + 1 if per_scale else 1)
    for scale, losses in sorted(per_scale.items()):
        first = losses[0]
        if len(losses) < t.min_steps or not (math.isfinite(first) and first > 0):
            continue
        best = min(losses[1:])
        if best >= t.fell * first:
            where = f" at scale {scale + 1}/{n}" if n > 1 else ""
            warnings.append(
                f"warning: the loss never fell{where} in {len(losses)} steps "
                f"({first:.3g}, best {best:.3g}): the optimiser did not move"
            )
    return warnings


def join_notes(*notes: str) -> str:
    """Non-empty notes on separate lines (one event note may carry several)."""
    return "\n".join(n for n in notes if n)
