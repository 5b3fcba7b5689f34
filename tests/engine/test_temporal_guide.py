"""The engine's part of video: a TemporalGuide (start image + temporal term) on RunInputs and Jobs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine.inputs import TemporalGuide, load_run_inputs
from restyle.engine.stylize import Stylizer
from restyle.jobs.events import JobSkipped, JobStarted
from restyle.jobs.executor import LocalExecutor
from restyle.jobs.job import Job
from restyle.losses.functional import temporal_loss

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = RunConfig(
    size=48,
    scales=1,
    iterations=8,
    style_layers={"relu1_1": 1.0, "relu2_1": 1.0},
    content_layers={"relu2_2": 1.0},
    model="vgg16",
    style_weight=10.0,  # fixed: the guide's effect is measured against one weight
)
CONTENT, STYLE, START = make_image(48, 48, 1), make_image(48, 48, 2), make_image(48, 48, 3)


def guide(weight: float, mask: torch.Tensor | None = None) -> TemporalGuide:
    return TemporalGuide(START, torch.ones(1, 48, 48) if mask is None else mask, weight)


def test_temporal_loss_is_the_masked_mean_square():
    x, target = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert float(temporal_loss(x, target, mask)) == pytest.approx(3 / 12)


def test_the_guide_is_part_of_the_fingerprint():
    plain = load_run_inputs(CONFIG, CONTENT, STYLE)
    a = dataclasses.replace(plain, guide=guide(10))
    assert len({plain.fingerprint(), a.fingerprint(), dataclasses.replace(plain, guide=guide(20)).fingerprint()}) == 3
    assert a.fingerprint() == dataclasses.replace(plain, guide=guide(10)).fingerprint()


def test_a_guided_run_starts_at_the_guide_and_stays_near_it_where_the_mask_is_one(tiny_weights):
    stylizer = Stylizer(CONFIG, tiny_weights)
    inputs = load_run_inputs(CONFIG, CONTENT, STYLE)
    first = []
    stylizer.run(
        dataclasses.replace(inputs, guide=guide(0)), callback=lambda e: first.append(e.pixels()) if not first else None
    )
    assert (first[0] - START).abs().mean() < (first[0] - CONTENT).abs().mean()  # started from the guide
    mask = torch.zeros(1, 48, 48)
    mask[:, :, :24] = 1
    free = stylizer.run(dataclasses.replace(inputs, guide=guide(0, mask)))
    pulled = stylizer.run(dataclasses.replace(inputs, guide=guide(1e4, mask)))
    assert "temporal" in pulled.losses and "temporal" not in free.losses
    left = slice(0, 24)
    assert (pulled.pixels[:, :, left] - START[:, :, left]).abs().mean() < 0.5 * (
        free.pixels[:, :, left] - START[:, :, left]
    ).abs().mean()
    plain = stylizer.run(inputs)  # a later run without a guide is an ordinary run again
    assert "temporal" not in plain.losses


def test_tiled_steps_add_the_temporal_gradient(tiny_weights):
    config = CONFIG.replace(tile=32, iterations=3)
    inputs = load_run_inputs(config, CONTENT, STYLE)
    tiled = Stylizer(config, tiny_weights).run(dataclasses.replace(inputs, guide=guide(1e4)))
    whole = Stylizer(CONFIG.replace(iterations=3), tiny_weights).run(
        dataclasses.replace(load_run_inputs(CONFIG, CONTENT, STYLE), guide=guide(1e4))
    )
    assert torch.allclose(tiled.pixels, whole.pixels, atol=2e-3)


def test_a_job_with_the_same_guide_is_skipped_and_another_guide_reruns(tiny_weights, tmp_path):
    executor = LocalExecutor(CONFIG, weights=tiny_weights)
    out = tmp_path / "frame.png"
    events: list[object] = []
    for weight in (10, 10, 20):
        executor.run([Job(out, CONTENT, STYLE, CONFIG, guide=guide(weight))], events.append)
    kinds = [type(e) for e in events if isinstance(e, JobStarted | JobSkipped)]
    assert kinds == [JobStarted, JobSkipped, JobStarted]
