"""Fixtures for the web app's tests: tiny upload images, fast settings, and apps on a temporary data dir.

Nothing here imports the web extra at module level: each test module skips itself (with the reason)
when FastAPI is not installed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from helpers import make_image
from restyle.io.image import tensor_to_pil

#: Why a web test module skips itself (``pytest.importorskip("fastapi", reason=NO_WEB_EXTRA)``).
NO_WEB_EXTRA = "the web extra is not installed (pip install -e '.[web]')"

#: Settings of a run that takes well under a second with the random tiny weights.
FAST: dict[str, Any] = {
    "size": 32,
    "scales": 1,
    "iterations": 2,
    "optimizer": "adam",
    "style_layers": "relu1_1,relu2_1",
    "content_layers": "relu2_2",
}


def png_bytes(width: int = 48, height: int = 40, seed: int = 1, fmt: str = "PNG") -> bytes:
    """A small synthetic image encoded as ``fmt``."""
    buffer = io.BytesIO()
    tensor_to_pil(make_image(width, height, seed=seed)).save(buffer, fmt)
    return buffer.getvalue()


def upload(
    client: Any,
    config: dict[str, Any] | None = None,
    content: bytes | None = None,
    style: bytes | None = None,
) -> Any:
    """POST /api/jobs with two images and a config; returns the response."""
    files = {
        "content": ("photo.png", content if content is not None else png_bytes(seed=1), "image/png"),
        "style": ("painting.png", style if style is not None else png_bytes(40, 40, seed=2), "image/png"),
    }
    import json

    return client.post("/api/jobs", files=files, data={"config": json.dumps(FAST if config is None else config)})


def wait_for(client: Any, job_id: str, *states: str, timeout: float = 60) -> dict[str, Any]:
    """Poll GET /api/jobs/ID until its state is one of ``states``; returns the job."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {job['state']} after {timeout} s: {job}")
        time.sleep(0.05)


@pytest.fixture
def make_client(tmp_path: Path, tiny_weights_file: Path) -> Iterator[Callable[..., Any]]:
    """``with make_client(workers=1, limits=...) as client:`` -- an app on ``tmp_path/data`` with its workers."""

    from fastapi.testclient import TestClient

    from restyle.web.app import create_app

    @contextmanager
    def make(workers: int = 1, data_dir: Path | None = None, **kwargs: Any) -> Iterator[TestClient]:
        kwargs.setdefault("preview_seconds", 0.05)
        kwargs.setdefault("checkpoint_seconds", 0.2)
        kwargs.setdefault("torch_threads", 1)
        kwargs.setdefault("poll_seconds", 0.05)
        app = create_app(data_dir or tmp_path / "data", workers, weights=tiny_weights_file, **kwargs)
        with TestClient(app) as client:
            yield client

    yield make


@pytest.fixture
def limits() -> Any:
    """The Limits class (to build small limits in tests)."""
    from restyle.web.app import Limits

    return Limits


__all__ = ["FAST", "NO_WEB_EXTRA", "Image", "png_bytes", "upload", "wait_for"]
