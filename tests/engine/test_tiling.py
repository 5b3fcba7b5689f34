"""Tiled steps: the tiles cover the image, the gradient equals the untiled one, memory-driven tiling."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console

from helpers import make_image, record_first_steps
from restyle.cli.progress import RunProgress
from restyle.config import RunConfig
from restyle.engine import memory, stylize, tiling
from restyle.engine.stylize import Stylizer
from restyle.engine.tiling import TiledObjective, Tiler, layer_stride, plan_tiles
from restyle.errors import ConfigError
from restyle.io.image import write_image
from restyle.jobs.events import JobTile
from restyle.jobs.executor import LocalExecutor
from restyle.jobs.job import Job

pytestmark = pytest.mark.usefixtures("one_thread")

# A fixed style weight: tiled and untiled runs compare steps, not the strength calibration.
SHALLOW = {
    "content_layers": {"relu3_2": 1.0},
    "style_layers": {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0},
    "style_weight": 10.0,
}


@pytest.mark.parametrize(
    ("h", "w", "core", "halo", "align"),
    [(96, 128, 48, 32, 4), (100, 77, 32, 16, 16), (3072, 4096, 512, 112, 16), (40, 40, 64, 8, 8)],
)
def test_tiles_partition_the_image(h, w, core, halo, align) -> None:
    tiles = plan_tiles(h, w, core, halo, align)
    covered = torch.zeros(h, w, dtype=torch.int32)
    for t in tiles:
        y0, y1, x0, x1 = t.core
        by0, by1, bx0, bx1 = t.box
        covered[y0:y1, x0:x1] += 1
        assert 0 <= by0 <= y0 < y1 <= by1 <= h and 0 <= bx0 <= x0 < x1 <= bx1 <= w
        assert by0 % align == 0 and bx0 % align == 0 and y0 % align == 0 and x0 % align == 0
        assert y0 - by0 in (0, y0) or y0 - by0 >= halo  # a full halo, or the image's edge
    assert bool((covered == 1).all())


def test_plan_refuses_tiles_smaller_than_the_stride() -> None:
    with pytest.raises(ConfigError, match="smaller than the network's stride"):
        plan_tiles(64, 64, 8, 8, 16)


@pytest.mark.parametrize(
    ("settings", "tv_rows"),
    [(SHALLOW, 256), (SHALLOW, 7), ({"tv_exponent": 0.5, **SHALLOW}, 10), ({"tv_weight": 0.0, **SHALLOW}, 256)],
)
def test_tiled_loss_and_gradient_equal_the_untiled_ones(tiny_weights, settings, tv_rows, monkeypatch) -> None:
    """Tiles with halos, and the TV term in bands of ``tv_rows`` rows (7 and 10: uneven last bands)."""
    monkeypatch.setattr(tiling, "TV_ROWS", tv_rows)
    stylizer = Stylizer(RunConfig(device="cpu", **settings), weights=tiny_weights)
    h, w = 96, 128
    content = make_image(w, h, 1)[None]
    stylizer.loss.targets = stylizer.loss.compute_targets(content, [make_image(64, 64, 2)[None]])
    x = (content * 0.8 + 0.1 * make_image(w, h, 3)[None]).requires_grad_(True)
    reference = stylizer.loss(x)
    reference["total"].backward()
    expected, x.grad = x.grad.clone(), None
    align = max(layer_stride(n) for n in stylizer.extractor.layers)
    tiles = plan_tiles(h, w, 32, 48, align)  # 48 px covers relu3_2's receptive field (radius 16 px)
    assert len(tiles) == 12
    objective = TiledObjective(stylizer.loss, tiles, h, w)
    values = objective.evaluate(x)
    tiled = objective(x)
    for k, v in reference.items():
        assert float(tiled[k]) == pytest.approx(float(v.detach()), rel=1e-5)
        assert float(values[k]) == pytest.approx(float(v.detach()), rel=1e-5)
    assert float((x.grad - expected).norm() / expected.norm()) < 1e-5


def test_the_first_lbfgs_step_follows_the_scale_size_never_the_tiling(tiny_weights, monkeypatch) -> None:
    """Pixel-sized above PIXEL_FIRST_STEP_SIDE, torch's below, tiled or not: tiling (chosen from free memory) must
    not change the result."""
    monkeypatch.setattr(stylize, "PIXEL_FIRST_STEP_SIDE", 96)
    seen = record_first_steps(monkeypatch)
    base = RunConfig(size=128, scales=2, iterations=2, device="cpu", **SHALLOW)
    content, style = make_image(128, 96, 1), make_image(64, 64, 2)
    runs = {}
    for tile in (0, 64):
        seen.clear()
        events = []
        runs[tile] = Stylizer(base.replace(tile=tile), weights=tiny_weights).run(content, style, events.append)
        assert [e.tiles > 0 for e in events] == [False, False, tile > 0, tile > 0]  # the 128 px scale tiled or not
        assert seen == [(64, None), (128, stylize.FIRST_STEP)]
    diff = (runs[0].pixels - runs[64].pixels).abs()  # float summation order differs, nothing else
    assert diff.mean() < 2e-5 and diff.flatten().quantile(0.999) < 1 / 255


def test_a_tiled_run_matches_an_untiled_one(tiny_weights) -> None:
    base = RunConfig(size=128, scales=1, iterations=3, device="cpu", **SHALLOW)  # L-BFGS: smooth in the gradient
    content, style = make_image(128, 96, 1), make_image(64, 64, 2)
    plain = Stylizer(base, weights=tiny_weights).run(content, style)
    events = []
    tiled = Stylizer(base.replace(tile=48), weights=tiny_weights).run(content, style, events.append)
    assert {e.tiles for e in events} == {6}
    diff = (tiled.pixels - plain.pixels).abs()  # float summation order differs; L-BFGS amplifies a little
    assert diff.mean() < 2e-5 and diff.flatten().quantile(0.999) < 1 / 255
    assert tiled.losses["total"] == pytest.approx(plain.losses["total"], rel=1e-3)


def test_tiling_is_chosen_when_a_step_would_not_fit(tiny_weights, monkeypatch) -> None:
    monkeypatch.setattr(stylize, "AUTO_TILE", 64)  # small tiles, so a small image can show it
    monkeypatch.setattr(stylize, "TILE_HALO", 32)
    config = RunConfig(size=256, scales=1, iterations=2, optimizer="adam", device="cpu")
    stylizer = Stylizer(config, weights=tiny_weights)
    from restyle.engine.inputs import load_run_inputs

    inputs = load_run_inputs(config, make_image(256, 192), make_image(64, 64, 2))
    untiled = stylizer.estimate_memory(inputs, {})
    monkeypatch.setattr(memory, "available_memory", lambda device: (int(untiled.total * 0.9), "available RAM"))
    tiling = stylizer.tiling(inputs)
    assert list(tiling) == [0] and stylizer.estimate_memory(inputs).total < untiled.total * 0.9
    events = []
    result = stylizer.run(inputs, None, events.append)
    assert result.timings["steps"] == 2 and all(e.tiles == len(tiling[0]) for e in events)


@pytest.mark.parametrize(("settings", "message"), [({"normalize": "gatys"}, "tiling supports normalize")])
def test_unsupported_settings_are_one_error(tiny_weights, settings, message) -> None:
    config = RunConfig(size=96, scales=1, iterations=1, device="cpu", tile=32, **settings)
    with pytest.raises(ConfigError, match=message):
        Stylizer(config, weights=tiny_weights).run(make_image(96, 72), make_image(64, 64, 2))


def test_tiled_targets_equal_the_untiled_ones(tiny_weights) -> None:
    stylizer = Stylizer(RunConfig(device="cpu", **SHALLOW), weights=tiny_weights)
    image = make_image(120, 88, 4)[None]
    align = max(layer_stride(n) for n in stylizer.extractor.layers)
    tiler = Tiler(32, 48, align)
    loss = stylizer.loss
    plain, tiled = (
        loss.compute_targets(image, [image]),
        loss.content_targets(image, tiler) | loss.style_targets([image], (), tiler),
    )
    for n in loss.content_layers:
        assert torch.allclose(tiled.content[n], plain.content[n], rtol=1e-4, atol=1e-5)
    for n in loss.style_layers:
        assert torch.allclose(tiled.style[n], plain.style[n], rtol=1e-4, atol=1e-6)
    assert tiled.scale == pytest.approx(plain.scale, rel=1e-4)


def test_a_tiled_job_reports_each_tile_of_each_step(tiny_weights, tmp_path) -> None:
    """Print-size steps take minutes: the executor's listener hears every tile of both passes (tile i/N)."""
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    write_image(content, make_image(128, 96, 1))
    write_image(style, make_image(64, 64, 2))
    config = RunConfig(size=128, scales=1, iterations=2, device="cpu", tile=48, **SHALLOW)
    events: list = []
    report = LocalExecutor(config, weights=tiny_weights).run([Job(tmp_path / "o.png", content, style)], events.append)
    assert [r.status for r in report.results] == ["done"]
    tiles = [e.tile for e in events if isinstance(e, JobTile)]
    per_step = [(t.phase, t.tile) for t in tiles if t.step == 1]
    assert per_step == [("statistics", i) for i in range(1, 7)] + [("gradient", i) for i in range(1, 7)]
    assert {t.step for t in tiles} == {1, 2} and {t.tiles for t in tiles} == {6}
    assert {t.size for t in tiles} == {(128, 96)}
    # The display names the tile within the step.
    out = io.StringIO()
    bar = RunProgress(Console(file=out, width=200), enabled=False)
    bar.tile(tiles[8])
    assert bar.progress.tasks[0].description.endswith("step 1: tile 3/6 (gradient)")
    bar.stop()


