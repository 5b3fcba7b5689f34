"""What a run will do before it does it: sizes per scale, steps, memory and time per step (``--dry-run``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from restyle.engine.inputs import RunInputs
from restyle.engine.memory import MemoryEstimate, available_memory
from restyle.engine.pyramid import fit_size
from restyle.engine.stylize import Stylizer

#: Longest side of the image the step time is measured on (then scaled by pixel count).
PROBE_SIDE = 128
#: Cost of a tiled step per box pixel relative to an untiled one (an extra forward without gradients).
TILED_COST = 1.35


@dataclass(frozen=True)
class ScalePlan:
    """One scale of the pyramid."""

    size: tuple[int, int]  #: (width, height)
    steps: int
    memory: MemoryEstimate  #: the estimate of one step at this scale
    seconds_per_step: float | None  #: measured on a small probe and scaled by pixels (None: not measured)
    tiles: int = 0  #: tiles of each step (0: untiled)


@dataclass(frozen=True)
class RunPlan:
    """The scales of a run, what its largest step needs and what the machine has."""

    scales: list[ScalePlan]
    available: int  #: bytes free for the run
    limited_by: str  #: what limits ``available`` (available RAM, the cgroup's limit, ...)

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
    """The plan of ``stylizer.run(inputs)``; ``time_steps`` measures a step on a small probe (about a second)."""
    c = stylizer.config
    cw, ch = inputs.content.pixels.shape[2], inputs.content.pixels.shape[1]
    sizes = stylizer.pyramid(inputs)
    tiling = stylizer.tiling(inputs)
    probe = fit_size(cw, ch, min(PROBE_SIDE, max(sizes[-1])))
    if min(probe) < stylizer.min_side:
        probe = sizes[0]
    per_pixel = measure_step(stylizer, probe) / (probe[0] * probe[1]) if time_steps else None
    scales = []
    steps = c.scale_iterations(len(sizes))
    for i, size in enumerate(sizes):
        tiles = tiling.get(i)
        per_step = per_pixel * size[0] * size[1] if per_pixel is not None else None
        if per_step is not None and tiles:  # a no-grad pass first, and the halos
            boxes = sum((t.box[1] - t.box[0]) * (t.box[3] - t.box[2]) for t in tiles)
            per_step = per_pixel * boxes * TILED_COST
        scales.append(
            ScalePlan(
                size, steps[i], stylizer.estimate_step(sizes[: i + 1], tiles), per_step, len(tiles) if tiles else 0
            )
        )
    available, limit = available_memory(stylizer.device)
    return RunPlan(scales, available, limit)


__all__ = ["PROBE_SIDE", "RunPlan", "ScalePlan", "measure_step", "plan_run"]
