"""The two report measures: exact end points (0 at the reference, 1 at the other end) and independence of size."""

from __future__ import annotations

import pytest
import torch

from helpers import make_image
from restyle.engine.pyramid import resize
from restyle.engine.quality import CONTENT_LAYER, Judge, content_distance, style_distance

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
