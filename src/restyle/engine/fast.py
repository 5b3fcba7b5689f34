"""Pictures from the feed-forward network (:mod:`restyle.fast`): ``--method fast`` and ``--init fast``.

One pass of the transfer network at the output's own size, with the artist's controls mapped onto
the network's one knob, the style vector:

* ``strength`` S interpolates between the photo's own style vector and the painting's (Ghiasi et
  al.'s "style interpolation"): ``v = m·painting + (1 − m)·photo`` with ``m = S ** STRENGTH_EXPONENT``,
  the exponent fitted so that the quality Judge's content distance is about 0.7·S as for the
  optimisation (benchmarks/README.md, "The fast method");
* ``style_blend`` averages the paintings' vectors with its weights;
* ``preserve_color`` as the optimisation does it (:mod:`restyle.engine.color`): luminance paints the
  photo's luma with grey paintings and puts the photo's chroma back; histogram moves the
  paintings' colours to the photo's before their vectors are read;
* ``mask``/``mask_style``: each region is painted with its own painting's vector (or keeps the
  photo) and the pictures are blended by the masks.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict

import torch

from restyle.config import RunConfig
from restyle.engine import color
from restyle.engine.inputs import parse_blend_weights
from restyle.fast import FastNetwork, load_fast_network
from restyle.features.precision import DTYPES

#: ``m = strength ** STRENGTH_EXPONENT``: the share of the painting's style vector (measured: see the module doc).
STRENGTH_EXPONENT = 1.0


@functools.cache
def network(device: str = "cpu", precision: str = "fp32") -> FastNetwork:
    """The fast network on ``device`` in ``precision`` (fp32 or bf16), loaded once per process and kept."""
    return load_fast_network(device, DTYPES[precision])


#: Style vectors kept by :func:`style_vector` (a batch or a video reads the same painting again and again).
VECTOR_CACHE_SIZE = 16
_vectors: OrderedDict[tuple[int, bytes], torch.Tensor] = OrderedDict()


def style_vector(net: FastNetwork, image: torch.Tensor) -> torch.Tensor:
    """``net.style_vector(image)``, remembered by the image's bytes for the next job with the same painting."""
    data = image.detach().to("cpu", torch.float32).contiguous()
    key = (id(net), hashlib.blake2b(repr(tuple(data.shape)).encode() + data.numpy().tobytes(), digest_size=16).digest())
    if key in _vectors:
        _vectors.move_to_end(key)
        return _vectors[key]
    vector = net.style_vector(image)
    _vectors[key] = vector
    while len(_vectors) > VECTOR_CACHE_SIZE:
        _vectors.popitem(last=False)
    return vector


def style_mix(strength: float) -> float:
    """The painting's share of the style vector for ``strength`` (0: the photo's own, 1: the painting's)."""
    return float(min(max(strength, 0.0), 1.0) ** STRENGTH_EXPONENT)


def paint(
    net: FastNetwork,
    content: torch.Tensor,
    styles: list[torch.Tensor],
    config: RunConfig,
    masks: list[torch.Tensor] | None = None,
    mask_styles: list[torch.Tensor | None] | None = None,
) -> torch.Tensor:
    """The fast picture of ``content`` ``(1, 3, H, W)`` in [0, 1] with ``styles`` ``(1, 3, h, w)``, at its size.

    ``masks`` are ``(1, 1, H, W)`` region masks and ``mask_styles`` their paintings (None: keep the
    photo). Reads ``strength``, ``style_blend`` and ``preserve_color`` from ``config``. Returns float32.
    """
    photo = content.to(net.device, torch.float32)
    mode = config.preserve_color

    def painting(s: torch.Tensor) -> torch.Tensor:
        s = s.to(net.device, torch.float32)
        if mode == "luminance":
            return color.match_luminance(s, photo)
        if mode == "histogram":
            return color.match_histogram(s, photo).float()
        return s

    source = color.luminance(photo) if mode == "luminance" else photo
    mix = style_mix(config.strength)
    own = net.style_vector(source) if mix < 1 else None  # the photo's own style: strength's other end

    def vector(paintings: list[torch.Tensor], weights: tuple[float, ...] = ()) -> torch.Tensor:
        vectors = torch.cat([style_vector(net, painting(p)) for p in paintings])
        w = torch.tensor(weights or [1 / len(paintings)] * len(paintings), device=net.device)[:, None]
        mixed = (w * vectors).sum(0, keepdim=True)
        return mixed if own is None else mix * mixed + (1 - mix) * own

    out = net.transfer(source, vector(styles, parse_blend_weights(config)))
    if masks:
        assert mask_styles is not None
        regions = [m.to(net.device, torch.float32) for m in masks]
        rest = (1 - sum(regions)).clamp(0, 1)  # type: ignore[operator]
        picture = rest * out
        for m, p in zip(regions, mask_styles, strict=True):
            picture = picture + m * (source if p is None else net.transfer(source, vector([p])))
        out = picture.clamp(0, 1)
    if mode == "luminance":
        out = color.with_chroma(out, photo)
    return out
