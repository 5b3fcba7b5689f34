"""The report measures: exact end points (0 at the reference, 1 at the other end), independence of size, and the
edge structure (1 for the photo's own structure, lower when it is blurred or erased, within a marked box too)."""

from __future__ import annotations

import pytest
import torch

from helpers import make_image
from restyle.engine.pyramid import resize
from restyle.engine.quality import CONTENT_LAYER, Box, Judge, content_distance, edge_structure, style_distance

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def judge(tiny_weights) -> Judge:
    return Judge(tiny_weights, size=48)


def pair() -> tuple[torch.Tensor, torch.Tensor]:
    return make_image(64, 48, seed=1)[None], make_image(40, 56, seed=2)[None]


def test_end_points(judge: Judge) -> None:
    photo, painting = pair()
    at_photo = judge.measure(photo, photo, painting)
    assert at_photo.content == pytest.approx(0.0, abs=1e-9)
    assert at_photo.style == pytest.approx(1.0, rel=1e-5)
    # The painting resized to the photo's shape is the content distance's other end and the style's zero.
    shape = judge.shape_for(photo)
    at_painting = judge.measure(resize(painting, shape), photo, painting)
    assert at_painting.content == pytest.approx(1.0, rel=1e-5)
    assert at_painting.style == pytest.approx(0.0, abs=1e-6)


def test_between_images_lie_between(judge: Judge) -> None:
    photo, painting = pair()
    shape = judge.shape_for(photo)
    stretched, photo_small = resize(painting, shape), resize(photo, shape)
    ref = judge.reference(photo, painting)
    near = judge.measure(0.8 * photo_small + 0.2 * stretched, photo, painting, reference=ref)
    far = judge.measure(0.3 * photo_small + 0.7 * stretched, photo, painting, reference=ref)
    assert 0 < near.content < far.content
    assert near.style > far.style > 0


def test_measure_ignores_output_resolution(judge: Judge) -> None:
    """An output at 2x the photo's size measures (nearly) as the output at its size: reports compare across sizes."""
    photo, painting = pair()
    big = torch.nn.functional.interpolate(photo, scale_factor=2, mode="bicubic").clamp(0, 1)
    assert judge.measure(big, photo, painting).content < 0.02


def test_pure_functions() -> None:
    a, b = torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)
    assert content_distance(0.5 * b, a, b) == pytest.approx(0.25)
    feats = {"x": torch.randn(1, 4, 5, 5, generator=torch.Generator().manual_seed(0))}
    assert style_distance(feats, {"x": feats["x"] * 2}, feats, layers=["x"]) == 0.0
    assert CONTENT_LAYER == "relu4_2"


def edgy(width: int = 64, height: int = 48, seed: int = 3) -> torch.Tensor:
    """A (1, 3, H, W) image with sharp structure: a smooth image with a grid of dark lines and a bright square."""
    img = make_image(width, height, seed=seed)[None].clone()
    img[..., ::8, :] *= 0.2
    img[..., :, ::8] *= 0.2
    img[..., 10:20, 30:44] = 1.0
    return img


def test_edge_structure_end_points() -> None:
    photo = edgy()
    assert edge_structure(photo, photo) == pytest.approx(1.0, abs=1e-9)
    assert edge_structure(torch.full_like(photo, 0.5), photo) == 0.0  # no edges at all
    # the same structure in other colours still is the structure; a blurred copy less; unrelated images near 0
    assert edge_structure(1 - photo, photo) == pytest.approx(1.0, abs=1e-6)
    blurred = torch.nn.functional.avg_pool2d(photo, 5, stride=1, padding=2, count_include_pad=False)
    assert 0.3 < edge_structure(blurred, photo) < 0.95
    other = edgy(seed=9).roll(shifts=(3, 5), dims=(-2, -1))
    assert abs(edge_structure(other, photo)) < edge_structure(blurred, photo)


def test_edge_structure_compares_at_the_outputs_size() -> None:
    photo = edgy(128, 96)
    small = resize(photo, (64, 48))
    assert edge_structure(small, photo) == pytest.approx(1.0, abs=1e-6)  # the photo is resized to the output


def test_edge_structure_in_a_box_sees_only_the_box() -> None:
    photo = edgy()
    face = Box(0.4, 0.15, 0.75, 0.45)  # around the bright square
    damaged = photo.clone()
    damaged[..., 8:22, 28:46] = 0.5  # the "face" erased, the rest intact
    assert edge_structure(damaged, photo, face) < 0.3
    assert edge_structure(damaged, photo) > 0.5  # the rest of the image still holds the photo's lines
    outside = photo.clone()
    outside[..., 30:, :] = 0.5  # the rest erased, the "face" intact
    assert edge_structure(outside, photo, face) == pytest.approx(1.0, abs=1e-6)
    assert face.crop(photo).shape[-2:] == (round(0.45 * 48) - int(0.15 * 48), round(0.75 * 64) - int(0.4 * 64))
    with pytest.raises(ValueError):
        Box(0.5, 0.1, 0.4, 0.2)


def test_judge_measures_structure_and_the_face(judge: Judge) -> None:
    photo, painting = edgy(), make_image(40, 56, seed=2)[None]
    d = judge.measure(photo, photo, painting, face=Box(0.4, 0.15, 0.75, 0.45))
    assert d.structure == pytest.approx(1.0, abs=1e-6) and d.face == pytest.approx(1.0, abs=1e-6)
    assert set(d.to_dict()) == {"content_distance", "style_distance", "edge_structure", "face_structure"}
    assert "face_structure" not in judge.measure(photo, photo, painting).to_dict()
