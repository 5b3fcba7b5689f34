"""Fixtures of the video tests: a synthetic 8-frame clip with sound, a style image, fast settings."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av", reason="the video extra (PyAV) is not installed")
pytest.importorskip("cv2", reason="the video extra (OpenCV) is not installed")

from helpers import make_image  # noqa: E402
from restyle.config import RunConfig  # noqa: E402
from restyle.io.image import write_image  # noqa: E402
from video.clips import pan_frames, write_clip  # noqa: E402  (after the skips: it imports av)


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """One torch thread: fastest for tiny tensors."""


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """8 frames of 64x64 px, 12 fps, the picture panning 2 px per frame, with an AAC tone."""
    return write_clip(tmp_path / "clip.mp4", pan_frames())


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    write_image(path, make_image(48, 48, seed=5))
    return path


#: A frame in well under a second with the random test weights.
FAST = RunConfig(
    size=64,
    scales=1,
    iterations=6,
    style_layers={"relu1_1": 1.0, "relu2_1": 1.0},
    content_layers={"relu2_2": 1.0},
    model="vgg16",
)


@pytest.fixture
def fast() -> RunConfig:
    return FAST
