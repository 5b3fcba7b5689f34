"""Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer", §5).

* ``luminance``: the style is transferred on the luminance only. Content and style become grey
  images of their luma Y (the style's Y matched to the content's mean and spread, as the paper
  does), the run optimises a grey image, and the photo's own chroma is put back. The colour space
  is **YCbCr** (ITU-R BT.601, full range, as JPEG): it is linear, exactly invertible and cheap,
  so the output's Cb/Cr equal the photo's up to rounding and the [0, 1] clip; Lab's a*/b* would
  need a non-linear round trip and can leave the sRGB gamut.
* ``histogram``: before the run, the painting's colours get the photo's mean and covariance
  (``x' = A (x - μ_s) + μ_c`` with ``A = Σ_c^½ Σ_s^-½``, symmetric square roots), so the
  painting's strokes are kept and its palette becomes the photo's.

All functions take ``(N, 3, H, W)`` RGB tensors in [0, 1].
"""

from __future__ import annotations

import torch

#: RGB → YCbCr (BT.601 full range); Cb and Cr are offset by 0.5.
_RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_OFFSET = torch.tensor([0.0, 0.5, 0.5])


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB → Y, Cb, Cr (each in [0, 1] for RGB in [0, 1])."""
    m = _RGB_TO_YCBCR.to(rgb)
    return torch.einsum("ij,njhw->nihw", m, rgb) + _OFFSET.to(rgb).view(1, 3, 1, 1)


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clipped)."""
    m = _YCBCR_TO_RGB.to(ycc)
    return torch.einsum("ij,njhw->nihw", m, ycc - _OFFSET.to(ycc).view(1, 3, 1, 1))


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """The grey image of ``rgb``'s luma: Y in all three channels."""
    return rgb_to_ycbcr(rgb)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The grey luma image of ``style`` with the mean and standard deviation of ``content``'s luma."""
    ys, yc = rgb_to_ycbcr(style)[:, :1], rgb_to_ycbcr(content)[:, :1]
    y = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def with_chroma(grey: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB with the luma of ``grey`` (its channel mean) and the Cb/Cr of ``content`` (same size), clipped."""
    ycc = rgb_to_ycbcr(content)
    ycc = torch.cat([grey.mean(dim=1, keepdim=True), ycc[:, 1:]], dim=1)
    return ycbcr_to_rgb(ycc).clamp(0, 1)


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-8)
    power = -0.5 if inverse else 0.5
    return vectors @ torch.diag(values**power) @ vectors.T


def match_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``style`` with its colours' mean and covariance moved to ``content``'s (clipped to [0, 1])."""
    s = style.double().flatten(2)[0]  # (3, P)
    c = content.double().flatten(2)[0]
    mu_s, mu_c = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    cov_s = torch.cov(s) + 1e-6 * torch.eye(3, dtype=s.dtype)
    cov_c = torch.cov(c) + 1e-6 * torch.eye(3, dtype=c.dtype)
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    out = a @ (s - mu_s) + mu_c
    return out.view_as(style[0]).unsqueeze(0).to(style.dtype).clamp(0, 1)
