"""Coarse-to-fine scales: optimise a small image first, then upsample and refine.

Coarse scales cost a fraction of the final one (a quarter per halving) and fix the
large-scale arrangement of the style, which single-scale runs at high resolution
struggle to do because VGG's receptive fields are small relative to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# The one "longest side" rule lives in restyle.io (which must not import engine); re-exported here.
from restyle.io.image import fit_size as fit_size


@dataclass(frozen=True)
class ScaleSteps:
    """One pyramid scale of a run: its size and the steps planned there."""

    width: int
    height: int
    steps: int

    @property
    def pixels(self) -> int:
        """Pixels of an image at this scale (what a step's cost is proportional to)."""
        return self.width * self.height


def scale_sizes(size: int, scales: int, min_size: int = 64) -> list[int]:
    """Longest sides of each scale, coarse to fine, halving from ``size`` but never below ``min_size``.

    >>> scale_sizes(512, 3)
    [128, 256, 512]
    >>> scale_sizes(100, 3)
    [100]
    """
    sizes = [size]
    while len(sizes) < scales and sizes[0] // 2 >= min_size:
        sizes.insert(0, sizes[0] // 2)
    return sizes


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an ``(N, C, H, W)`` image to ``size`` = (width, height): antialiased when shrinking."""
    w, h = size
    if image.shape[-2:] == (h, w):
        return image
    shrinking = h < image.shape[-2] or w < image.shape[-1]
    out = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False, antialias=shrinking)
    return out.clamp(0, 1)
