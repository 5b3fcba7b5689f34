"""Inputs the seed recipes need: fixed image sizes (``--image-size``) and their start noise (``--noise``).

Both are small pure functions so that the core loop, the sweep runner and the tests share one
implementation:

* :func:`fixed_size_inputs` resizes the content (and its alpha) and every style image to the
  exact ``WxH`` of ``config.image_size`` -- stretched, or centre-cropped to the aspect first
  (``image_fit="crop"``, as PIL's ``ImageOps.fit`` in Stanford CS20's code);
* :func:`noise_image` draws the noise of ``--init noise``/``mix:R``: restyle's uniform [0, 1]
  image, or the seeds' small noise around the weights' mean pixel (they draw it in the
  mean-subtracted 0-255 network input, so 0 there is the mean pixel);
* :func:`load_run_inputs` loads content and styles once, as every run does, applying the fixed
  size, into :class:`RunInputs` (with the config's ``size`` set to the resulting longest side and
  the inputs' :func:`fingerprint`), which is then passed down unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from restyle.config import KEEP, RunConfig, parse_blend, parse_colour, parse_image_size, parse_list, parse_noise
from restyle.engine.pyramid import fit_size, resize
from restyle.errors import ConfigError, ImageError
from restyle.features.preprocessing import Preprocessing
from restyle.io.image import ImageData, pil_to_tensor, read_image

#: How much larger than ``size`` a stretched or cropped style image is read at most (see :func:`load_style`).
STYLE_READ_MAX = 2.0

#: What a run accepts as an image: a path, a PIL image, loaded :class:`ImageData`, or a (3, H, W) tensor in [0, 1].
ImageLike = str | os.PathLike | Image.Image | ImageData | torch.Tensor


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


def fingerprint(
    content: torch.Tensor,
    alpha: torch.Tensor | None,
    styles: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor] = (),
    mask_styles: Sequence[torch.Tensor | None] = (),
) -> str:
    """sha256 (hex) of the input pixels as the run sees them: identical inputs give identical runs.

    The one identity of a run's inputs: skip/resume of batches, sweep cells and checkpoints all use it.
    Region masks and their paintings count only when there are any (so older results still match).
    """
    h = hashlib.sha256()
    extra = [*masks, *mask_styles] if masks else []
    for t in (content, alpha, *styles, *extra):
        if t is None:
            h.update(b"none")
            continue
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class TemporalGuide:
    """A start image and a pull towards it (a video frame: the previous stylised frame warped along the flow).

    The run starts from ``init`` and adds ``weight · temporal_loss(x, init, mask)`` to its loss
    (Ruder et al. 2016); ``mask`` (``(1, H, W)`` in [0, 1]) is 0 where the warp is not to be
    trusted (occluded, disoccluded, motion boundaries). ``weight`` 0 only warm-starts.
    """

    init: torch.Tensor  #: (3, H, W) in [0, 1], the content's size
    mask: torch.Tensor  #: (1, H, W) in [0, 1]
    weight: float

    def digest(self) -> bytes:
        """The guide's identity, for the inputs' fingerprint."""
        h = hashlib.sha256(repr(self.weight).encode())
        for t in (self.init, self.mask):
            h.update(repr(tuple(t.shape)).encode())
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.digest()


@dataclass(frozen=True)
class RunInputs:
    """A run's images as loaded once (see :func:`load_run_inputs`), with the config they were loaded for."""

    config: RunConfig  #: with ``size`` set to the fixed ``image_size``'s longest side, when one is given
    content: ImageData
    styles: list[ImageData]
    masks: list[torch.Tensor] = field(default_factory=list)  #: (1, H, W) in [0, 1], the content's size
    mask_styles: list[torch.Tensor | None] = field(default_factory=list)  #: (3, h, w) pixels, None: keep
    guide: TemporalGuide | None = None  #: video frames: start image and temporal term

    @property
    def style_pixels(self) -> list[torch.Tensor]:
        """The ``(3, H, W)`` pixels of each style image."""
        return [s.pixels for s in self.styles]

    def fingerprint(self) -> str:
        """:func:`fingerprint` of these inputs (with the guide's, when there is one)."""
        base = fingerprint(self.content.pixels, self.content.alpha, self.style_pixels, self.masks, self.mask_styles)
        if self.guide is None:
            return base
        return hashlib.sha256(base.encode() + self.guide.digest()).hexdigest()