def test_a_tiled_scale_guards_with_float16_copies_and_restores_close_to_the_good_image(tiny_weights, monkeypatch):
    """At tiled sizes the guard's copies are float16 (half the bytes): an exploded step still restores the
    image evaluated at the step before, within float16's 2^-11 relative rounding."""
    seen: list[torch.Tensor] = []
    call = TiledObjective.__call__

    def exploding(self, image):
        seen.append(image.detach().clone())
        out = call(self, image)
        return {k: v * 1e12 for k, v in out.items()} if len(seen) == 4 else out

    monkeypatch.setattr(TiledObjective, "__call__", exploding)
    monkeypatch.setattr(stylize, "PIXEL_FIRST_STEP_SIDE", 32)  # a print-size scale in miniature: its first step too
    config = RunConfig(size=64, scales=1, iterations=6, device="cpu", tile=32, **SHALLOW)
    st = Stylizer(config, weights=tiny_weights)
    result = st.run(make_image(64, 48, 1), make_image(64, 64, 2))
    (note,) = result.notes
    assert "restored last good image" in note
    assert seen[4].dtype == torch.float32
    retry, good = seen[4], seen[2]  # the retry starts from the image evaluated at step 3 ...
    assert float((retry - good).abs().max()) <= 2**-11 * float(good.abs().max()) + 1e-7  # ... as float16 kept it
    assert torch.equal(retry, good.half().float())
