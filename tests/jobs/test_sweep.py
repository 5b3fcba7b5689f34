"""Sweeps: axis parsing, the grid, shared targets, resume after interruption, JSON/CSV, sheet layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine.inputs import fit_pixels, fixed_size, fixed_size_inputs, mean_pixel, noise_image
from restyle.engine.quality import Judge
from restyle.errors import ConfigError
from restyle.features.convert import VGGWeights
from restyle.features.preprocessing import CAFFE, TORCHVISION
from restyle.io.image import ImageData, read_image
from restyle.jobs.events import JobFinished, JobSkipped, JobStarted, JobStep
from restyle.jobs.executor import LocalExecutor
from restyle.jobs.sheet import SheetCell, SheetSpec, caption_text, font, layout_sheet, render_sheet, wrap
from restyle.jobs.sweep import CellDone, make_axis, parse_vary, plan, seed_balance, sheet_spec, sweep

BASE = RunConfig(size=40, iterations=2, scales=1, optimizer="adam", device="cpu", style_weight=10.0)  # no calibration


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    return make_image(40, 32, seed=1), make_image(36, 36, seed=2)


# ------------------------------------------------------------------------------------------ axes
def test_parse_vary_scalars_and_layers() -> None:
    a = parse_vary("style_weight=1000,100, 10,1")
    assert (a.field, a.values, a.labels) == ("style_weight", (1000.0, 100.0, 10.0, 1.0), ("1000", "100", "10", "1"))
    # commas separate single layers ...
    a = parse_vary("content-layers=conv5_2,relu4_2,block3_conv2")
    assert a.field == "content_layers"
    assert a.values == ({"conv5_2": 1.0}, {"relu4_2": 1.0}, {"block3_conv2": 1.0})
    # ... ; or | separate values that are lists themselves
    for sep in ";|":
        a = parse_vary(f"style_layers=relu1_1,relu2_1:0.5{sep}relu3_1")
        assert a.values == ({"relu1_1": 1.0, "relu2_1": 0.5}, {"relu3_1": 1.0})
    assert parse_vary("tv_weight=1e-4,1e-2,1,100").values == (1e-4, 1e-2, 1.0, 100.0)
    assert make_axis("iterations", [5, "6"]).values == (5, 6)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("style_weight", "write FIELD=V1,V2"),
        ("=1,2", "write FIELD=V1,V2"),
        ("style_weight=", "empty value"),
        ("style_weight=1,,2", "empty value"),
        ("styleweight=1,2", "did you mean: style_weight"),
        ("style_weight=1,x", "must be a number"),
        ("style_weight=1,1.0", "given twice"),
        ("preset=sbavon,cs20", "cannot be swept"),
        ("content_layers=4_2", "not a layer name"),
        ("iterations=1.5", "must be an integer"),
    ],
)
def test_parse_vary_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_vary(spec)


def test_plan_orders_columns_then_rows_and_names_cells() -> None:
    cells = plan(BASE, [parse_vary("style_weight=10,1"), parse_vary("tv_weight=0,1,2")])
    assert [(c.row, c.col) for c in cells] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert cells[3].values == {"style_weight": 1.0, "tv_weight": 1.0}
    assert cells[3].config == BASE.replace(style_weight=1.0, tv_weight=1.0)
    assert cells[3].name == "r1c1_style_weight-1_tv_weight-1"
    layers = plan(BASE, [parse_vary("style_layers=relu1_1,relu2_1;relu3_1")])
    assert [c.name for c in layers] == ["c0_style_layers-relu1_1_relu2_1", "c1_style_layers-relu3_1"]


def test_plan_errors() -> None:
    a, b = parse_vary("style_weight=1,2"), parse_vary("tv_weight=1,2")
    with pytest.raises(ConfigError, match="at most two"):
        plan(BASE, [a, b, parse_vary("lr=1,2")])
    with pytest.raises(ConfigError, match="varied twice"):
        plan(BASE, [a, a])
    with pytest.raises(ConfigError, match="at least one"):
        plan(BASE, [])
    with pytest.raises(ConfigError, match="sweep cell iterations=0: iterations must be at least 1"):
        plan(BASE, [parse_vary("iterations=2,0")])
    with pytest.raises(ConfigError, match=r"sweep cell content_layers=relu9_9: unknown layer 'relu9_9'"):
        plan(BASE, [parse_vary("content_layers=relu4_2,relu9_9")])


def test_sweeping_size_replaces_a_preset_image_size() -> None:
    base = RunConfig().replace(preset="sbavon", iterations=2)
    cells = plan(base, [parse_vary("size=32,48")])
    assert [(c.config.size, c.config.image_size) for c in cells] == [(32, None), (48, None)]


# ------------------------------------------------------------------------------------------ runs
def test_sweep_2d_outputs_and_shared_targets(tmp_path: Path, images, tiny_weights: VGGWeights) -> None:
    events: list[object] = []
    result = sweep(
        *images,
        BASE,
        [("style_weight", ["1", "10"]), ("tv_weight", [0.0, 1.0])],
        tmp_path,
        events.append,
        weights=tiny_weights,
    )
    kinds = [type(e) for e in events if not isinstance(e, JobStep)]
    assert kinds == [JobStarted, JobFinished, CellDone] * 4
    assert [e.done for e in events if isinstance(e, CellDone)] == [1, 2, 3, 4]
    steps = [e for e in events if isinstance(e, JobStep)]
    assert len(steps) == 4 * 2 and steps[0].iterate is not None and steps[-1].index == 3
    assert [e.job.tag.name for e in steps[::2]] == [c.cell.name for c in result.records]
    # every cell image, a sheet, JSON and CSV
    for rec in result.records:
        assert (tmp_path / rec.image).is_file() and (tmp_path / "cells" / f"{rec.cell.name}.json").is_file()
        assert read_image(tmp_path / rec.image).pixels.shape == (3, 32, 40)
    assert result.sheet == tmp_path / "sheet.png" and result.sheet.is_file()
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["base"] == BASE.to_dict()
    assert doc["axes"] == [
        {"field": "style_weight", "values": [1.0, 10.0], "labels": ["1", "10"]},
        {"field": "tv_weight", "values": [0.0, 1.0], "labels": ["0", "1"]},
    ]
    assert len(doc["cells"]) == 4
    cell = doc["cells"][1]
    assert (cell["row"], cell["col"], cell["values"]) == (0, 1, {"style_weight": 10.0, "tv_weight": 0.0})
    assert cell["config"] == BASE.replace(style_weight=10.0, tv_weight=0.0).to_dict()
    assert set(cell["losses"]) == {"content", "style", "total"} and cell["time_s"] > 0
    assert set(doc["cells"][3]["losses"]) == {"content", "style", "tv", "total"}
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [(r["row"], r["col"], r["style_weight"], r["tv_weight"]) for r in rows] == [
        ("0", "0", "1", "0"),
        ("0", "1", "10", "0"),
        ("1", "0", "1", "1"),
        ("1", "1", "10", "1"),
    ]
    assert rows[0]["tv"] == "" and float(rows[3]["tv"]) == pytest.approx(doc["cells"][3]["losses"]["tv"], rel=1e-5)
    assert rows[2]["image"] == "cells/r1c0_style_weight-1_tv_weight-1.png"
    # style_weight and tv_weight do not change the targets: one content and one style set in all
    t = result.timings
    assert (t["targets_computed"], t["targets_reused"]) == (2, 6)
    # style weight 10 weighs the style term 10x at equal style loss of the start image
    assert doc["cells"][1]["losses"]["style"] > doc["cells"][0]["losses"]["style"]


def test_shared_targets_give_the_same_result_as_a_fresh_run(tmp_path: Path, images, tiny_weights) -> None:
    from restyle.engine.stylize import Stylizer

    result = sweep(*images, BASE, [("iterations", [1, 2])], tmp_path, weights=tiny_weights)
    assert result.timings["targets_reused"] == 2
    alone = Stylizer(BASE.replace(iterations=2), weights=tiny_weights).run(*images)
    swept = read_image(tmp_path / result.records[1].image).pixels
    assert torch.allclose(swept, alone.pixels, atol=1 / 255 + 1e-6)


class Stop(Exception):
    pass


def test_resume_after_interruption_runs_only_missing_cells(tmp_path: Path, images, tiny_weights) -> None:
    axes = [("style_weight", ["1", "2", "3"])]

    def die_after_two(event: object) -> None:
        if isinstance(event, CellDone) and event.done == 2:
            raise Stop

    with pytest.raises(Stop):
        sweep(*images, BASE, axes, tmp_path, die_after_two, weights=tiny_weights)
    finished = sorted(p.name for p in (tmp_path / "cells").glob("*.json"))
    assert finished == ["c0_style_weight-1.json", "c1_style_weight-2.json"]
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "cells").iterdir()}
    assert not (tmp_path / "results.json").exists()

    events: list[object] = []
    result = sweep(*images, BASE, axes, tmp_path, events.append, weights=tiny_weights)
    assert [(type(e), e.job.tag.name) for e in events if isinstance(e, JobSkipped | JobStarted | CellDone)] == [
        (JobSkipped, "c0_style_weight-1"),
        (CellDone, "c0_style_weight-1"),
        (JobSkipped, "c1_style_weight-2"),
        (CellDone, "c1_style_weight-2"),
        (JobStarted, "c2_style_weight-3"),
        (CellDone, "c2_style_weight-3"),
    ]
    assert [r.resumed for r in result.records] == [True, True, False]
    assert (result.timings["cells_run"], result.timings["cells_resumed"]) == (1, 2)
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())  # finished cells untouched
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [c["resumed"] for c in doc["cells"]] == [True, True, False]
    assert doc["cells"][0]["losses"] == json.loads((tmp_path / "cells/c0_style_weight-1.json").read_text())["losses"]

    # other settings or other inputs: the old records do not match and every cell runs again
    result = sweep(*images, BASE.replace(iterations=1), axes, tmp_path, weights=tiny_weights)
    assert result.timings["cells_run"] == 3
    result = sweep(images[0], images[0], BASE.replace(iterations=1), axes, tmp_path, weights=tiny_weights)
    assert result.timings["cells_run"] == 3


def test_a_cell_stopped_early_is_not_recorded_and_resumes(tmp_path: Path, images, tiny_weights) -> None:
    base = BASE.replace(iterations=4)
    executor = LocalExecutor(base, weights=tiny_weights)

    def stop_in_cell_two(event: object) -> None:  # as a signal handler does
        if isinstance(event, JobStep) and event.index == 1 and event.iterate.step == 2:
            executor.request_stop()

    axes = [("style_weight", ["1", "2"])]
    result = sweep(*images, base, axes, tmp_path, stop_in_cell_two, executor=executor)
    assert result.interrupted is not None and result.sheet is None and not (tmp_path / "sheet.png").exists()
    cells = tmp_path / "cells"
    assert sorted(p.name for p in cells.glob("*.json")) == ["c0_style_weight-1.json"]
    assert (cells / "c1_style_weight-2.partial.png").is_file() and (cells / "c1_style_weight-2.ckpt").is_file()
    assert not (cells / "c1_style_weight-2.png").exists()

    events: list[object] = []
    result = sweep(*images, base, axes, tmp_path, events.append, weights=tiny_weights)
    [started] = [e for e in events if isinstance(e, JobStarted)]
    assert started.job.tag.name == "c1_style_weight-2" and started.resumed_from == 2  # continued mid-cell
    assert result.sheet is not None and [r.resumed for r in result.records] == [True, False]
    assert sorted(p.name for p in cells.iterdir()) == [
        "c0_style_weight-1.json",
        "c0_style_weight-1.png",
        "c1_style_weight-2.json",
        "c1_style_weight-2.png",
    ]
    alone = sweep(*images, base, axes[:1] and [("style_weight", ["2"])], tmp_path / "fresh", weights=tiny_weights)
    assert torch.equal(
        read_image(cells / "c1_style_weight-2.png").pixels,
        read_image(tmp_path / "fresh" / alone.records[0].image).pixels,
    )


def test_a_half_written_cell_is_redone(tmp_path: Path, images, tiny_weights) -> None:
    axes = [("style_weight", ["1", "2"])]
    sweep(*images, BASE, axes, tmp_path, weights=tiny_weights)
    (tmp_path / "cells" / "c1_style_weight-2.png").unlink()  # killed between image and record, say
    (tmp_path / "cells" / "c0_style_weight-1.json").write_text("{trunc")
    result = sweep(*images, BASE, axes, tmp_path, weights=tiny_weights)
    assert result.timings["cells_run"] == 2


def test_sweep_with_a_fixed_image_size(tmp_path: Path, images, tiny_weights) -> None:
    base = BASE.replace(image_size="48x40")
    result = sweep(*images, base, [("content_weight", [1, 2])], tmp_path, weights=tiny_weights)
    assert [r.size for r in result.records] == [(48, 40), (48, 40)]


def test_sweep_with_real_vgg16(tmp_path: Path, real_vgg16: Path) -> None:
    """One tiny real case: the preset, real weights, 48 px, results that are not flat."""
    content = Path(__file__).parents[2] / "examples" / "tubingen.jpg"
    style = Path(__file__).parents[2] / "examples" / "starry_night.jpg"
    base = RunConfig().replace(preset="ryanwu", model="vgg16", size=48, iterations=3, device="cpu")
    result = sweep(str(content), str(style), base, [("tv_weight", ["1e-4", "100"])], tmp_path)
    assert "vgg16" in result.records[0].model
    for rec in result.records:
        px = read_image(tmp_path / rec.image).pixels
        assert px.shape == (3, 36, 48) and float(px.std()) > 0.05
        assert all(torch.isfinite(torch.tensor(v)) for v in rec.losses.values())
    assert result.records[1].losses["tv"] > result.records[0].losses["tv"]


# ------------------------------------------------------------------------------------------ inputs
def test_fixed_size_and_fit() -> None:
    assert fixed_size("300x300", 1024, 768) == (300, 300)
    assert fixed_size("x720", 1024, 768) == (960, 720)
    assert fixed_size("x720", 1000, 750) == (960, 720)
    assert fixed_size("x700", 1000, 751) == (932, 700)  # int(), as Keras' int(nrows / H * W)
    assert fixed_size("100x", 400, 300) == (100, 75)
    wide = torch.zeros(3, 10, 40)
    wide[:, :, 15:25] = 1  # a white band in the middle
    cropped = fit_pixels(wide, (10, 10), "crop")
    assert cropped.shape == (3, 10, 10) and float(cropped.mean()) > 0.9
    assert float(fit_pixels(wide, (10, 10), "stretch").mean()) == pytest.approx(0.25, abs=0.05)
    with pytest.raises(ConfigError, match="WxH"):
        fixed_size("300", 10, 10)


def test_fixed_size_inputs_is_idempotent() -> None:
    config = RunConfig(image_size="333x250", image_fit="crop")
    data = ImageData(make_image(64, 64), torch.ones(1, 64, 64), 8, "x", (64, 64))
    c, s = fixed_size_inputs(config, data, [make_image(30, 50)])
    assert c.pixels.shape == (3, 250, 333) and c.alpha.shape == (1, 250, 333) and s[0].shape == (3, 250, 333)
    c2, s2 = fixed_size_inputs(config, dataclass_replace(c), s)
    assert torch.equal(c2.pixels, c.pixels) and torch.equal(s2[0], s[0])
    assert fixed_size_inputs(RunConfig(), data, s) == (data, s)


def dataclass_replace(data: ImageData) -> ImageData:
    """The resized image as a run would see it: its own size is now the original."""
    return ImageData(data.pixels, data.alpha, 8, "x", (data.pixels.shape[2], data.pixels.shape[1]))


def test_noise_images() -> None:
    like = torch.zeros(1, 3, 32, 32)
    gen = torch.Generator().manual_seed(0)
    unit = noise_image("unit", like, gen, CAFFE)
    assert 0 <= float(unit.min()) and float(unit.max()) <= 1 and float(unit.std()) > 0.25
    mean = mean_pixel(CAFFE)
    assert torch.allclose(mean * 255, torch.tensor([123.68, 116.779, 103.939]))  # RGB order
    u = noise_image("uniform:10", like, gen, CAFFE)
    dev = (u - mean.view(1, 3, 1, 1)) * 255
    assert float(dev.abs().max()) <= 10 + 1e-4 and float(dev.abs().max()) > 9
    n = noise_image("normal:0.001", like, gen, TORCHVISION)
    assert torch.allclose(n, mean_pixel(TORCHVISION).view(1, 3, 1, 1).expand_as(n), atol=1e-4)
    with pytest.raises(ConfigError, match="uniform:A"):
        RunConfig(noise="gauss:3").validate()


# ------------------------------------------------------------------------------------------ sheet
@pytest.mark.parametrize(("rows", "cols", "two_d"), [(1, 4, False), (3, 2, True), (1, 1, False)])
def test_layout_is_consistent(rows: int, cols: int, two_d: bool) -> None:
    lay = layout_sheet(rows, cols, 256, 192, two_d=two_d)
    assert len(lay.col_headers) == cols and len(lay.cells) == rows and all(len(r) == cols for r in lay.cells)
    assert len(lay.row_headers) == (rows if two_d else 0)
    boxes = lay.boxes()
    for b in boxes:  # inside the sheet
        assert 0 <= b.x and b.right <= lay.width and 0 <= b.y and b.bottom <= lay.height
    for i, a in enumerate(boxes):  # nothing overlaps
        for b in boxes[i + 1 :]:
            if a is not lay.title and b is not lay.title:
                assert not a.overlaps(b), (a, b)
    for c in range(cols):  # headers above their columns, captions under their cells
        assert lay.col_headers[c].x == lay.cells[0][c].x and lay.col_headers[c].bottom <= lay.cells[0][c].y
        for r in range(rows):
            assert lay.captions[r][c].x == lay.cells[r][c].x and lay.captions[r][c].y >= lay.cells[r][c].bottom
    for r, h in enumerate(lay.row_headers):
        assert h.y == lay.cells[r][0].y and h.right <= lay.cells[r][0].x
        assert lay.style_thumb.right <= h.x
    assert lay.content_thumb.bottom <= lay.style_label.y


def test_render_sheet_size_and_labels_fit() -> None:
    img = Image.new("RGB", (40, 30), "red")
    spec = SheetSpec(
        "title",
        img,
        img,
        ["style_weight = 1000", "style_weight = 1"],
        ["tv_weight = 1e-4"],
        [[SheetCell(img, caption_text({"content": 1.0, "style": 2.0}, 3.0))] * 2],
    )
    sheet = render_sheet(spec, cell_size=128)
    lay = layout_sheet(1, 2, 128, 96, two_d=True)
    assert sheet.size == (lay.width, lay.height)
    fnt = font(16)
    lines = wrap("content_layers = relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", fnt, 120, 3)
    assert 1 < len(lines) <= 3 and all(fnt.getlength(line) <= 120 for line in lines)
    caption = caption_text({"content": 1234.5, "style": 0.5, "tv": 7.0, "total": 1.0}, 12.3)
    assert caption.replace("\u00a0", " ") == "content 1.23e+03 · style 0.5 · tv 7 · 12 s"
    for line in wrap(caption, fnt, 100, 2):
        assert not line.startswith("·") and "s" != line.strip()  # never breaks inside a term


def test_seed_balance_matches_the_seeds_pixel_count() -> None:
    tubingen = Path(__file__).parents[2] / "examples" / "tubingen.jpg"  # 1024 x 768
    config = RunConfig().replace(preset="ryanwu", size=192)
    assert seed_balance(config, str(tubingen)) == pytest.approx(192 * 144 / (960 * 720))
    assert seed_balance(RunConfig().replace(preset="ryanwu"), str(tubingen)) == pytest.approx(1.0)  # x720 itself


# ------------------------------------------------------------------------------------------ measure
def test_measure_adds_distances_to_records_tables_and_captions(tmp_path: Path, images, tiny_weights) -> None:
    judge = Judge(tiny_weights, size=48)
    axes = [("style_weight", ["1", "100"])]
    result = sweep(*images, BASE, axes, tmp_path, weights=tiny_weights, measure=judge)
    photo, painting = (i.unsqueeze(0) for i in images)
    for rec in result.records:  # exactly the judge's measure of the written image
        image = read_image(tmp_path / rec.image).pixels.unsqueeze(0)
        assert rec.distances == judge.measure(image, photo, painting).to_dict()
        assert set(rec.distances) == {"content_distance", "style_distance", "edge_structure"}
        cell_doc = json.loads((tmp_path / "cells" / f"{rec.cell.name}.json").read_text())
        assert cell_doc["distances"] == rec.distances and "inputs_sha256" in cell_doc
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [c["distances"] for c in doc["cells"]] == [r.distances for r in result.records]
    assert result.timings["measure_s"] >= 0
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    for row, rec in zip(rows, result.records, strict=True):
        assert float(row["content_distance"]) == pytest.approx(rec.distances["content_distance"], rel=1e-3)
        assert float(row["style_distance"]) == pytest.approx(rec.distances["style_distance"], rel=1e-3)
        assert float(row["edge_structure"]) == pytest.approx(rec.distances["edge_structure"], rel=1e-3)
    spec = sheet_spec(result, *images)
    for cell, rec in zip(spec.cells[0], result.records, strict=True):
        first = cell.caption.split("\n")[0].replace("\u00a0", " ")
        d = rec.distances
        assert first == (
            f"content dist {d['content_distance']:.3f} · style dist {d['style_distance']:.3f} "
            f"· edges {d['edge_structure']:.2f}"
        )

    # resumed: measured again (same image, same numbers); without measure the recorded ones are kept
    again = sweep(*images, BASE, axes, tmp_path, weights=tiny_weights, measure=judge)
    assert [r.resumed for r in again.records] == [True, True]
    assert [r.distances for r in again.records] == [r.distances for r in result.records]
    plain = sweep(*images, BASE, axes, tmp_path, weights=tiny_weights)
    assert [r.distances for r in plain.records] == [r.distances for r in result.records]
    assert "measure_s" not in plain.timings


def test_unmeasured_sweep_has_no_distances(tmp_path: Path, images, tiny_weights) -> None:
    result = sweep(*images, BASE, [("style_weight", ["1"])], tmp_path, weights=tiny_weights)
    assert result.records[0].distances == {}
    assert "distances" not in json.loads((tmp_path / "results.json").read_text())["cells"][0]
    row = next(csv.DictReader((tmp_path / "results.csv").open()))
    assert (row["content_distance"], row["style_distance"]) == ("", "")
    assert "\n" not in sheet_spec(result, *images).cells[0][0].caption


def test_measure_needs_one_style(tmp_path: Path, images, tiny_weights) -> None:
    with pytest.raises(ConfigError, match="one style image"):
        sweep(
            images[0],
            [images[1], images[0]],
            BASE,
            [("style_weight", ["1"])],
            tmp_path,
            weights=tiny_weights,
            measure=Judge(tiny_weights, size=48),
        )
    assert not (tmp_path / "cells").exists()


def test_caption_with_distances_gets_its_own_line() -> None:
    caption = caption_text({"content": 1.0, "style": 2.0, "tv": 3.0}, 4.0, distances=_D)
    assert caption.replace("\u00a0", " ") == ("content dist 0.412 · style dist 0.087\ncontent 1 · style 2 · tv 3 · 4 s")
    fnt = font(12)
    lines = wrap(caption, fnt, 400, 4)
    assert lines == ["content dist 0.412 · style dist 0.087", "content 1 · style 2 · tv 3 · 4 s"]
    assert len(wrap(caption, fnt, 400, 1)) == 1  # still at most max_lines
    # the sheet makes room for the extra line
    img = Image.new("RGB", (40, 30), "red")
    short = SheetSpec("t", img, img, ["a"], [], [[SheetCell(img, caption_text({"content": 1.0}, 4.0))]])
    long = SheetSpec("t", img, img, ["a"], [], [[SheetCell(img, caption)]])
    assert render_sheet(long, cell_size=128).height > render_sheet(short, cell_size=128).height
    assert (
        layout_sheet(1, 1, 128, 96, two_d=False, caption_lines=3).height
        > layout_sheet(1, 1, 128, 96, two_d=False).height
    )


_D = {"content_distance": 0.4123, "style_distance": 0.0871}
