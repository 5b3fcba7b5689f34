"""``--strength``: the content/style balance as a result, not as a raw weight.

The same style weight keeps one photo almost intact and erases another (a night scene's dark
areas give small content features, so style wins there). So instead of a weight, the user asks
for a *content distance* (see :mod:`restyle.engine.quality`: 0 is the photo, 1 is as far from it
as the painting is): strength ``s`` asks for :func:`target_distance` ``= CONTENT_PER_STRENGTH·s`` in
the finished image.

The calibration runs at the cheap coarsest scale of the pyramid: each probe is a short L-BFGS
run (:data:`PROBE_STEPS` steps from the photo) with one style weight, measured on the run's own
network features. The distance grows with the weight about like a power of it, so the search
works on logarithms: a first step with the slope :data:`FIRST_SLOPE`, then the secant through
the two probes closest to the target (regula falsi once the target is bracketed), at most
:data:`MAX_PROBES` probes, stopping within :data:`TOLERANCE` (relative). The finished pyramid ends
nearer the photo than a short probe with the same weight (its final scale pulls the photo's detail
back), by a factor that differs between pairs (0.41-0.88; the median is :data:`FINISH_RATIO`),
so the probes aim at ``target / FINISH_RATIO``
(:func:`probe_distance`). Probes that all fall short and flatten out (:data:`SATURATION_SLOPE`)
stop the search at the curve's knee, and an answer no probe measured stays within
:data:`EXTRAPOLATION` of the probes: a weight past what was measured erases photos. The run then
paints its pyramid with the weight found. :class:`WeightSearch` is the search alone (pure).

What the coarse probes cannot see is how far the finer scales pull the photo back: that depends
on the painting (finished / coarse-scale distance 0.40 for Composition VII's fine lines, 0.92
for the Scream's large bands). So the run closes the loop where the measure is taken: at the
scale of the quality report's size (:func:`finish_scale`: the 256 px scale of a 256 or 512 px
pyramid), after a third of its steps (:func:`finish_check_step`), it measures the iterate's
content distance on its own network and corrects the style weight once by
:func:`finish_correction` (the distance still falls along the rest of the scale like a power of the
step, :data:`FINISH_DECAY`, and answers a weight change there by :data:`FINISH_RESPONSE`; a finer
scale after it raises the 256 px measure by about :data:`FINISH_RISE`; all measured on the real
VGG16, see the constants).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from restyle.engine.quality import JUDGE_SIZE

#: The weight of a run that calibrates nothing (no content or no style layers): restyle's fixed
#: default before ``--strength``.
DEFAULT_STYLE_WEIGHT = 10.0
#: The style weight the search starts from (the middle of the weights it found on the 30 pairs).
START_WEIGHT = 2.0
#: Content distance of the finished image asked for per unit of strength: 0.5 aims at 0.35.
CONTENT_PER_STRENGTH = 0.7
#: Content distance of the finished pyramid / that of a probe with the same weight, on the default
#: 256 px pyramid (94 / 75 / 60 steps): tubingen x starry_night 0.69, coffee x composition_vii 0.41,
#: chelsea x udnie 0.88, rocket x the_scream 0.70 (benchmarks/results/schedules_256.jsonl; the
#: median). The final scale's steps pull the image back towards the photo's detail, so a probe's 20
#: coarse steps overshoot what the finished pyramid settles at.
FINISH_RATIO = 0.70
#: L-BFGS steps of one probe at the coarsest scale.
PROBE_STEPS = 20
#: Probes at most (each PROBE_STEPS steps at the coarsest scale).
MAX_PROBES = 4


def probe_steps(coarse_steps: int) -> int:
    """Steps of each probe for a run whose coarsest scale runs ``coarse_steps``: :data:`PROBE_STEPS`, but
    never more than half that scale's own steps (at least 1), so calibrating a tiny run stays cheap.

    Every default size gets the full 20 (its coarsest scale runs 75 or 94 steps). Shorter probes
    saturate: at 9 steps chelsea x the_scream's distance rose only 0.35 -> 0.39 while the weight
    went 13 -> 36 (the probe ran out of steps, not of weight), so the search settled on a weight
    3.5x the one 20-step probes find (10.3), and the finished image was nearly erased.
    """
    return max(1, min(PROBE_STEPS, coarse_steps // 2))


#: Stop searching once a probe's distance is within this fraction of the target.
TOLERANCE = 0.05
#: Assumed d(log distance)/d(log weight) before two probes measure it.
FIRST_SLOPE = 0.5
#: The weight stays within this factor of the starting weight either way.
RANGE = 1e4
#: Below this d(log distance)/d(log weight) between the two strongest probes, all short of the target,
#: the probes have saturated: they ran out of steps, not of weight, and a larger weight only erases more
#: of the photo in the finished run (which has more steps). The search stops there. 20-step probes
#: on the real VGG16 rise with slope 0.5-0.6; 9-step ones that saturated had 0.17 then 0.09.
SATURATION_SLOPE = 0.2
#: When no probe hit and none bracketed the target, the answer stays within this factor of the
#: furthest probe: an unmeasured extrapolation along a saturating curve can run far past any sane weight.
EXTRAPOLATION = 2.0


#: Over a scale that starts from the upsampled coarser result, the content distance of the iterate falls like
#: ``step ** -FINISH_DECAY``: final scale of the default 256 px pyramid, distance at step 60 / at step 20 was
#: 0.75-0.86 on 7 pairs (median 0.815 = 3 ** -0.186), at step 60 / step 30 0.86-0.91 (the power law says 0.88),
#: step 60 / step 40 0.92-0.95 (0.93); the 256 px scale of the 512 px pyramid, step 70 / step 20: 0.75-0.86 on 3
#: pairs (0.79), step 70 / step 30: 0.85-0.91 (0.85).
FINISH_DECAY = 0.186
#: d log(finished distance) / d log(style weight changed at a third of the final scale): 0.30-0.40
#: (tubingen x starry_night x0.5 / x2, chelsea x the_scream x0.5 / x0.25, coffee x composition_vii x2 / x4;
#: median 0.33), L-BFGS going on with its memory.
FINISH_RESPONSE = 0.33
#: The correction changes the weight by at most this factor either way (the finished distance by ~2x).
FINISH_RANGE = 8.0
#: Scales shorter than this are not corrected (the decay above was measured over 20-75 steps).
FINISH_MIN_STEPS = 9
#: The scale corrected is the largest one not larger than this (px, longest side): the quality report's size,
#: so strength S asks for the same content distance at every output size.
FINISH_MEASURE_SIDE = JUDGE_SIZE
#: What one finer scale after the corrected one does to its distance (measured at the corrected scale's size): the
#: 512 px default, without a correction, at the end / at the end of its 256 px scale: 1.24, 1.08, 1.07 (tubingen x
#: starry_night, coffee x composition_vii, chelsea x the_scream); with a correction aiming 1.1 lower, finished /
#: aimed at 1.03-1.5 on 6 pairs (median 1.31: the weakened weight's 512 px scale adds back more texture). The
#: correction aims that much lower per finer scale.
FINISH_RISE = 1.3


def finish_scale(sides: Sequence[int]) -> int | None:
    """Index of the pyramid scale (longest ``sides``, coarse to fine) the strength correction runs at: the largest
    not larger than :data:`FINISH_MEASURE_SIDE`; None when that is the coarsest scale (there the probes measured,
    from the photo) or every scale is larger.

    >>> finish_scale([64, 128, 256]), finish_scale([128, 256, 512]), finish_scale([256, 512, 1024]), finish_scale([512])
    (2, 1, None, None)
    """
    fitting = [i for i, side in enumerate(sides) if side <= FINISH_MEASURE_SIDE]
    return fitting[-1] if fitting and fitting[-1] > 0 else None


def finish_check_step(steps: int) -> int:
    """The step of a scale of ``steps`` steps at which the weight is corrected (0: none)."""
    return round(steps / 3) if steps >= FINISH_MIN_STEPS else 0


def heading_distance(distance: float, step: int, steps: int) -> float:
    """Where a scale at content distance ``distance`` after ``step`` of its ``steps`` would end
    (:data:`FINISH_DECAY`)."""
    return distance * (steps / step) ** -FINISH_DECAY


def finish_correction(distance: float, step: int, steps: int, target: float, tolerance: float = TOLERANCE) -> float:
    """The factor on the style weight that makes a scale end at content distance ``target``.

    ``distance`` is the iterate's after ``step`` of the scale's ``steps``: the scale would end near
    ``distance · (steps / step) ** -FINISH_DECAY``; the factor moves that to ``target`` along
    :data:`FINISH_RESPONSE`, within :data:`FINISH_RANGE`. 1 when already within ``tolerance``
    (relative) or when nothing can be measured.

    >>> round(finish_correction(0.6, 20, 60, 0.35), 3)  # heading for 0.489: less style
    0.363
    >>> finish_correction(0.43, 20, 60, 0.35)  # heading for 0.35
    1.0
    """
    if not (math.isfinite(distance) and distance > 0 and target > 0 and 0 < step <= steps):
        return 1.0
    heading = heading_distance(distance, step, steps)
    if abs(heading / target - 1) <= tolerance:
        return 1.0
    return _clamp((target / heading) ** (1 / FINISH_RESPONSE), 1 / FINISH_RANGE, FINISH_RANGE)


def target_distance(strength: float) -> float:
    """The content distance of the finished image that strength ``strength`` (0-1) asks for."""
    return CONTENT_PER_STRENGTH * strength


def probe_distance(strength: float) -> float:
    """The content distance a probe aims at for ``strength``."""
    return target_distance(strength) / FINISH_RATIO


@dataclass
class WeightSearch:
    """Search of the style weight whose probe distance is ``target``, in log-log coordinates.

    Call :meth:`next_weight` for the weight to probe, then :meth:`record` its distance; :meth:`done`
    says when to stop and :meth:`best` is the answer (the secant's estimate when no probe hit).
    """

    target: float
    start: float
    max_probes: int = MAX_PROBES
    tolerance: float = TOLERANCE
    probes: list[tuple[float, float]] = field(default_factory=list)  #: (weight, distance) measured

    def record(self, weight: float, distance: float) -> None:
        """Add one probe (a non-finite distance counts as far too strong)."""
        self.probes.append((weight, distance if math.isfinite(distance) else math.inf))

    def hit(self) -> tuple[float, float] | None:
        """A probe within ``tolerance`` of the target, if any (the closest)."""
        close = [p for p in self.probes if abs(p[1] - self.target) <= self.tolerance * self.target]
        return min(close, key=lambda p: abs(math.log(p[1] / self.target))) if close else None

    def done(self) -> bool:
        """True when a probe hit the target, the probes saturated, or every probe is spent."""
        return self.hit() is not None or self.saturated() or len(self.probes) >= self.max_probes

    def saturated(self) -> bool:
        """Every probe fell short of the target and the two strongest barely differ (:data:`SATURATION_SLOPE`)."""
        finite = sorted(p for p in self.probes if math.isfinite(p[1]) and p[1] > 0)
        if len(finite) < 2 or len(finite) < len(self.probes) or any(d >= self.target for _, d in finite):
            return False
        (w1, d1), (w2, d2) = finite[-2:]
        return w2 > w1 and math.log(d2 / d1) / math.log(w2 / w1) < SATURATION_SLOPE

    def next_weight(self) -> float:
        """The weight to try next (the estimate of the answer from the probes so far)."""
        lo, hi = self.start / RANGE, self.start * RANGE
        if not self.probes:
            return self.start
        goal = math.log(self.target)
        pts = [(math.log(w), math.log(d) if d > 0 else -math.inf) for w, d in self.probes]
        below = [p for p in pts if p[1] < goal]
        above = [p for p in pts if p[1] >= goal]
        if below and above:  # bracketed: interpolate between the closest on each side
            # the tightest bracket (on ties in distance, e.g. a saturated curve, the weights closest in)
            a, b = max(below, key=lambda p: (p[1], p[0])), min(above, key=lambda p: (p[1], p[0]))
            if math.isfinite(a[1]) and math.isfinite(b[1]) and b[1] > a[1]:
                t = (goal - a[1]) / (b[1] - a[1])
                return _clamp(math.exp(a[0] + t * (b[0] - a[0])), lo, hi)
            return _clamp(math.exp((a[0] + b[0]) / 2), lo, hi)
        # closest to the goal first; on a tie (a saturated curve) the probe furthest in the direction to go
        down = all(p[1] > goal for p in pts)
        finite = sorted(
            (p for p in pts if math.isfinite(p[1])), key=lambda p: (round(abs(p[1] - goal), 9), p[0] if down else -p[0])
        )
        slope = FIRST_SLOPE
        if len(finite) >= 2 and finite[0][0] != finite[1][0]:
            slope = (finite[0][1] - finite[1][1]) / (finite[0][0] - finite[1][0])
            slope = min(max(slope, 0.1), 3.0)  # a flat or backwards secant would jump too far
        if not finite:  # only non-finite probes: far too strong
            return _clamp(math.exp(min(p[0] for p in pts) - math.log(100)), lo, hi)
        x, y = finite[0]
        step = (goal - y) / slope
        step = max(min(step, math.log(100)), -math.log(100))  # at most 100x per probe
        return _clamp(math.exp(x + step), lo, hi)

    def best(self) -> float:
        """The weight to paint with: the probe that hit the target; on saturated probes the weakest that went
        (nearly) as far as any; else the search's estimate (within :data:`EXTRAPOLATION` of the probed weights)."""
        hit = self.hit()
        if hit is not None:
            return hit[0]
        if self.saturated():  # the weakest probe that got (nearly) as far as any: the knee of the curve
            far = max(d for _, d in self.probes)
            return min(w for w, d in self.probes if d >= (1 - self.tolerance) * far)
        estimate = self.next_weight()
        if not self.probes:
            return estimate
        weights = [w for w, _ in self.probes]
        return _clamp(estimate, min(weights) / EXTRAPOLATION, max(weights) * EXTRAPOLATION)


@dataclass(frozen=True)
class Calibration:
    """What a calibration found: the weight, the distance asked for, and every probe."""

    strength: float
    target: float  #: the probes' target (:func:`probe_distance`)
    weight: float
    probes: tuple[tuple[float, float], ...]
    size: tuple[int, int]  #: (width, height) the probes ran at

    def note(self) -> str:
        """One line for the progress display and the result's notes."""
        d = dict(self.probes).get(self.weight)
        reached = f"content distance {d:.2f}" if d is not None else "estimated"
        return (
            f"strength {self.strength:g}: style weight {self.weight:.4g} ({reached}, target {self.target:.2f}, "
            f"{len(self.probes)} probes at {self.size[0]}x{self.size[1]})"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-able record for the output's metadata."""
        return {
            "strength": self.strength,
            "probe_content_distance": round(self.target, 4),
            "target_content_distance": round(target_distance(self.strength), 4),
            "style_weight": self.weight,
            "probes": [[w, round(d, 4) if math.isfinite(d) else None] for w, d in self.probes],
            "size": list(self.size),
        }


def calibrate(strength: float, start: float, probe: Callable[[float], float], size: tuple[int, int]) -> Calibration:
    """Find the style weight whose ``probe(weight)`` content distance is :func:`probe_distance` of ``strength``.

    Strength 0 needs no search: weight 0 keeps the photo.
    """
    target = probe_distance(strength)
    if target <= 0:
        return Calibration(strength, 0.0, 0.0, (), size)
    search = WeightSearch(target, start if start > 0 else 1.0)
    while not search.done():
        w = search.next_weight()
        search.record(w, probe(w))
    return Calibration(strength, target, search.best(), tuple(search.probes), size)


def _clamp(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


__all__ = [
    "probe_steps",
    "FINISH_DECAY",
    "FINISH_MIN_STEPS",
    "FINISH_MEASURE_SIDE",
    "FINISH_RANGE",
    "FINISH_RISE",
    "FINISH_RESPONSE",
    "finish_check_step",
    "finish_correction",
    "finish_scale",
    "heading_distance",
    "CONTENT_PER_STRENGTH",
    "EXTRAPOLATION",
    "SATURATION_SLOPE",
    "DEFAULT_STYLE_WEIGHT",
    "FINISH_RATIO",
    "START_WEIGHT",
    "MAX_PROBES",
    "PROBE_STEPS",
    "Calibration",
    "WeightSearch",
    "calibrate",
    "probe_distance",
    "target_distance",
]