def fixed_size(spec: str, width: int, height: int) -> tuple[int, int]:
    """``(w, h)`` of ``image_size`` ``spec`` for an image of ``width`` x ``height``.

    A missing side follows the aspect ratio, truncated as Keras' ``int(nrows / H * W)``.
    """
    w, h = parse_image_size(spec)
    if w is None:
        assert h is not None
        w = max(1, int(h / height * width))
    if h is None:
        h = max(1, int(w / width * height))
    return w, h


def fit_pixels(pixels: torch.Tensor, size: tuple[int, int], fit: str = "stretch") -> torch.Tensor:
    """Resize a ``(C, H, W)`` tensor to ``size`` = (w, h); ``fit="crop"`` centre-crops to the aspect first."""
    return fit_batch(pixels[None], size, fit)[0]


def fit_batch(pixels: torch.Tensor, size: tuple[int, int], fit: str = "stretch") -> torch.Tensor:
    """:func:`fit_pixels` of an ``(N, C, H, W)`` batch."""
    w, h = size
    src_h, src_w = pixels.shape[-2], pixels.shape[-1]
    if fit == "crop" and src_w * h != src_h * w:
        if src_w * h > src_h * w:  # too wide: keep the full height
            cw = max(1, round(src_h * w / h))
            x0 = (src_w - cw) // 2
            pixels = pixels[..., :, x0 : x0 + cw]
        else:
            ch = max(1, round(src_w * h / w))
            y0 = (src_h - ch) // 2
            pixels = pixels[..., y0 : y0 + ch, :]
    return resize(pixels, (w, h))


def fit_style(style: torch.Tensor, size: tuple[int, int], scale: float = 1.0, fit: str = "stretch") -> torch.Tensor:
    """An ``(N, 3, h, w)`` painting as a scale of ``size`` = (w, h) uses it (``style_scale``, ``style_fit``).

    ``stretch``/``crop``: resized to ``scale`` times the content's sides (crop: centre-cropped to its
    aspect first); ``keep``: its own aspect, longest side ``scale`` times the content's.
    """
    if fit == "keep":
        return resize(style, fit_size(style.shape[-1], style.shape[-2], round(max(size) * scale)))
    return fit_batch(style, (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))), fit)


def load_style(image: ImageLike, side: int, content: ImageData, config: RunConfig) -> ImageData:
    """A style image read at ``side`` px longest side, or larger where ``style_fit`` needs it.

    Stretched or cropped to a content of another aspect, one of its sides must reach the content's:
    it is read again at up to :data:`STYLE_READ_MAX` times ``side`` so that no scale upsamples it.
    """
    style = load_input(image, max_side=side, config=config)
    if config.style_fit == "keep" or config.image_size is not None:
        return style
    (_, h, w), (_, ch, cw) = style.pixels.shape, content.pixels.shape
    k = side / max(ch, cw)  # the content's sides times this are the sides the style must have
    need = max(cw * k / w, ch * k / h)
    if need <= 1.0 + 1e-6 or max(style.original_size) <= max(w, h):
        return style
    return load_input(image, max_side=round(side * min(need, STYLE_READ_MAX)), config=config)


def fixed_size_inputs(
    config: RunConfig, content: ImageData, styles: list[torch.Tensor]
) -> tuple[ImageData, list[torch.Tensor]]:
    """Content (with alpha) and style pixels resized to ``config.image_size``; unchanged when it is None.

    Idempotent: inputs already at the size come back as they are.
    """
    if config.image_size is None:
        return content, styles
    ref_w, ref_h = content.original_size
    size = fixed_size(config.image_size, ref_w, ref_h)
    pixels = fit_pixels(content.pixels, size, config.image_fit)
    alpha = None if content.alpha is None else fit_pixels(content.alpha, size, config.image_fit)
    resized = dataclasses.replace(content, pixels=pixels, alpha=alpha)
    return resized, [fit_pixels(s, size, config.image_fit) for s in styles]


def mean_pixel(preprocessing: Preprocessing) -> torch.Tensor:
    """The RGB [0, 1] colour the network sees as 0 (the dataset mean), shape ``(3,)``."""
    mean = torch.tensor(preprocessing.mean, dtype=torch.float32) / preprocessing.scale
    return mean.flip(0) if preprocessing.channel_order == "BGR" else mean


