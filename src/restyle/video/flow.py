"""Optical flow, warping and occlusion masks: what ties one stylised frame to the next (Ruder et al. 2016).

A flow field ``flow`` of shape ``(H, W, 2)`` (x, y in pixels) from image ``a`` to image ``b`` says
where each pixel of ``a`` is in ``b``: ``a(p) ≈ b(p + flow(p))``. To carry the previous stylised
frame into frame t, the *backward* flow (frame t → frame t-1) is used: ``warp(out_{t-1}, flow)(p) =
out_{t-1}(p + flow(p))``.

Where that is not to be trusted -- pixels that were hidden in frame t-1 (disocclusions), pixels
whose source lies outside the frame, and motion boundaries -- :func:`consistency_mask` is 0: the
forward-backward check of Sundaram et al. (2010) with Ruder et al.'s constants.

Flow is OpenCV's DIS (dense inverse search, ``medium`` preset) by default; Farnebäck is the other
choice. ``benchmarks/video.py`` measured both on a panning clip (time and end-point error).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from restyle.errors import ConfigError
from restyle.video.settings import FLOW_METHODS


def to_gray(pixels: torch.Tensor) -> np.ndarray:
    """A ``(3, H, W)`` image in [0, 1] as the ``uint8`` grey image OpenCV's flow wants."""
    rgb = (pixels.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def optical_flow(a: torch.Tensor, b: torch.Tensor, method: str = "dis") -> torch.Tensor:
    """Dense flow from image ``a`` to image ``b`` (both ``(3, H, W)`` in [0, 1]) as ``(H, W, 2)`` float32.

    Deterministic for the same inputs (reruns compute the same guides and reuse finished frames).
    """
    ga, gb = to_gray(a), to_gray(b)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(ga, gb, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 15, 5, 5, 1.1, 0)
    else:
        raise ConfigError(f"flow must be one of {', '.join(FLOW_METHODS)}, got {method!r}")
    return torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))


def _grid(flow: torch.Tensor) -> torch.Tensor:
    """``p + flow(p)`` in grid_sample's [-1, 1] coordinates (pixel centres at ±1: align_corners=True)."""
    h, w = flow.shape[0], flow.shape[1]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    x = (xs + flow[..., 0]) * (2 / max(w - 1, 1)) - 1
    y = (ys + flow[..., 1]) * (2 / max(h - 1, 1)) - 1
    return torch.stack([x, y], dim=-1)[None]


def inside(flow: torch.Tensor) -> torch.Tensor:
    """``(1, H, W)``: 1 where ``p + flow(p)`` lies inside the frame, else 0."""
    h, w = flow.shape[0], flow.shape[1]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).float()[None]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image(p + flow(p))`` for a ``(C, H, W)`` image, bilinear; exact for whole-pixel flows.

    Outside the frame the nearest border pixel is taken (:func:`inside` says where).
    """
    # In float64: the round trip through [-1, 1] coordinates then lands whole-pixel flows exactly on pixels.
    grid = _grid(flow.to(image.device, torch.float64))
    out = F.grid_sample(image[None].double(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[0].to(image.dtype if image.is_floating_point() else torch.float32)


def consistency_mask(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """``(1, H, W)`` weights of frame t: 1 where the backward flow (t → t-1) can be trusted, else 0.

    ``forward`` is the flow t-1 → t. A pixel is dropped when (Ruder et al. 2016, eqs. 5-6)

    * the flows disagree: ``|w̃ + ŵ|² > 0.01 (|w̃|² + |ŵ|²) + 0.5``, with ŵ the backward flow and w̃ the
      forward flow at ``p + ŵ(p)`` (disocclusion: the pixel was hidden in frame t-1);
    * it is on a motion boundary: ``|∇ŵ_x|² + |∇ŵ_y|² > 0.01 |ŵ|² + 0.002``;
    * its source lies outside frame t-1.
    """
    b = backward
    f = warp(forward.permute(2, 0, 1), b).permute(1, 2, 0)
    disagree = (f + b).square().sum(-1) > 0.01 * (f.square().sum(-1) + b.square().sum(-1)) + 0.5
    gx = torch.zeros_like(b)
    gy = torch.zeros_like(b)
    gx[:, 1:-1] = (b[:, 2:] - b[:, :-2]) / 2
    gy[1:-1] = (b[2:] - b[:-2]) / 2
    boundary = gx.square().sum(-1) + gy.square().sum(-1) > 0.01 * b.square().sum(-1) + 0.002
    return (~(disagree | boundary)).float()[None] * inside(b)


def temporal_error(frame: torch.Tensor, previous: torch.Tensor, backward: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean ``|frame − warp(previous)|`` over the pixels where ``mask`` is 1 (and channels), in [0, 1] units."""
    diff = (frame.float() - warp(previous, backward)).abs().mean(0, keepdim=True)
    n = float(mask.sum())
    return float((diff * mask).sum()) / n if n else 0.0
