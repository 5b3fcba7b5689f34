"""The web worker's first preview of an optimisation: the fast method's picture, before the first step."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PIL import Image

from helpers import make_image
from restyle.config import RunConfig
from restyle.io.image import write_image
from restyle.jobs.events import JobStarted
from restyle.jobs.job import Job
from restyle.web.worker import PREVIEW_NAME, WorkerSettings, _Forwarder


def _job(tmp_path: Path, **settings: object) -> Job:
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    write_image(content, make_image(40, 30, seed=1))
    write_image(style, make_image(32, 32, seed=2))
    return Job(tmp_path / "out.png", content, style, RunConfig(size=40, precision="fp32", **settings))


def test_an_optimisation_shows_the_fast_picture_first(tmp_path: Path) -> None:
    bumps: list[str] = []
    store = SimpleNamespace(update=lambda job_id, **v: None, bump_preview=bumps.append)
    forward = _Forwarder(store, "j", tmp_path, WorkerSettings())
    forward(JobStarted(_job(tmp_path), 0, 1))
    assert bumps == ["j"]
    with Image.open(tmp_path / PREVIEW_NAME) as im:
        assert im.format == "JPEG" and im.size == (40, 30)


def test_no_early_preview_for_a_fast_job_a_resumed_one_or_when_off(tmp_path: Path) -> None:
    bumps: list[str] = []
    store = SimpleNamespace(update=lambda job_id, **v: None, bump_preview=bumps.append)
    _Forwarder(store, "j", tmp_path, WorkerSettings())(JobStarted(_job(tmp_path, method="fast"), 0, 1))
    _Forwarder(store, "j", tmp_path, WorkerSettings())(JobStarted(_job(tmp_path), 0, 1, resumed_from=3))
    _Forwarder(store, "j", tmp_path, WorkerSettings(fast_preview=False))(JobStarted(_job(tmp_path), 0, 1))
    assert bumps == [] and not (tmp_path / PREVIEW_NAME).exists()
