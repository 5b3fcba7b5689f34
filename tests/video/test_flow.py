"""Warping, flow, occlusion masks and the temporal error (restyle.video.flow)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("av", reason="the video extra (PyAV) is not installed")
pytest.importorskip("cv2", reason="the video extra (OpenCV) is not installed")

from helpers import make_image  # noqa: E402
from restyle.video.flow import consistency_mask, inside, optical_flow, temporal_error, warp  # noqa: E402
from video.clips import texture  # noqa: E402


def shifted(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``image`` moved ``dx`` px right and ``dy`` px down (new pixels: 0)."""
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        :, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


@pytest.mark.parametrize(("dx", "dy"), [(3, 0), (-2, 5), (0, 0)])
def test_warp_with_a_known_flow_is_exact(dx, dy):
    before = make_image(40, 32, seed=1)
    after = shifted(before, dx, dy)  # the scene moved by (dx, dy)
    backward = torch.zeros(32, 40, 2)
    backward[..., 0], backward[..., 1] = -dx, -dy  # each pixel of `after` came from (x - dx, y - dy)
    warped = warp(before, backward)
    valid = inside(backward)[0].bool()
    assert valid.sum() == (40 - abs(dx)) * (32 - abs(dy))
    assert torch.equal(warped[:, valid], after[:, valid])


def test_warp_subpixel_is_bilinear():
    image = torch.arange(5.0).repeat(3, 4, 1)  # x ramp
    flow = torch.full((4, 5, 2), 0.0)
    flow[..., 0] = 0.25
    assert torch.allclose(warp(image, flow)[:, :, :4], image[:, :, :4] + 0.25)


def test_flow_finds_a_pan_and_the_mask_drops_what_came_into_view():
    before = torch.from_numpy(texture(96, 64, seed=2)).permute(2, 0, 1).float() / 255
    after = shifted(before, 4, 0)
    backward, forward = optical_flow(after, before), optical_flow(before, after)
    core = backward[8:-8, 12:-8]
    assert core[..., 0].median() == pytest.approx(-4, abs=0.3) and core[..., 1].abs().median() < 0.3
    mask = consistency_mask(backward, forward)[0]
    assert mask[:, :3].mean() < 0.2  # the strip that came into view on the left has no source
    assert mask[8:-8, 12:-8].mean() > 0.8
    error = temporal_error(after, before, backward, mask[None])
    assert error < 0.05  # the warp of the previous frame matches the new one where the mask keeps it


def test_temporal_error_counts_only_kept_pixels():
    a, b = torch.zeros(3, 8, 8), torch.ones(3, 8, 8)
    mask = torch.zeros(1, 8, 8)
    mask[:, :, :4] = 1
    zero = torch.zeros(8, 8, 2)
    assert temporal_error(b, a, zero, mask) == pytest.approx(1.0)
    assert temporal_error(a, a, zero, mask) == 0
