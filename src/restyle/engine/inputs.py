"""Inputs the seed recipes need: fixed image sizes (``--image-size``) and their start noise (``--noise``).

Both are small pure functions so that the core loop, the sweep runner and the tests share one
implementation:

* :func:`fixed_size_inputs` resizes the content (and its alpha) and every style image to the
  exact ``WxH`` of ``config.image_size`` -- stretched, or centre-cropped to the aspect first
  (``image_fit="crop"``, as PIL's ``ImageOps.fit`` in Stanford CS20's code);
* :func:`noise_image` draws the noise of ``--init noise``/``mix:R``: restyle's uniform [0, 1]
  image, or the seeds' small noise around the weights' mean pixel (they draw it in the
  mean-subtracted 0-255 network input, so 0 there is the mean pixel);
* :func:`load_run_inputs` loads content and styles as :meth:`Stylizer.run` would, applying the
  fixed size, and returns the config with ``size`` set to the resulting longest side.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch

from restyle.config import RunConfig, parse_image_size, parse_noise
from restyle.engine.pyramid import resize
from restyle.features.preprocessing import Preprocessing
from restyle.io.image import ImageData

if TYPE_CHECKING:
    from restyle.engine.stylize import ImageLike


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
    return resize(pixels[None], (w, h))[0]


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


def noise_image(spec: str, like: torch.Tensor, generator: torch.Generator,
                preprocessing: Preprocessing) -> torch.Tensor:
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


def load_run_inputs(
    config: RunConfig, content: ImageLike, style: ImageLike | list[ImageLike]
) -> tuple[RunConfig, ImageData, list[ImageData]]:
    """Load content and styles exactly as a run with ``config`` does, with the fixed size applied.

    Returns ``(config, content, styles)``; with ``image_size`` the config's ``size`` becomes the
    longest side of the fixed size (so passing the loaded images to a :class:`Stylizer` built
    with that config runs at exactly ``WxH``).
    """
    from restyle.engine.stylize import load_input

    items: list[Any] = style if isinstance(style, list) else [style]
    if config.image_size is None:
        c = load_input(content, max_side=config.size, config=config)
        side = round(config.size * config.style_scale)
        return config, c, [load_input(s, max_side=side, config=config) for s in items]
    c = load_input(content, config=config)
    s = [load_input(x, config=config) for x in items]
    c, pixels = fixed_size_inputs(config, c, [x.pixels for x in s])
    styles = [dataclasses.replace(x, pixels=p, alpha=None) for x, p in zip(s, pixels, strict=True)]
    size = max(c.pixels.shape[1], c.pixels.shape[2])
    return dataclasses.replace(config, size=size), c, styles
