"""What a run will do before it does it: sizes per scale, steps, memory and time per step (``--dry-run``)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from restyle.engine.inputs import RunInputs
from restyle.engine.memory import MemoryEstimate, available_memory
from restyle.engine.pyramid import fit_size
from restyle.engine.stylize import Stylizer

#: Longest sides of the two images the step time is measured on: a step costs about a fixed part
#: plus a part per pixel, and the line through two sizes prices any size (one small probe scaled by
#: pixels alone over-prices large steps: the small probe's fixed costs are counted once per pixel).
PROBE_SIDES = (128, 256)
#: Cost of a tiled step per box pixel relative to an untiled one (an extra forward without gradients).
TILED_COST = 1.35


@dataclass(frozen=True)
class ScalePlan:
    """One scale of the pyramid."""

    size: tuple[int, int]  #: (width, height)
    steps: int
    memory: MemoryEstimate  #: the estimate of one step at this scale
    seconds_per_step: float | None  #: priced by :class:`StepCost` from two small probes (None: not measured)
    tiles: int = 0  #: tiles of each step (0: untiled)


@dataclass(frozen=True)
class RunPlan:
    """The scales of a run, what its largest step needs and what the machine has."""

    scales: list[ScalePlan]
    available: int  #: bytes free for the run
    limited_by: str  #: what limits ``available`` (available RAM, the cgroup's limit, ...)
    #: The run keeps its steps' freed buffers for the next step (:mod:`restyle.engine.allocator`): faster, and
    #: up to ``KEPT_SLACK`` more memory than :attr:`peak`.
    keeps_freed_memory: bool = False

    @property
    def peak(self) -> MemoryEstimate:
        """The estimate of the largest step."""
        return max((s.memory for s in self.scales), key=lambda m: m.total)

    @property
    def fits(self) -> bool:
        """Whether the largest step fits in the free memory."""
        return self.peak.total <= self.available

    @property
    def seconds(self) -> float | None:
        """Estimated optimisation time of the whole run (targets and writing not included)."""
        if any(s.seconds_per_step is None for s in self.scales):
            return None
        return sum(s.steps * (s.seconds_per_step or 0.0) for s in self.scales)


@dataclass(frozen=True)
class StepCost:
    """Seconds of one step as ``fixed + per_pixel * pixels``, fitted through probe steps of two sizes."""

    fixed: float
    per_pixel: float

    @classmethod
    def fit(cls, points: list[tuple[int, float]]) -> StepCost:
        """The line through ``(pixels, seconds)`` points (least squares; the fixed part never below 0).

        One point (or a line that would need a negative fixed part) is priced by pixels alone.
        """
        if len(points) >= 2:
            n = len(points)
            mx, my = sum(p for p, _ in points) / n, sum(t for _, t in points) / n
            var = sum((p - mx) ** 2 for p, _ in points)
            slope = sum((p - mx) * (t - my) for p, t in points) / var if var > 0 else 0.0
            if slope > 0 and my - slope * mx >= 0:
                return cls(my - slope * mx, slope)
        pixels, seconds = max(points)
        return cls(0.0, seconds / pixels)

    def seconds(self, pixels: int, tiles: int = 0) -> float:
        """One step over ``pixels`` (of every tile box, halos included, when ``tiles`` > 0)."""
        if tiles:  # each tile runs a no-grad Gram pass and a gradient pass, and pays the fixed part
            return tiles * self.fixed + self.per_pixel * pixels * TILED_COST
        return self.fixed + self.per_pixel * pixels


def measure_step(stylizer: Stylizer, size: tuple[int, int], repeats: int = 2) -> float:
    """Seconds of one forward + input-gradient of ``stylizer``'s loss at ``size`` (median of ``repeats``, warm)."""
    gen = torch.Generator().manual_seed(0)
    w, h = size
    image = torch.rand(1, 3, h, w, generator=gen).to(stylizer.device)
    saved = stylizer.loss.targets
    stylizer.loss.targets = stylizer.loss.compute_targets(image, [image])
    times = []
    try:
        for _ in range(repeats + 1):  # the first is a warm-up (allocator, kernels)
            x = image.clone().requires_grad_(True)
            t0 = time.perf_counter()
            stylizer.loss(x)["total"].backward()
            if stylizer.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    finally:
        stylizer.loss.targets = saved
    return sorted(times[1:])[len(times[1:]) // 2]


def plan_run(stylizer: Stylizer, inputs: RunInputs, *, time_steps: bool = True) -> RunPlan:
    """The plan of ``stylizer.run(inputs)``; ``time_steps`` measures steps on two small probes (a few seconds)."""
    cw, ch = inputs.content.pixels.shape[2], inputs.content.pixels.shape[1]
    sizes = stylizer.pyramid(inputs)
    schedule = stylizer.schedule(sizes)
    tiling = stylizer.tiling(inputs)
    cost = None
    if time_steps:
        probes = sorted({fit_size(cw, ch, min(side, max(sizes[-1]))) for side in PROBE_SIDES})
        probes = [p for p in probes if min(p) >= stylizer.min_side] or [sizes[0]]
        cost = StepCost.fit([(w * h, measure_step(stylizer, (w, h))) for w, h in probes])
    scales = []
    for i, size in enumerate(sizes):
        tiles = tiling.get(i)
        per_step = None
        if cost is not None:
            boxes = sum((t.box[1] - t.box[0]) * (t.box[3] - t.box[2]) for t in tiles) if tiles else size[0] * size[1]
            per_step = cost.seconds(boxes, len(tiles) if tiles else 0)
        scales.append(
            ScalePlan(
                size,
                schedule[i].steps,
                stylizer.estimate_step(sizes[: i + 1], tiles),
                per_step,
                len(tiles) if tiles else 0,
            )
        )
    available, limit = available_memory(stylizer.device)
    plan = RunPlan(scales, available, limit)
    return dataclasses.replace(plan, keeps_freed_memory=stylizer.keeps_freed_memory(plan.peak, available))


__all__ = ["PROBE_SIDES", "RunPlan", "ScalePlan", "StepCost", "measure_step", "plan_run"]
