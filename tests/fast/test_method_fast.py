"""``--method fast`` through the executor (batch, skip, metadata) and ``--init fast`` in the optimisation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from helpers import make_image
from restyle import RunConfig, Stylizer
from restyle.config import parse_init
from restyle.engine import fast
from restyle.engine.fast_run import TEMPORAL_BLEND, FastStylizer, ignored_settings
from restyle.engine.inputs import TemporalGuide, load_run_inputs
from restyle.engine.pyramid import resize
from restyle.io.image import read_image, read_metadata, write_image
from restyle.jobs.events import JobStep
from restyle.jobs.executor import LocalExecutor
from restyle.jobs.job import Job


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    content, style = tmp_path / "photo.png", tmp_path / "art.png"
    write_image(content, make_image(60, 40, seed=1))
    write_image(style, make_image(48, 48, seed=2))
    return content, style


def test_fast_runs_at_the_requested_size(pair: tuple[Path, Path]) -> None:
    events = []
    config = RunConfig(method="fast", size=57, precision="fp32")  # not a multiple of 4
    result = FastStylizer(config).run(str(pair[0]), str(pair[1]), events.append)
    assert result.pixels.shape == (3, 38, 57)
    assert len(events) == 1 and events[0].step == events[0].total_steps == 1 and events[0].size == (57, 38)
    assert result.timings["steps"] == 1 and result.notes == []
    assert result.config.precision == "fp32" and "Ghiasi" in result.model


def test_executor_writes_skips_and_records(pair: tuple[Path, Path], tmp_path: Path) -> None:
    config = RunConfig(method="fast", size=48, precision="fp32", checkpoint_every=1, save_every=1)
    out = tmp_path / "out.png"
    events: list[object] = []
    report = LocalExecutor(config).run([Job(out, str(pair[0]), str(pair[1]))], events.append)
    assert report.counts() == {"done": 1} and "Ghiasi" in report.model
    assert any(isinstance(e, JobStep) for e in events)
    assert read_image(out).pixels.shape == (3, 32, 48)
    assert read_metadata(out)["config"]["method"] == "fast"
    assert not list(tmp_path.glob("*.ckpt"))  # checkpoint_every does not apply to one pass
    again = LocalExecutor(config).run([Job(out, str(pair[0]), str(pair[1]))])
    assert again.counts() == {"skipped": 1}


def test_strength_moves_from_the_photo_to_the_painting(pair: tuple[Path, Path]) -> None:
    def run(strength: float) -> torch.Tensor:
        config = RunConfig(method="fast", size=48, strength=strength, precision="fp32")
        return FastStylizer(config).run(str(pair[0]), str(pair[1])).pixels

    photo = resize(read_image(pair[0]).pixels[None], (48, 32))[0]
    distance = [float((run(s) - photo).abs().mean()) for s in (0.0, 0.5, 1.0)]
    assert distance[0] < distance[1] < distance[2]
    assert fast.style_mix(0) == 0 and fast.style_mix(1) == 1


def test_blend_colour_and_masks(pair: tuple[Path, Path], tmp_path: Path) -> None:
    other = tmp_path / "art2.png"
    write_image(other, make_image(32, 32, seed=7))
    base = {"method": "fast", "size": 48, "precision": "fp32"}
    one = FastStylizer(RunConfig(**base)).run(str(pair[0]), str(pair[1])).pixels
    blend = FastStylizer(RunConfig(**base, style_blend="0.5,0.5")).run(str(pair[0]), [str(pair[1]), str(other)])
    assert blend.pixels.shape == one.shape and not torch.equal(blend.pixels, one)
    luma = FastStylizer(RunConfig(**base, preserve_color="luminance")).run(str(pair[0]), str(pair[1])).pixels
    assert luma.shape == one.shape
    mask = tmp_path / "mask.png"
    m = torch.zeros(3, 40, 60)
    m[:, :, :30] = 1
    write_image(mask, m)
    kept = FastStylizer(RunConfig(**base, mask=str(mask), mask_style="keep")).run(str(pair[0]), str(pair[1])).pixels
    photo = resize(read_image(pair[0]).pixels[None], (48, 32))[0]
    assert float((kept[:, :, :20] - photo[:, :, :20]).abs().mean()) < 0.01  # the kept region is the photo
    assert float((kept[:, :, 28:] - one[:, :, 28:]).abs().max()) < 0.02  # the rest is the main style
    assert float((one[:, :, :20] - photo[:, :, :20]).abs().mean()) > 0.03


def test_the_optimisations_settings_are_ignored_with_a_note(pair: tuple[Path, Path]) -> None:
    config = RunConfig(method="fast", size=32, iterations=7, optimizer="adam", precision="fp32")
    assert ignored_settings(config) == ["optimizer", "iterations"]
    assert ignored_settings(RunConfig(method="fast", iterations=60)) == []  # a default given explicitly: no note
    result = FastStylizer(config).run(str(pair[0]), str(pair[1]))
    assert result.notes == ["--method fast ignores the optimisation's settings: optimizer, iterations"]


def test_init_fast_starts_from_the_fast_picture(tiny_weights, pair: tuple[Path, Path]) -> None:
    assert parse_init("fast") == ("fast", None)
    first: list = []
    # a tiny learning rate: the first step leaves the start image where it was
    config = RunConfig(init="fast", size=48, scales=1, iterations=1, lr=1e-9, precision="fp32")
    stylizer = Stylizer(config, weights=tiny_weights)
    result = stylizer.run(str(pair[0]), str(pair[1]), lambda e: first.append(e) if e.step == 1 else None)
    assert result.pixels.shape == (3, 32, 48)
    w, h = first[0].size
    expected = FastStylizer(RunConfig(method="fast", size=max(w, h), precision="fp32")).run(str(pair[0]), str(pair[1]))
    photo = resize(read_image(pair[0]).pixels[None], (w, h))[0]
    start = first[0].pixels()
    assert start.shape == expected.pixels.shape
    assert float((start - expected.pixels).abs().mean()) < 0.01 < float((start - photo).abs().mean())


def test_a_video_frame_blends_the_warped_previous_frame_where_the_flow_holds(pair: tuple[Path, Path]) -> None:
    config = RunConfig(method="fast", size=48, precision="fp32")
    inputs = load_run_inputs(config, str(pair[0]), str(pair[1]))
    alone = FastStylizer(config).run(inputs).pixels
    previous = torch.zeros(3, 40, 60)
    mask = torch.zeros(1, 40, 60)
    mask[:, :, :30] = 1  # the flow holds on the left half only
    guided = dataclasses.replace(inputs, guide=TemporalGuide(previous, mask, 200.0))
    out = FastStylizer(config).run(guided).pixels
    assert torch.allclose(out[:, :, :20], (1 - TEMPORAL_BLEND) * alone[:, :, :20], atol=1e-4)
    assert torch.allclose(out[:, :, 28:], alone[:, :, 28:], atol=1e-4)
