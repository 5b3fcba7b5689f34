"""``--method fast`` as a runner an executor uses in place of a :class:`~restyle.engine.stylize.Stylizer`.

:class:`FastStylizer` has the Stylizer's interface as executors use it (``run(inputs, style,
callback) -> StylizeResult``, ``request_stop``, ``on_tile``, ``config``, ``model``, ``device``), so
batch, sweep, skip of finished outputs, metadata and atomic writes work unchanged. It emits one
:class:`Iterate` (the finished picture). A video frame's guide (the previous stylised frame warped along the flow) is
blended in where the flow holds (:data:`TEMPORAL_BLEND`). The optimisation's settings (optimiser, iterations, layers,
weights, ``init``, ``tol``, tiling, ...) do not apply; the result's notes name those given other
values than their defaults.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch

from restyle.config import RunConfig
from restyle.engine import fast
from restyle.engine.checkpoint import Checkpoint
from restyle.engine.events import Callback, Iterate, TileDone
from restyle.engine.inputs import ImageLike, RunInputs, load_run_inputs
from restyle.engine.pyramid import fit_size, resize
from restyle.engine.stylize import StylizeResult, resolve_device
from restyle.errors import ConfigError
from restyle.fast import FastNetwork
from restyle.fast.weights import DESCRIPTION
from restyle.features.precision import resolve_precision

#: The settings that mean something to ``--method fast``; every other image setting is the optimisation's.
FAST_SETTINGS = frozenset(
    {
        "method",
        "strength",
        "preserve_color",
        "style_blend",
        "mask",
        "mask_style",
        "size",
        "image_size",
        "image_fit",
        "style_scale",
        "style_fit",
        "precision",
        "device",
        "alpha",
        "background",
        "bit_depth",
        "save_every",
        "checkpoint_every",
        "preset",
    }
)


#: Video frames (``restyle video --method fast``): the share of the previous stylised frame, warped along the
#: optical flow, in each new frame where the warp holds (its consistency mask): an average along the motion.
TEMPORAL_BLEND = 0.5


def ignored_settings(config: RunConfig) -> list[str]:
    """The optimisation's settings that ``config`` gives other values than the defaults (fast ignores them)."""
    default = RunConfig()
    return [
        f.name
        for f in dataclasses.fields(config)
        if f.name not in FAST_SETTINGS and getattr(config, f.name) != getattr(default, f.name)
    ]


class FastStylizer:
    """One pass of the feed-forward network per job (see the module docstring)."""

    def __init__(self, config: RunConfig, network: FastNetwork | None = None) -> None:
        self.config = config.validate()
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        self.net = network if network is not None else fast.network(str(self.device), self.precision)
        self.model = DESCRIPTION
        self.targets = None
        self.on_tile: Callable[[TileDone], None] | None = None  # never called: one untiled pass
        self._stop = False

    def request_stop(self) -> None:
        """Nothing to stop between steps: the one pass takes well under a second at 1024 px."""
        self._stop = True

    def run(
        self,
        content: ImageLike | RunInputs | None,
        style: Any = None,
        callback: Callback | None = None,
        *,
        resume: Checkpoint | None = None,
    ) -> StylizeResult:
        """The fast picture of ``content`` (or loaded :class:`RunInputs`) in ``style``; one Iterate to ``callback``."""
        if resume is not None:
            raise ConfigError("--method fast writes no checkpoints: run it again instead of resuming")
        c = self.config
        t0 = time.perf_counter()
        if isinstance(content, RunInputs):
            inputs = content
        elif content is None or style is None:
            raise ConfigError("content and style images are required")
        else:
            inputs = load_run_inputs(c, content, style)
        pixels = inputs.content.pixels
        cw, ch = pixels.shape[2], pixels.shape[1]
        size = fit_size(cw, ch, max(cw, ch) if c.image_size else c.size)
        photo = resize(pixels[None].to(self.device), size)
        masks = [torch.nn.functional.interpolate(m[None], size=(size[1], size[0]), mode="area") for m in inputs.masks]
        paintings = [None if p is None else p[None] for p in inputs.mask_styles]
        out = fast.paint(self.net, photo, [s[None] for s in inputs.style_pixels], c, masks, paintings)
        guide = inputs.guide
        if guide is not None and guide.weight > 0:  # video: blend with the previous picture where the flow holds
            mask = torch.nn.functional.interpolate(guide.mask[None].to(out), size=(size[1], size[0]), mode="area")
            held = TEMPORAL_BLEND * mask
            out = (1 - held) * out + held * resize(guide.init[None].to(out), size)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        pixels_out = out[0].clamp(0, 1).float().cpu()
        total = time.perf_counter() - t0
        alpha = inputs.content.alpha
        if alpha is not None:
            alpha = resize(alpha[None], size)[0].cpu()
        ignored = ignored_settings(c)
        notes = [f"--method fast ignores the optimisation's settings: {', '.join(ignored)}"] if ignored else []
        if callback is not None:
            callback(Iterate(1, 1, 0, 1, 1, size, {}, total, out.detach()))
        timings = {"total_s": total, "targets_s": 0.0, "optimize_s": total, "steps": 1, "s_per_step": total}
        return StylizeResult(
            pixels_out,
            alpha,
            {},
            timings,
            dataclasses.replace(c, precision=self.precision),
            self.model,
            notes=notes,
        )
