"""The core loop: ``stylize(content, style, config)`` and the reusable :class:`Stylizer`.

``Stylizer.run`` is a short loop over the scales of a coarse-to-fine pyramid: inputs are loaded
once at the top (:func:`~restyle.engine.inputs.load_run_inputs`), each scale is set up by
:meth:`Stylizer._prepare_scale` (targets, start image, optimiser), and each step is one
:meth:`Stylizer._guarded_step` (one forward/backward, with the numerical guard). Where the run
stands lives in a :class:`RunState`, which mirrors :class:`~restyle.engine.checkpoint.Checkpoint`
field for field, so stopping and resuming are exact.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from restyle.config import RunConfig, parse_init
from restyle.engine import allocator, color, fast, memory
from restyle.engine.checkpoint import Checkpoint
from restyle.engine.ema import IterateAverage
from restyle.engine.events import Callback, Iterate, TileDone
from restyle.engine.health import HealthMonitor, final_warnings, join_notes
from restyle.engine.inputs import (
    ImageLike,
    RunInputs,
    fit_style,
    load_input,
    load_run_inputs,
    noise_image,
    parse_blend_weights,
)
from restyle.engine.memory import MemoryEstimate, OutOfMemory, check_fits, estimate, is_allocation_failure
from restyle.engine.optim import DEFAULT_LR, FIRST_STEP, make_optimizer
from restyle.engine.pyramid import ScaleSteps, fit_size, resize, scale_sizes
from restyle.engine.quality import content_distance
from restyle.engine.stopping import Plateau
from restyle.engine.strength import (
    DEFAULT_STYLE_WEIGHT,
    FINISH_RISE,
    PROBE_STEPS,
    START_WEIGHT,
    Calibration,
    calibrate,
    finish_check_step,
    finish_correction,
    finish_scale,
    heading_distance,
    probe_steps,
    target_distance,
)
from restyle.engine.targets import TargetCache
from restyle.engine.tiling import TILED_FORMULAS, Tile, TiledObjective, Tiler, layer_stride, plan_tiles
from restyle.errors import ConfigError, NumericalError
from restyle.features import weights as registry
from restyle.features.convert import VGGWeights
from restyle.features.layers import resolve_layer
from restyle.features.precision import DTYPES, resolve_precision
from restyle.features.vgg import VGGFeatures, min_input_size
from restyle.io.image import ImageData, tensor_to_pil
from restyle.losses.functional import temporal_loss
from restyle.losses.perceptual import PerceptualLoss, Region, Targets

__all__ = ["MAX_RETRIES", "RunState", "StylizeResult", "Stylizer", "resolve_device", "stylize"]

#: How many times a step that produced NaN/inf is retried with a halved step size (per scale).
MAX_RETRIES = 6
#: Halo of real neighbours around each tile, px: covers the receptive field of VGG's relu5_1 (196 px) both ways.
TILE_HALO = 112
#: Tile size (core, px) when tiling is chosen automatically.
AUTO_TILE = 512
#: Scales whose longer side is above this take L-BFGS's pixel-sized first step (:data:`FIRST_STEP`; see
#: ``Stylizer._optimizer``): above the default 512 px, whose defaults and figures were measured with torch's step.
PIXEL_FIRST_STEP_SIDE = 512
#: Number format of the guard's copies of the iterate at tiled scales (see ``_prepare_scale``).
GUARD_DTYPE = torch.float16
#: Set to 0 to skip the up-front memory check (when you know better than the estimate).
MEMORY_CHECK_ENV = "RESTYLE_MEMORY_CHECK"
#: The way out of a run that does not fit, for the messages.
MEMORY_ADVICE = (
    "use a smaller --size, fewer or shallower --style-layers, or --optimizer adam / a smaller --lbfgs-history"
)


@dataclass
class StylizeResult:
    """What a run produced: the image, the final loss terms, timings and the settings used."""

    pixels: torch.Tensor  #: (3, H, W) float32 RGB in [0, 1], on the CPU
    alpha: torch.Tensor | None  #: (1, H, W) alpha of the content image, resized, or None
    losses: dict[str, float]
    timings: dict[str, float]
    config: RunConfig
    model: str  #: one line saying which weights were used
    history: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False  #: True when stopped early (:meth:`Stylizer.request_stop`, or out of memory)
    checkpoint: Checkpoint | None = None  #: state to resume from, when interrupted
    out_of_memory: str = ""  #: why an allocation failed mid-run (then ``interrupted`` is True too)
    style_weight: float | None = None  #: the style weight painted with (calibrated from ``strength``, or as given)
    calibration: dict[str, Any] | None = None  #: the strength calibration's record (:class:`Calibration`)
    weights_used: dict[str, Any] = field(default_factory=dict)  #: the exact weights (VGGWeights.provenance)

    def image(self) -> Image.Image:
        """The result as an 8-bit PIL image (RGBA when the content had transparency)."""
        return tensor_to_pil(self.pixels, self.alpha)

    def summary(self) -> dict[str, Any]:
        """JSON-able record: config, model, final losses, timings, notes."""
        return {
            "config": self.config.to_dict(),
            "model": self.model,
            "losses": self.losses,
            "timings": self.timings,
            "notes": self.notes,
            "interrupted": self.interrupted,
            "size": list(self.pixels.shape[-1:-3:-1]),
            "style_weight": self.style_weight,
            "calibration": self.calibration,
            "weights": self.weights_used,
        }


@dataclass
class RunState:
    """Where a run stands between two steps: :class:`Checkpoint`'s fields, live.

    ``pixels`` is the iterate of the current scale (on the run's device, requiring grad) and
    ``optimizer`` its optimiser; ``good`` (the last iterate whose loss was accepted), ``retries``
    and ``health`` are the guard's and are not checkpointed (the monitor replays ``history``).
    """

    lr: float
    scale: int = 0
    scale_step: int = 0
    step: int = 0
    pixels: torch.Tensor | None = None
    optimizer: torch.optim.Optimizer | None = None
    elapsed: float = 0.0  #: seconds of computing before this call (a resumed run's earlier time)
    history: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    optimizer_state: dict[str, Any] | None = None  #: a resumed optimiser's state, loaded at its scale
    good: torch.Tensor | None = None
    here: torch.Tensor | None = None  #: the iterate the current step evaluates (a buffer of the guard)
    retries: int = 0
    health: HealthMonitor = field(default_factory=HealthMonitor)
    average: IterateAverage | None = None  #: ``--ema``: the moving average of this scale's iterates

    def scale_losses(self, scale: int) -> list[float]:
        """Total losses of ``scale``'s steps so far, since the style weight was last set (a strength correction
        changes the objective mid-scale): what the stopping rule and the guard replay on a resume."""
        since = (self.calibration or {}).get("finish", {}).get("step", 0)
        return [h["total"] for h in self.history if h["scale"] == scale and h["step"] > since]

    def output(self) -> torch.Tensor:
        """The image the run stands for: the iterate, or its moving average with ``--ema``."""
        assert self.pixels is not None
        if self.average is not None and self.average.weight:
            return self.average.value()
        return self.pixels.detach()

    style_weight: float | None = None  #: the weight in use (None until the strength calibration ran)
    calibration: dict[str, Any] | None = None  #: its record (checkpointed: a resume does not calibrate again)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, device: torch.device) -> RunState:
        """The state a checkpoint describes, on ``device``."""
        return cls(
            lr=checkpoint.lr,
            scale=checkpoint.scale,
            scale_step=checkpoint.scale_step,
            step=checkpoint.step,
            pixels=checkpoint.pixels.to(device),
            elapsed=checkpoint.elapsed,
            history=list(checkpoint.history),
            notes=list(checkpoint.notes),
            optimizer_state=_map_tensors(checkpoint.optimizer, lambda t: t.to(device)),
            average=None
            if checkpoint.average is None
            else IterateAverage.from_state(_map_tensors(checkpoint.average, lambda t: t.to(device))),
            style_weight=checkpoint.style_weight,
            calibration=checkpoint.calibration,
        )

    def checkpoint(self, config: RunConfig, inputs: RunInputs, elapsed: float, precision: str) -> Checkpoint:
        """A :class:`Checkpoint` of this state (CPU copies; the run may go on); ``precision`` is the run's, resolved."""
        assert self.pixels is not None and self.optimizer is not None
        return Checkpoint(
            config=config.to_dict(),
            content=inputs.content.pixels,
            styles=inputs.style_pixels,
            scale=self.scale,
            scale_step=self.scale_step,
            step=self.step,
            pixels=self.pixels.detach().cpu().clone(),
            optimizer=copy.deepcopy(_map_tensors(self.optimizer.state_dict(), lambda t: t.detach().cpu())),
            lr=self.lr,
            elapsed=elapsed,
            history=list(self.history),
            notes=list(self.notes),
            alpha=inputs.content.alpha,
            masks=list(inputs.masks),
            mask_styles=list(inputs.mask_styles),
            average=None
            if self.average is None
            else _map_tensors(self.average.state_dict(), lambda t: t.detach().cpu().clone()),
            style_weight=self.style_weight,
            calibration=self.calibration,
            precision=precision,
        )


