"""The core loop: ``stylize(content, style, config)`` and the reusable :class:`Stylizer`."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from restyle.config import RunConfig, parse_colour, parse_init
from restyle.engine.checkpoint import Checkpoint
from restyle.engine.events import Callback, Iterate
from restyle.engine.inputs import load_run_inputs, noise_image
from restyle.engine.optim import DEFAULT_LR, make_optimizer
from restyle.engine.pyramid import fit_size, resize, scale_sizes
from restyle.errors import ConfigError, NumericalError
from restyle.features import weights as registry
from restyle.features.convert import VGGWeights
from restyle.features.layers import resolve_layer
from restyle.features.vgg import VGGFeatures, min_input_size
from restyle.io.image import ImageData, pil_to_tensor, read_image, tensor_to_pil
from restyle.losses.perceptual import PerceptualLoss

ImageLike = str | os.PathLike | Image.Image | ImageData | torch.Tensor

#: How many times a step that produced NaN/inf is retried with a halved step size.
MAX_RETRIES = 6


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
    interrupted: bool = False  #: True when stopped early by :meth:`Stylizer.request_stop`
    checkpoint: Checkpoint | None = None  #: state to resume from, when interrupted

    def image(self) -> Image.Image:
        """The result as an 8-bit PIL image (RGBA when the content had transparency)."""
        return tensor_to_pil(self.pixels, self.alpha)

    def summary(self) -> dict[str, Any]:
        """JSON-able record: config, model, final losses, timings, notes."""
        return {
            "config": self.config.to_dict(), "model": self.model, "losses": self.losses,
            "timings": self.timings, "notes": self.notes, "interrupted": self.interrupted,
            "size": list(self.pixels.shape[-1:-3:-1]),
        }


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when available, else cpu; ``cuda`` without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but no CUDA GPU is available (use --device cpu)")
    return torch.device(name)


def load_input(image: ImageLike, max_side: int | None = None, config: RunConfig | None = None) -> ImageData:
    """Any supported image input as :class:`ImageData` (files are read with EXIF/ICC handling).

    ``config.alpha``/``config.background`` decide what happens to transparency in files.
    """
    if isinstance(image, ImageData):
        return image
    if isinstance(image, Image.Image):
        rgb = image.convert("RGB")
        return ImageData(pil_to_tensor(rgb), None, 8, "<PIL image>", rgb.size)
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        t = t[0] if t.dim() == 4 else t
        if t.dim() != 3 or t.shape[0] != 3:
            raise ConfigError(f"image tensors must be (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
        return ImageData(t.clamp(0, 1), None, 8, "<tensor>", (t.shape[2], t.shape[1]))
    if config is None:
        return read_image(image, max_side=max_side)
    return read_image(image, max_side=max_side, alpha=config.alpha, background=parse_colour(config.background))


class Stylizer:
    """Loads the model once and runs any number of stylisations with one config.

    ``Stylizer(config).run(content, style, callback)`` is what :func:`stylize` does;
    keep the object to run several pairs without reloading weights.
    """

    def __init__(self, config: RunConfig | None = None, weights: VGGWeights | None = None) -> None:
        self.config = (config or RunConfig()).validate()
        self.device = resolve_device(self.config.device)
        if weights is None:
            weights, self.model = registry.load(self.config.model, self.config.weights)
        else:
            self.model = f"{weights.arch} weights from {weights.source}"
        self.weights = weights
        arch = weights.arch
        c = self.config
        self.content_layers = {resolve_layer(n, arch): w for n, w in c.content_layers.items()}
        self.style_layers = {resolve_layer(n, arch): w for n, w in c.style_layers.items()}
        for kind, given, resolved in (("content_layers", c.content_layers, self.content_layers),
                                      ("style_layers", c.style_layers, self.style_layers)):
            if len(resolved) < len(given):  # e.g. relu4_2 and its Keras alias block4_conv2
                raise ConfigError(f"{kind}: {', '.join(given)} names the same layer twice")
        layers = list(self.content_layers) + list(self.style_layers)
        self.min_side = min_input_size(arch, layers)
        self.extractor = VGGFeatures(weights, layers, c.pooling).to(self.device)
        self._stop = False
        self.loss = PerceptualLoss(
            self.extractor, self.content_layers, self.style_layers, c.content_weight, c.style_weight,
            c.tv_weight, c.tv_exponent, c.normalize,
        )

    def request_stop(self) -> None:
        """Ask a running :meth:`run` to stop after the current step (safe from a signal handler).

        The run then returns its current image with ``interrupted=True`` and a checkpoint.
        """
        self._stop = True

    # ------------------------------------------------------------------ run
    def run(self, content: ImageLike | None, style: ImageLike | list[ImageLike] | None,
            callback: Callback | None = None, *, resume: Checkpoint | None = None) -> StylizeResult:
        """Stylise ``content`` with ``style`` (a list of styles is blended equally).

        With ``resume`` (a checkpoint of a run with the same config) ``content`` and ``style``
        may be None: the images stored in the checkpoint are used, and the run continues to
        the same result as an uninterrupted one.
        """
        c = self.config
        self._stop = False
        t0 = time.perf_counter()
        if resume is not None:
            if resume.config != c.to_dict():
                raise ConfigError("the checkpoint was written with other settings; resume it with its own config")
            w_h = (resume.content.shape[2], resume.content.shape[1])
            content_data = ImageData(resume.content, resume.alpha, 8, "<checkpoint>", w_h)
            style_pixels = list(resume.styles)
            t0 -= resume.elapsed
        else:
            if content is None or style is None:
                raise ConfigError("content and style images are required")
            _, content_data, style_data = load_run_inputs(c, content, style)  # applies --image-size
            style_pixels = [d.pixels for d in style_data]
        cw, ch = content_data.pixels.shape[2], content_data.pixels.shape[1]
        longest = max(cw, ch) if c.image_size else c.size  # a fixed --image-size replaces --size
        final = fit_size(cw, ch, longest)
        if min(final) < self.min_side:
            raise ConfigError(
                f"size {longest} makes the image {final[0]}x{final[1]} px; the layers in use need at least "
                f"{self.min_side} px on the shorter side"
            )
        aspect = min(final) / max(final)
        sizes = scale_sizes(longest, c.scales, min_size=max(64, math.ceil(self.min_side / aspect)))
        dev = self.device
        content_px = content_data.pixels[None].to(dev)
        style_px = [s[None].to(dev) for s in style_pixels]

        kind, arg = parse_init(c.init)
        gen = torch.Generator().manual_seed(c.seed)
        history: list[dict[str, Any]] = list(resume.history) if resume else []
        notes: list[str] = list(resume.notes) if resume else []
        total_steps = c.iterations * len(sizes)
        step = resume.step if resume else 0
        x: torch.Tensor | None = None
        t_targets = 0.0
        last: dict[str, float] = {}
        interrupted = False
        opt: torch.optim.Optimizer | None = None
        lr = c.lr if c.lr is not None else DEFAULT_LR[c.optimizer]
        si = k = 0

        def snapshot() -> Checkpoint:
            assert x is not None and opt is not None
            return Checkpoint(
                config=c.to_dict(), content=content_data.pixels, styles=style_pixels, scale=si, scale_step=k,
                step=step, pixels=x.detach().cpu().clone(), optimizer=copy.deepcopy(_to_cpu(opt.state_dict())),
                lr=lr, elapsed=time.perf_counter() - t0, history=list(history), notes=list(notes),
                alpha=content_data.alpha,
            )

        first_scale = resume.scale if resume else 0
        for si in range(first_scale, len(sizes)):
            longest = sizes[si]
            size = fit_size(cw, ch, longest)
            ts = time.perf_counter()
            self.loss.set_content(resize(content_px, size))
            self.loss.set_style([resize(s, fit_size(s.shape[-1], s.shape[-2], round(longest * c.style_scale)))
                                 for s in style_px])
            t_targets += time.perf_counter() - ts
            k = 0
            if resume is not None and si == first_scale:
                x = resume.pixels.to(dev)
                lr, k = resume.lr, resume.scale_step
            elif x is None:
                x = self._init(kind, arg, resize(content_px, size), gen)
            else:
                x = resize(x.detach(), size)
            x = x.detach().clone().requires_grad_(True)
            opt = make_optimizer(c.replace(lr=lr), x)
            if resume is not None and si == first_scale:
                opt.load_state_dict(_to_device(resume.optimizer, dev))
            good = x.detach().clone()
            retries = 0
            note = ""  # a retry's note rides on the next emitted event
            while k < c.iterations and not interrupted:
                values = self._step(opt, x)
                if not all(math.isfinite(v) for v in values.values()) or not torch.isfinite(x).all():
                    # Restore the last good iterate and retry with half the step size.
                    retries += 1
                    if retries > MAX_RETRIES:
                        raise NumericalError(
                            f"loss is not finite at step {step + 1} even after {MAX_RETRIES} smaller steps; "
                            "try a smaller --lr or smaller loss weights"
                        )
                    lr /= 2
                    with torch.no_grad():
                        x.copy_(good)
                    opt = make_optimizer(c.replace(lr=lr), x)
                    note = f"non-finite loss at step {step + 1}: restored last good image, lr now {lr:g}"
                    notes.append(note)
                    continue
                if c.optimizer == "adam":
                    with torch.no_grad():
                        x.clamp_(0, 1)
                with torch.no_grad():
                    good.copy_(x)
                k += 1
                step += 1
                last = values
                history.append({"step": step, "scale": si, **values})
                if callback is not None:
                    callback(Iterate(step, total_steps, si, len(sizes), k, size, values,
                                     time.perf_counter() - t0, x, note, snapshot))
                note = ""
                interrupted = self._stop
            if interrupted:
                break
        assert x is not None
        checkpoint = snapshot() if interrupted else None
        # Losses of the final image itself (the last event reports the iterate before the last update).
        with torch.no_grad():
            final_terms = {k_: float(v) for k_, v in self.loss(x.detach()).items()}
        pixels = x.detach()[0].clamp(0, 1).float().cpu()
        alpha = None
        if content_data.alpha is not None:
            alpha = resize(content_data.alpha[None], (pixels.shape[2], pixels.shape[1]))[0].cpu()
        total = time.perf_counter() - t0
        timings = {
            "total_s": total, "targets_s": t_targets, "optimize_s": total - t_targets,
            "steps": step, "s_per_step": (total - t_targets) / max(step, 1),
        }
        return StylizeResult(pixels, alpha, final_terms or last, timings, c, self.model, history, notes,
                             interrupted, checkpoint)

    def _step(self, opt: torch.optim.Optimizer, x: torch.Tensor) -> dict[str, float]:
        """One optimiser step (exactly one forward and backward); returns the loss terms evaluated."""
        terms: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=False)
            out = self.loss(x)
            terms.update(out)
            out["total"].backward()
            return out["total"]

        opt.step(closure)
        return {name: float(v.detach()) for name, v in terms.items()}

    def _init(self, kind: str, arg: Any, content: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if kind == "content":
            return content.clone()
        noise = noise_image(self.config.noise, content, gen, self.weights.preprocessing)
        if kind == "noise":
            return noise
        if kind == "mix":
            return arg * noise + (1 - arg) * content
        data = load_input(arg)
        return resize(data.pixels[None].to(content.device), (content.shape[-1], content.shape[-2]))


def stylize(content: ImageLike, style: ImageLike | list[ImageLike], config: RunConfig | None = None,
            callback: Callback | None = None) -> Image.Image:
    """Repaint ``content`` in the style of ``style``; returns the result as a PIL image.

    ``content``/``style`` may be paths, PIL images, :class:`~restyle.io.image.ImageData` or
    ``(3, H, W)`` tensors in [0, 1]. ``callback`` receives an :class:`Iterate` after every step.
    """
    return Stylizer(config).run(content, style, callback).image()


def _map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor in a nested dict/list/tuple (e.g. an optimiser state_dict)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj


def _to_cpu(obj: Any) -> Any:
    """Detached CPU copies of the tensors in ``obj`` (for checkpoints)."""
    return _map_tensors(obj, lambda t: t.detach().cpu())


def _to_device(obj: Any, device: torch.device) -> Any:
    """Inverse of :func:`_to_cpu` for ``device``."""
    return _map_tensors(obj, lambda t: t.to(device))