def noise_image(
    spec: str, like: torch.Tensor, generator: torch.Generator, preprocessing: Preprocessing
) -> torch.Tensor:
    """Noise shaped like ``like`` (``(N, 3, H, W)``) on its device, drawn from ``generator``.

    ``unit``: uniform in [0, 1] per pixel (restyle's default). ``uniform:A``: the mean pixel plus
    U(-A, A)/255 (sbavon: A=10, CS20: A=20). ``normal:S``: the mean pixel plus N(0, S²)/255
    (neural-style: ``randn * 0.001`` in the Caffe input, S=0.001).
    """
    kind, amount = parse_noise(spec)
    if kind == "unit":
        return torch.rand(like.shape, generator=generator).to(like.device)
    if kind == "uniform":
        noise = (torch.rand(like.shape, generator=generator) * 2 - 1) * (amount / 255)
    else:
        noise = torch.randn(like.shape, generator=generator) * (amount / 255)
    return (noise + mean_pixel(preprocessing).view(1, 3, 1, 1)).to(like.device)


def load_run_inputs(config: RunConfig, content: ImageLike, style: ImageLike | list[ImageLike]) -> RunInputs:
    """Load content and styles exactly as a run with ``config`` does, with the fixed size applied.

    With ``image_size`` the returned config's ``size`` becomes the longest side of the fixed size
    (so a :class:`Stylizer` built with that config runs at exactly ``WxH``). Loading loaded
    :class:`RunInputs` again returns them unchanged.
    """
    items: list[Any] = style if isinstance(style, list) else [style]
    side = round(config.size * config.style_scale)
    if config.image_size is None:
        c = load_input(content, max_side=config.size, config=config)
        styles = [load_style(s, side, c, config) for s in items]
    else:
        c = load_input(content, config=config)
        s = [load_input(x, config=config) for x in items]
        c, pixels = fixed_size_inputs(config, c, [x.pixels for x in s])
        styles = [dataclasses.replace(x, pixels=p, alpha=None) for x, p in zip(s, pixels, strict=True)]
        config = dataclasses.replace(config, size=max(c.pixels.shape[1], c.pixels.shape[2]))
    if config.style_blend is not None and len(parse_blend_weights(config)) != len(styles):
        n = len(parse_blend_weights(config))
        raise ConfigError(f"style_blend has {n} weights for {len(styles)} style images; give one weight per style")
    if not config.mask:
        return RunInputs(config, c, styles)
    masks = [load_mask(path, c.pixels.shape[2], c.pixels.shape[1]) for path in parse_list(config.mask)]
    mask_styles = [
        None if p == KEEP else load_style(p, side, c, config).pixels for p in parse_list(config.mask_style or "")
    ]
    return RunInputs(config, c, styles, masks, mask_styles)


def parse_blend_weights(config: RunConfig) -> tuple[float, ...]:
    """The ``style_blend`` weights, normalised to sum 1 (empty without ``style_blend``)."""
    if config.style_blend is None:
        return ()
    weights = parse_blend(config.style_blend)
    total = sum(weights)
    return tuple(w / total for w in weights)


#: How far a mask's aspect ratio may differ from the content's (relative).
MASK_ASPECT_TOLERANCE = 0.02


def load_mask(path: str, width: int, height: int) -> torch.Tensor:
    """A region mask as ``(1, height, width)`` in [0, 1] (its grey level; white is the region).

    Raises:
        ImageError: not an image, another aspect ratio than the content's, or empty (all black).
    """
    data = read_image(path)
    mw, mh = data.pixels.shape[2], data.pixels.shape[1]
    if abs(mw / mh - width / height) > MASK_ASPECT_TOLERANCE * width / height:
        raise ImageError(
            f"mask {path!r} is {mw}x{mh}, not the content's aspect ({width}x{height}); make it the content's shape"
        )
    grey = data.pixels.mean(dim=0, keepdim=True)
    mask = torch.nn.functional.interpolate(grey[None], size=(height, width), mode="area")[0].clamp(0, 1)
    if float(mask.mean()) < 1e-3:
        raise ImageError(f"mask {path!r} is empty (all black): white marks the region to paint")
    return mask