@dataclass
class _RunImages:
    """A run's images on its device: what the loss compares with, and how to show the iterate."""

    content: torch.Tensor  #: (1, 3, H, W) as optimised (grey with ``preserve_color=luminance``)
    original: torch.Tensor  #: the photo as loaded
    styles: list[torch.Tensor]
    blend: tuple[float, ...]  #: weights of ``styles`` (empty: equal)
    masks: list[torch.Tensor]
    mask_styles: list[torch.Tensor | None]
    luminance: bool = False
    guide: tuple[torch.Tensor, torch.Tensor, float] | None = None  #: video: start image, its mask, weight

    def present(self, x: torch.Tensor) -> torch.Tensor:
        """The iterate as the user sees it: with the photo's chroma put back in luminance mode."""
        if not self.luminance:
            return x
        return color.with_chroma(x, resize(self.original, (x.shape[-1], x.shape[-2])))


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when available, else cpu; ``cuda`` without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but no CUDA GPU is available (use --device cpu)")
    return torch.device(name)


class Stylizer:
    """Loads the model once and runs any number of stylisations with one config.

    ``Stylizer(config).run(content, style, callback)`` is what :func:`stylize` does; keep the
    object to run several pairs without reloading weights. ``targets`` shares loss targets
    between Stylizers (see :class:`~restyle.engine.targets.TargetCache`).
    """

    def __init__(
        self,
        config: RunConfig | None = None,
        weights: VGGWeights | None = None,
        *,
        model: str | None = None,
        targets: TargetCache | None = None,
    ) -> None:
        self.config = c = (config or RunConfig()).validate()
        self.device = resolve_device(c.device)
        #: ``config.precision`` made concrete for this device (``fp32`` or ``bf16``): what the result records.
        self.precision = resolve_precision(c.precision, self.device)
        if weights is None:
            weights, model = registry.load(c.model, c.weights)
        self.weights = weights
        self.model = model or f"{weights.arch} weights from {weights.source}"
        self.targets = targets
        arch = weights.arch
        self.content_layers = {resolve_layer(n, arch): w for n, w in c.content_layers.items()}
        self.style_layers = {resolve_layer(n, arch): w for n, w in c.style_layers.items()}
        for kind, given, resolved in (
            ("content_layers", c.content_layers, self.content_layers),
            ("style_layers", c.style_layers, self.style_layers),
        ):
            if len(resolved) < len(given):  # e.g. relu4_2 and its Keras alias block4_conv2
                raise ConfigError(f"{kind}: {', '.join(given)} names the same layer twice")
        layers = list(self.content_layers) + list(self.style_layers)
        self.min_side = min_input_size(arch, layers)
        self.extractor = self._network(self.precision)
        self._stop = False
        #: Set by an executor to watch the tiles of long (tiled) steps; see :class:`TileDone`.
        self.on_tile: Callable[[TileDone], None] | None = None
        self._tiling: dict[int, list[Tile]] = {}
        self._objective: TiledObjective | None = None
        self._temporal: tuple[torch.Tensor, torch.Tensor, float] | None = None  #: this scale's guide, if any
        self._align = max(layer_stride(n) for n in self.extractor.layers)  # every pooling grid lines up
        self.loss = PerceptualLoss(
            self.extractor,
            self.content_layers,
            self.style_layers,
            c.content_weight,
            c.style_weight if c.style_weight is not None else DEFAULT_STYLE_WEIGHT,  # set per run
            c.tv_weight,
            c.tv_exponent,
            c.normalize,
        )

    def _network(self, precision: str) -> VGGFeatures:
        """The trimmed VGG in ``precision``; sets :attr:`precision` and :attr:`network` to match."""
        c, w = self.config, self.weights
        self.precision = precision
        #: What the targets depend on besides the inputs and the loss mode (the TargetCache key).
        self.network = (w.arch, w.source, w.preprocessing.name, c.pooling, str(self.device), precision)
        layers = list(self.content_layers) + list(self.style_layers)
        return VGGFeatures(w, layers, c.pooling, DTYPES[precision]).to(self.device)

    @contextmanager
    def _precision_of(self, resume: Checkpoint | None) -> Iterator[None]:
        """Run in the precision a checkpoint was computed in (``auto`` may resolve otherwise on this machine,
        e.g. a retry on a CPU without native bf16): the resumed run continues the same computation."""
        wanted = resume.precision if resume is not None else None
        if wanted is None or wanted == self.precision:
            yield
            return
        if wanted not in DTYPES:
            raise ConfigError(f"the checkpoint was computed in precision {wanted!r}, which this version cannot run")
        mine = self.precision
        self.extractor = self.loss.extractor = self._network(wanted)
        try:
            yield
        finally:  # a pooled Stylizer serves later jobs in its own precision
            self.extractor = self.loss.extractor = self._network(mine)

    def _tile_reporter(
        self, state: RunState, scale: int, scales: int, size: tuple[int, int]
    ) -> Callable[[int, int, str], None] | None:
        """What the tiled objective calls after each tile: a :class:`TileDone` to :attr:`on_tile`."""
        report = self.on_tile
        if report is None:
            return None

        def done(tile: int, tiles: int, phase: str) -> None:
            report(TileDone(state.step + 1, scale, scales, size, tile, tiles, phase))

        return done

    def request_stop(self) -> None:
        """Ask a running :meth:`run` to stop after the current step (safe from a signal handler).

        The run then returns its current image with ``interrupted=True`` and a checkpoint.
        """
        self._stop = True

    # ------------------------------------------------------------------ run
    def run(
        self,
        content: ImageLike | RunInputs | None,
        style: ImageLike | list[ImageLike] | None = None,
        callback: Callback | None = None,
        *,
        resume: Checkpoint | None = None,
    ) -> StylizeResult:
        """Stylise ``content`` with ``style`` (a list of styles is blended equally).

        ``content`` may be :class:`RunInputs` loaded for this config (then ``style`` is None). With
        ``resume`` (a checkpoint of a run with the same config) ``content`` and ``style`` may be
        None: the images stored in the checkpoint are used, and the run continues to the same
        result as an uninterrupted one (in the checkpoint's precision, whatever ``auto`` means here).
        """
        try:
            with self._precision_of(resume):
                return self._run(content, style, callback, resume)
        finally:  # kept mode lasts for the run's steps; what they kept goes back to the system between runs
            allocator.release_freed_memory()

    def _run(
        self,
        content: ImageLike | RunInputs | None,
        style: ImageLike | list[ImageLike] | None,
        callback: Callback | None,
        resume: Checkpoint | None,
    ) -> StylizeResult:
        c = self.config
        self._stop = False
        inputs = self._inputs(content, style, resume)
        sizes = self._scale_sizes(inputs)
        self._tiling = self.tiling(inputs)
        need = self.estimate_memory(inputs, self._tiling)
        if os.environ.get(MEMORY_CHECK_ENV, "1") != "0":
            check_fits(need, self.device, advice=MEMORY_ADVICE)
        allocator.keep_freed_memory(self.keeps_freed_memory(need, memory.available_memory(self.device)[0]))
        state = (
            RunState.from_checkpoint(resume, self.device)
            if resume
            else RunState(lr=c.lr if c.lr is not None else DEFAULT_LR[c.optimizer])
        )
        t0 = time.perf_counter() - state.elapsed
        timer = {"targets_s": 0.0}
        images = self._images(inputs)
        generator = torch.Generator().manual_seed(c.seed)
        schedule = self.schedule(self.pyramid(inputs))
        plan = [p.steps for p in schedule]
        # calibrated at the coarsest scale; probes run untiled, so where that scale is tiled (a one-scale
        # print-size run) they run at the tile size instead, which fits by construction
        calibration_side = min(sizes[0], self._tile_core) if 0 in self._tiling else sizes[0]
        try:
            first_note = self._set_style_weight(state, images, calibration_side, timer, plan[0])
        except (RuntimeError, MemoryError) as e:  # an allocation failure before the first step: one error
            self._allocation_failed(e, state)
            raise

        def snapshot() -> Checkpoint:
            return state.checkpoint(c, inputs, time.perf_counter() - t0, self.precision)

        oom = ""
        for si in range(state.scale, len(sizes)):
            try:
                size = self._prepare_scale(state, si, sizes[si], images, generator, timer)
            except (RuntimeError, MemoryError) as e:  # allocation failures only; anything else is a bug
                oom = self._allocation_failed(e, state)
                break
            if self._objective is not None:
                self._objective.on_tile = self._tile_reporter(state, si, len(sizes), size)
            # the strength loop is closed once, at a third of the scale of the quality report's size (0: not here)
            finish = finish_check_step(plan[si]) if self._closes_strength(state, si, sizes) else 0
            # --tol: replaying this scale's losses so far makes a resumed scale stop where it would have
            plateau = Plateau(c.tol, losses=state.scale_losses(si))
            total_steps = state.step + (0 if plateau.stopped else plan[si] - state.scale_step) + sum(plan[si + 1 :])
            while state.scale_step < plan[si] and not plateau.stopped and not self._stop:
                try:
                    values, note = self._guarded_step(state)
                except (RuntimeError, MemoryError) as e:
                    oom = self._allocation_failed(e, state)
                    break
                state.scale_step += 1
                state.step += 1
                if state.average is not None:
                    assert state.pixels is not None
                    state.average.update(state.pixels)
                state.history.append({"step": state.step, "scale": si, **values})
                if state.scale_step == finish:
                    note = join_notes(note, self._correct_strength(state, images, size, plan[si], len(sizes) - 1 - si))
                    plateau = Plateau(c.tol)  # the objective changed: its losses so far no longer compare
                    state.health.start_scale(si)
                elif plateau.update(values["total"]):  # converged: the steps left at this scale are not run
                    total_steps = state.step + sum(plan[si + 1 :])
                note, first_note = join_notes(first_note, note), ""
                if state.step == total_steps:  # the finished image: flat? did the loss ever fall?
                    warnings = final_warnings(images.present(state.output()), state.history, scales=len(sizes))
                    state.notes.extend(warnings)
                    note = join_notes(note, *warnings)
                if callback is not None:
                    assert state.pixels is not None
                    callback(
                        Iterate(
                            state.step,
                            total_steps,
                            si,
                            len(sizes),
                            state.scale_step,
                            size,
                            values,
                            time.perf_counter() - t0,
                            state.pixels if state.average is None else state.output(),
                            note,
                            snapshot,
                            images.present,
                            tiles=len(self._objective.tiles) if self._objective is not None else 0,
                            schedule=schedule,
                        )
                    )
            if self._stop:
                break
        result = self._result(state, inputs, images, time.perf_counter() - t0, timer["targets_s"], snapshot)
        result.out_of_memory = oom
        result.style_weight = self.loss.weights["style"]
        result.calibration = state.calibration
        if "calibrate_s" in timer:
            result.timings["calibrate_s"] = timer["calibrate_s"]
        return result

    def schedule(self, sizes: list[tuple[int, int]]) -> tuple[ScaleSteps, ...]:
        """Each scale's size and planned steps (``config.scale_iterations``): the one place that says how
        many (the loop, the ETA and ``--dry-run``'s plan read it; ``--tol`` may stop a scale earlier)."""
        steps = self.config.scale_iterations(len(sizes))
        return tuple(ScaleSteps(w, h, n) for (w, h), n in zip(sizes, steps, strict=True))

    def _set_style_weight(
        self, state: RunState, images: _RunImages, longest: int, timer: dict[str, float], coarse_steps: int
    ) -> str:
        """The style weight of this run into the loss: as given, else calibrated for ``strength`` once.

        Returns the calibration's note for the first step's event ("" when nothing was calibrated).
        """
        c = self.config
        note = ""
        if state.style_weight is None:
            state.style_weight = c.style_weight if c.style_weight is not None else DEFAULT_STYLE_WEIGHT
            if c.style_weight is None and self.content_layers and self.style_layers:
                ts = time.perf_counter()
                calibration = self.calibrate(images, longest, probe_steps(coarse_steps))
                timer["calibrate_s"] = time.perf_counter() - ts
                state.style_weight, state.calibration = calibration.weight, calibration.to_dict()
                note = calibration.note()
                state.notes.append(note)
        self.loss.weights["style"] = state.style_weight
        return note

    def calibrate(self, images: _RunImages, longest: int, steps: int = PROBE_STEPS) -> Calibration:
        """The style weight that gives ``config.strength``'s content distance at ``longest`` px.

        Each probe runs ``steps`` (:func:`~restyle.engine.strength.probe_steps`) L-BFGS steps from the photo
        (whatever ``init`` is: the balance is what is measured) with one weight, and measures the
        content distance on this network's content layers, against the photo and the painting
        stretched to the photo's shape (the measure of :mod:`restyle.engine.quality`).
        """
        c = self.config
        photo = resize(images.content, fit_size(images.content.shape[-1], images.content.shape[-2], longest))
        size = (photo.shape[-1], photo.shape[-2])
        styles = [fit_style(s, size, c.style_scale, c.style_fit) for s in images.styles]
        self.loss.targets = self._content_targets(photo) | self._style_targets(styles, images.blend)
        self._objective = None  # probes are small: never tiled
        distance = self._content_meter(images, size)
        lbfgs = c.replace(optimizer="lbfgs", lr=DEFAULT_LR["lbfgs"])

        def probe(weight: float) -> float:
            self.loss.weights["style"] = weight
            x = photo.detach().clone().requires_grad_(True)
            opt = make_optimizer(lbfgs, x, None)  # torch's first step, as START_WEIGHT and probe_steps were measured
            for _ in range(steps):
                self._step(opt, x)
            return distance(x)

        return calibrate(c.strength, START_WEIGHT, probe, size)

    def _closes_strength(self, state: RunState, si: int, sides: list[int]) -> bool:
        """Whether scale ``si`` (of longest ``sides``) corrects the calibrated style weight (:meth:`_correct_strength`):
        :func:`finish_scale` of a run whose weight ``strength`` calibrated, outside video frames (their weight is
        the first frame's), unless a resumed run already did. That scale starts from the upsampled coarser result,
        and its distance falls as FINISH_DECAY has it (the coarsest starts from the photo, where its probes
        measured it)."""
        if state.calibration is None or "finish" in state.calibration:
            return False
        if self.config.strength <= 0 or self._temporal is not None:
            return False
        return si == finish_scale(sides)

    def _content_meter(self, images: _RunImages, size: tuple[int, int]) -> Callable[[torch.Tensor], float]:
        """The content distance (:mod:`restyle.engine.quality`) of an iterate, measured at ``size`` on this network's
        content layers against the photo and the painting, both stretched to ``size``; inf if not finite.

        The photo's features are the content targets installed for ``size`` (by the probes or the scale): the
        same forward, not run again."""
        layers = self.content_layers
        total = sum(layers.values()) or 1.0
        f_photo = self.loss.targets.content
        with torch.no_grad():
            # The painting of the distance: the one the blend weighs most (a 0-weight style is not painted).
            weights = list(images.blend) or [1.0] * len(images.styles)
            main = max(range(len(images.styles)), key=lambda i: (weights[i], -i))
            f_paint = self.extractor(resize(images.styles[main], size))

        def distance(x: torch.Tensor) -> float:
            with torch.no_grad():
                f = self.extractor(resize(x.detach().clamp(0, 1), size))
            if not all(torch.isfinite(f[n]).all() for n in layers):
                return math.inf
            return sum(w * content_distance(f[n], f_photo[n].float(), f_paint[n]) for n, w in layers.items()) / total

        return distance

    def _correct_strength(
        self, state: RunState, images: _RunImages, size: tuple[int, int], steps: int, later: int
    ) -> str:
        """Close the strength loop at :func:`finish_check_step` of this scale (of ``steps`` steps, ``later`` finer
        scales after it): measure the iterate's content distance and correct the style weight once by
        :func:`finish_correction`, aiming :data:`FINISH_RISE` lower per later scale (recorded in the calibration,
        so a resumed run does the same). Returns the note for the step's event."""
        target = target_distance(self.config.strength)
        aim = target / FINISH_RISE**later
        d = self._content_meter(images, size)(state.pixels)
        factor = finish_correction(d, state.scale_step, steps, aim)
        assert state.calibration is not None and state.style_weight is not None
        state.style_weight *= factor
        self.loss.weights["style"] = state.style_weight
        state.calibration = {
            **state.calibration,
            "finish": {
                "step": state.step,
                "size": list(size),
                "content_distance": round(d, 4),
                "factor": factor,
                "style_weight": state.style_weight,
            },
        }
        if factor == 1:
            return ""
        goal = f"target {target:.2f}" if later == 0 else f"aiming at {aim:.2f} for finer scales, target {target:.2f}"
        return (
            f"strength: content distance {d:.2f} at step {state.scale_step}/{steps} of this scale, heading for "
            f"{heading_distance(d, state.scale_step, steps):.2f} ({goal}): style weight x{factor:.3g}"
        )

    def pyramid(self, inputs: RunInputs) -> list[tuple[int, int]]:
        """(width, height) of each scale of a run on ``inputs``, coarse to fine."""
        cw, ch = inputs.content.pixels.shape[2], inputs.content.pixels.shape[1]
        return [fit_size(cw, ch, longest) for longest in self._scale_sizes(inputs)]

    def estimate_memory(self, inputs: RunInputs, tiling: dict[int, list[Tile]] | None = None) -> MemoryEstimate:
        """The memory the largest step of a run on ``inputs`` needs (see :mod:`restyle.engine.memory`).

        ``tiling`` (default: :meth:`tiling`) says which scales are tiled, and how.
        """
        sizes = self.pyramid(inputs)
        tiling = self.tiling(inputs) if tiling is None else tiling
        return max(
            (self.estimate_step(sizes[: i + 1], tiling.get(i)) for i in range(len(sizes))), key=lambda e: e.total
        )

    def keeps_freed_memory(self, need: MemoryEstimate, free: int) -> bool:
        """Whether a CPU run that needs ``need`` keeps its steps' freed buffers in the heap for the next step
        (:mod:`restyle.engine.allocator`: no page faults, up to ``KEPT_SLACK`` more memory): where it fits in
        ``free`` bytes with that to spare, and only on the main thread -- glibc serves other threads (a Ray
        actor's) from arenas of at most 64 MB, where the thresholds do not keep a feature map. A GPU run's host
        buffers are small: never."""
        if not allocator.active() or self.device.type != "cpu":
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        return allocator.kept_fits(need.total, free)

    def estimate_step(self, sizes: list[tuple[int, int]], tiles: list[Tile] | None = None) -> MemoryEstimate:
        """The memory of a step at the last of ``sizes`` (the scales so far), tiled into ``tiles`` if given."""
        params = sum(p.numel() for p in self.extractor.parameters())
        box = None
        if tiles:
            box = max(((t.box[3] - t.box[2], t.box[1] - t.box[0]) for t in tiles), key=lambda b: b[0] * b[1])
        return estimate(
            self.config,
            self.weights.arch,
            list(self.content_layers),
            list(self.style_layers),
            sizes,
            params,
            box,
            self.precision,
        )

    @property
    def _tile_core(self) -> int:
        return self.config.tile or AUTO_TILE

    def tiling(self, inputs: RunInputs) -> dict[int, list[Tile]]:
        """The scales whose steps are tiled, with their tiles (see :mod:`restyle.engine.tiling`).

        ``config.tile`` N tiles every scale larger than N px; 0 tiles only the scales whose untiled
        step would not fit in the free memory (when the loss formulas allow tiling).
        """
        c = self.config
        sizes = self.pyramid(inputs)
        align = self._align
        out: dict[int, list[Tile]] = {}
        if c.tile:
            for i, (w, h) in enumerate(sizes):
                if max(w, h) > c.tile:
                    out[i] = plan_tiles(h, w, c.tile, TILE_HALO, align)
            return out
        if c.normalize not in TILED_FORMULAS or inputs.masks:
            return out
        free, _ = memory.available_memory(self.device)
        for i, (w, h) in enumerate(sizes):
            if self.estimate_step(sizes[: i + 1]).total > free:
                out[i] = plan_tiles(h, w, AUTO_TILE, TILE_HALO, align)
        return out

    def _allocation_failed(self, error: RuntimeError | MemoryError, state: RunState) -> str:
        """Handle an allocation failure like a stop (the iterate is kept as it was); returns the message."""
        if not is_allocation_failure(error):
            raise error
        if state.pixels is None or state.good is None:  # nothing computed yet: nothing to save
            raise OutOfMemory(f"out of memory before the first step ({_first_line(error)}); {MEMORY_ADVICE}") from None
        # The allocations that fail are the forward's and backward's, before the optimiser touches the
        # iterate or its state: both still describe the run after the last finished step.
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self._stop = True
        message = f"out of memory at step {state.step + 1} ({_first_line(error)})"
        state.notes.append(message)
        return message

    def _inputs(self, content: ImageLike | RunInputs | None, style: Any, resume: Checkpoint | None) -> RunInputs:
        """The run's images, loaded once (from the checkpoint when resuming)."""
        c = self.config
        if resume is not None:
            if resume.config != c.to_dict():
                raise ConfigError("the checkpoint was written with other settings; resume it with its own config")
            w_h = (resume.content.shape[2], resume.content.shape[1])
            return RunInputs(
                c,
                ImageData(resume.content, resume.alpha, 8, "<checkpoint>", w_h),
                [ImageData(s, None, 8, "<checkpoint>", (s.shape[2], s.shape[1])) for s in resume.styles],
                list(resume.masks),
                list(resume.mask_styles),
            )
        if isinstance(content, RunInputs):
            return content
        if content is None or style is None:
            raise ConfigError("content and style images are required")
        return load_run_inputs(c, content, style)  # applies --image-size

    def _scale_sizes(self, inputs: RunInputs) -> list[int]:
        """Longest side of each pyramid scale; ConfigError if the final size is too small for the layers."""
        c = self.config
        cw, ch = inputs.content.pixels.shape[2], inputs.content.pixels.shape[1]
        longest = max(cw, ch) if c.image_size else c.size  # a fixed --image-size replaces --size
        final = fit_size(cw, ch, longest)
        if min(final) < self.min_side:
            raise ConfigError(
                f"size {longest} makes the image {final[0]}x{final[1]} px; the layers in use need at least "
                f"{self.min_side} px on the shorter side"
            )
        aspect = min(final) / max(final)
        return scale_sizes(longest, c.scales, min_size=max(64, math.ceil(self.min_side / aspect)))

    def _prepare_scale(
        self,
        state: RunState,
        si: int,
        longest: int,
        images: _RunImages,
        generator: torch.Generator,
        timer: dict[str, float],
    ) -> tuple[int, int]:
        """Targets, start image and optimiser of scale ``si``; returns its (width, height)."""
        c = self.config
        content = images.content
        size = fit_size(content.shape[-1], content.shape[-2], longest)
        ts = time.perf_counter()
        scaled = resize(content, size)

        def style_at_scale(s: torch.Tensor) -> torch.Tensor:
            return fit_style(s, size, c.style_scale, c.style_fit)

        tiles = self._tiling.get(si)
        tiler = Tiler(self._tile_core, TILE_HALO, self._align) if tiles else None  # bounded memory for targets too
        targets = self._content_targets(scaled, tiler) | self._style_targets(
            [style_at_scale(s) for s in images.styles], images.blend, tiler
        )
        if images.masks:
            regions = []
            for mask, painting in zip(images.masks, images.mask_styles, strict=True):
                m = torch.nn.functional.interpolate(mask[None], size=(size[1], size[0]), mode="area")
                if painting is None:
                    regions.append(Region(m, None))
                else:
                    half = self._style_targets([style_at_scale(painting)], ())
                    regions.append(Region(m, half.style, half.scale))
            targets.regions = regions
            targets.rest = (1 - sum(r.mask for r in regions)).clamp(0, 1)
        self.loss.targets = targets
        self._objective = TiledObjective(self.loss, tiles, size[1], size[0]) if tiles else None
        timer["targets_s"] += time.perf_counter() - ts
        resuming = state.optimizer_state is not None and si == state.scale
        self._temporal = None
        if images.guide is not None:  # video: the warped previous frame, at this scale
            init, mask, weight = images.guide
            self._temporal = (
                resize(init, size),
                torch.nn.functional.interpolate(mask, size=(size[1], size[0]), mode="area"),
                weight,
            )
        if state.pixels is None:
            x = self._init(scaled, generator) if self._temporal is None else self._temporal[0]
        elif resuming:
            x = state.pixels
        else:  # the previous scale's result, upsampled
            x = self._enlarge(state.pixels.detach(), scaled)
            state.scale_step = 0
        state.scale, state.retries = si, 0
        state.health.start_scale(si, state.scale_losses(si))
        state.pixels = x.detach().clone().requires_grad_(True)
        if c.optimizer == "adam" and c.ema and not (resuming and state.average is not None):
            state.average = IterateAverage(state.pixels, c.ema)  # restarts per scale: the image is resampled
        state.optimizer = self._optimizer(c.replace(lr=state.lr), state.pixels)
        if resuming:
            state.optimizer.load_state_dict(state.optimizer_state)
            state.optimizer_state = None
        # The guard's two copies of the iterate; at tiled (print) sizes in float16, half the bytes of two of the
        # few image-sized buffers left: a restore (rare) lands within 2^-11 of the accepted image, an eighth
        # of an 8-bit level.
        guard = GUARD_DTYPE if tiles else state.pixels.dtype
        state.good = state.pixels.detach().to(guard, copy=True)
        state.here = torch.empty_like(state.good)  # reused by every step of the scale, not allocated per step
        return size

    def _enlarge(self, coarse: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
        """The start of a finer scale: the coarser result at ``photo``'s size, plus ``photo_detail`` x the photo's
        detail that the coarser scale could not hold (the photo minus the photo through the coarser size).

        Without it a face painted at the coarsest scale, where an eye is two pixels, is inherited, blurred, by
        every finer scale, and the content term (relu4_2) is too coarse to draw the eyes back.
        """
        size = (photo.shape[-1], photo.shape[-2])
        x = resize(coarse, size)
        detail = self.config.photo_detail
        if detail == 0:
            return x
        lost = photo - resize(resize(photo, (coarse.shape[-1], coarse.shape[-2])), size)
        return (x + detail * lost).clamp(0, 1)

    def _content_targets(self, image: torch.Tensor, tiler: Tiler | None = None) -> Targets:
        if self.targets is None:
            return self.loss.content_targets(image, tiler)
        return self.targets.content(self.loss, self.network, image, tiler)

    def _style_targets(
        self, images: list[torch.Tensor], blend: tuple[float, ...], tiler: Tiler | None = None
    ) -> Targets:
        if self.targets is None:
            return self.loss.style_targets(images, blend, tiler)
        return self.targets.style(self.loss, self.network, images, blend, tiler)

    def _images(self, inputs: RunInputs) -> _RunImages:
        """The run's images on its device, in the colours it optimises (see :mod:`restyle.engine.color`)."""
        c = self.config
        dev = self.device
        original = inputs.content.pixels[None].to(dev)
        styles = [s[None].to(dev) for s in inputs.style_pixels]
        paintings = [None if p is None else p[None].to(dev) for p in inputs.mask_styles]
        masks = [m.to(dev) for m in inputs.masks]
        content = original
        guide = None
        if inputs.guide is not None:  # video: start there, in the colours optimised
            g = inputs.guide.init[None].to(dev)
            g = color.luminance(g) if c.preserve_color == "luminance" else g
            guide = (g, inputs.guide.mask[None].to(dev), inputs.guide.weight)
        if c.preserve_color == "luminance":
            content = color.luminance(original)
            styles = [color.match_luminance(s, original) for s in styles]
            paintings = [None if p is None else color.match_luminance(p, original) for p in paintings]
        elif c.preserve_color == "histogram":
            styles = [color.match_histogram(s, original) for s in styles]
            paintings = [None if p is None else color.match_histogram(p, original) for p in paintings]
        self._fast_styles = (styles, parse_blend_weights(c))  # for --init fast (_init); set before any scale
        return _RunImages(
            content,
            original,
            styles,
            parse_blend_weights(c),
            masks,
            paintings,
            luminance=c.preserve_color == "luminance",
            guide=guide,
        )

    def _guarded_step(self, state: RunState) -> tuple[dict[str, float], str]:
        """One optimiser step, watched by the health guard (:mod:`restyle.engine.health`).

        A non-finite loss or image, or a loss that jumped far above the best so far, restores the
        last iterate whose loss was accepted and retries with half the step size (non-finite ones
        at most :data:`MAX_RETRIES` times per scale, then :class:`NumericalError`); a stalled loss
        resets the optimiser's memory. Returns the loss terms and a note ("" unless something
        happened).
        """
        c = self.config
        x, note = state.pixels, ""
        assert x is not None and state.optimizer is not None and state.good is not None and state.here is not None
        while True:
            state.here.copy_(x.detach())  # the iterate this step evaluates
            values = self._step(state.optimizer, x)
            finite = all(math.isfinite(v) for v in values.values()) and bool(torch.isfinite(x).all())
            verdict = state.health.check(values["total"], state.step + 1, finite)
            if not verdict.restore:
                break
            if verdict.kind == "nonfinite":
                state.retries += 1
                if state.retries > MAX_RETRIES:
                    raise NumericalError(
                        f"loss is not finite at step {state.step + 1} even after {MAX_RETRIES} smaller steps; "
                        "try a smaller --lr or smaller loss weights"
                    )
            state.lr /= 2
            with torch.no_grad():
                x.copy_(state.good)
            state.optimizer = self._optimizer(c.replace(lr=state.lr), x)
            note = f"{verdict.note}: restored last good image, lr now {state.lr:g}"
            state.notes.append(note)
        state.good.copy_(state.here)
        if verdict.reset:  # stalled: the same iterate, a fresh optimiser memory
            state.optimizer = self._optimizer(c.replace(lr=state.lr), x)
        if verdict.note:
            state.notes.append(verdict.note)
        if c.optimizer == "adam":
            with torch.no_grad():
                x.clamp_(0, 1)
        return values, join_notes(note, verdict.note)

    def _result(
        self,
        state: RunState,
        inputs: RunInputs,
        images: _RunImages,
        total: float,
        targets_s: float,
        snapshot: Callable[[], Checkpoint],
    ) -> StylizeResult:
        x = state.output()
        interrupted = self._stop
        checkpoint = snapshot() if interrupted else None
        # Losses of the final image itself (the last event reports the iterate before the last update).
        with torch.no_grad():
            evaluate = self._objective.evaluate if self._objective is not None else self.loss
            final_terms = {k: float(v) for k, v in self._with_temporal(evaluate(x), x).items()}
        pixels = images.present(x)[0].clamp(0, 1).float().cpu()
        alpha = inputs.content.alpha
        if alpha is not None:
            alpha = resize(alpha[None], (pixels.shape[2], pixels.shape[1]))[0].cpu()
        timings = {
            "total_s": total,
            "targets_s": targets_s,
            "optimize_s": total - targets_s,
            "steps": state.step,
            "s_per_step": (total - targets_s) / max(state.step, 1),
        }
        return StylizeResult(
            pixels,
            alpha,
            final_terms,
            timings,
            dataclasses.replace(self.config, precision=self.precision),  # records what ran, never "auto"
            self.model,
            state.history,
            state.notes,
            interrupted,
            checkpoint,
            weights_used=dict(self.weights.provenance),
        )

    def _optimizer(self, config: RunConfig, x: torch.Tensor) -> torch.optim.Optimizer:
        """:func:`make_optimizer` for the scale of ``x``: L-BFGS's first step is :data:`FIRST_STEP` at scales
        larger than :data:`PIXEL_FIRST_STEP_SIDE`, where torch's ``1/‖g‖₁`` step is lost, and torch's own at
        smaller ones (what every default and quality figure was measured with) and for video frames, which start
        at the warped previous frame a pixel-sized first step would leave. The rule follows the size alone, so
        whether a scale is tiled (chosen from free memory) does not change its first step."""
        pixel_sized = max(x.shape[-2:]) > PIXEL_FIRST_STEP_SIDE and self._temporal is None
        return make_optimizer(config, x, FIRST_STEP if pixel_sized else None)

    def _step(self, opt: torch.optim.Optimizer, x: torch.Tensor) -> dict[str, float]:
        """One optimiser step (exactly one forward and backward); returns the loss terms evaluated."""
        terms: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=False)
            if self._objective is not None:  # tiled: the objective fills x.grad itself
                out = self._objective(x)
                if self._temporal is not None:  # the temporal term's gradient joins the tiles'
                    out = {k: v.detach() for k, v in self._with_temporal(out, x, backward=True).items()}
                terms.update(out)
                return out["total"]
            out = self._with_temporal(self.loss(x), x)
            terms.update(out)
            out["total"].backward()
            return out["total"]

        opt.step(closure)
        # One host transfer for all the terms (one sync on a GPU, not one per term).
        values = torch.stack([v.detach().float() for v in terms.values()]).tolist()
        return dict(zip(terms, values, strict=True))

    def _with_temporal(
        self, terms: dict[str, torch.Tensor], x: torch.Tensor, backward: bool = False
    ) -> dict[str, torch.Tensor]:
        """``terms`` plus the video guide's temporal term (in ``total`` too); unchanged without a guide."""
        if self._temporal is None or self._temporal[2] == 0:
            return terms
        target, mask, weight = self._temporal
        t = weight * temporal_loss(x, target, mask)
        if backward:
            t.backward()
        return {**terms, "temporal": t, "total": terms["total"] + t}

    def _init(self, content: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        kind, arg = parse_init(self.config.init)
        if kind == "content":
            return content.clone()
        if kind == "fast":  # the feed-forward network's picture at this scale's size, in the colours optimised
            styles, _ = self._fast_styles  # set by _images: the paintings in those colours
            net = fast.network(str(content.device), self.precision)
            x = fast.paint(net, content, styles, dataclasses.replace(self.config, preserve_color="none"))
            return color.luminance(x) if self.config.preserve_color == "luminance" else x
        if kind == "file":
            data = load_input(str(arg))
            return resize(data.pixels[None].to(content.device), (content.shape[-1], content.shape[-2]))
        noise = noise_image(self.config.noise, content, generator, self.weights.preprocessing)
        if kind == "noise":
            return noise
        assert isinstance(arg, float)
        return arg * noise + (1 - arg) * content


def stylize(
    content: ImageLike,
    style: ImageLike | list[ImageLike],
    config: RunConfig | None = None,
    callback: Callback | None = None,
) -> Image.Image:
    """Repaint ``content`` in the style of ``style``; returns the result as a PIL image.

    ``content``/``style`` may be paths, PIL images, :class:`~restyle.io.image.ImageData` or
    ``(3, H, W)`` tensors in [0, 1]. ``callback`` receives an :class:`Iterate` after every step.
    Raises :class:`~restyle.engine.memory.OutOfMemory` if an allocation fails mid-run.
    """
    result = Stylizer(config).run(content, style, callback)
    if result.out_of_memory:
        raise OutOfMemory(f"{result.out_of_memory}; {MEMORY_ADVICE}")
    return result.image()


def _first_line(error: BaseException) -> str:
    """The allocator's own words, short: ``you tried to allocate 1610612736 bytes`` and the like."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor in a nested dict/list/tuple (e.g. an optimiser state_dict)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj
