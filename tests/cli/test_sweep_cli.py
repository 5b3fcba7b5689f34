"""``restyle sweep``, ``restyle figures`` and ``--weights`` with the seeds' files, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from helpers import make_image
from restyle.cli import sweep as sweep_cli
from restyle.cli.app import app
from restyle.cli.common import build_config
from restyle.engine.quality import Judge
from restyle.features.convert import VGGWeights
from restyle.features.layers import conv_names
from restyle.io.image import write_image
from restyle.jobs.sweep import FIGURE_SETTINGS, FIGURES, figure_settings

runner = CliRunner()
TINY = ["--size", "40", "--iterations", "1", "--scales", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("images")
    write_image(d / "c.png", make_image(40, 32, seed=1))
    write_image(d / "s.png", make_image(36, 36, seed=2))
    return str(d / "c.png"), str(d / "s.png")


def test_sweep_writes_grid_sheet_json_csv(tmp_path: Path, pair, tiny_weights_file: Path) -> None:
    out = tmp_path / "sweep"
    args = [
        "sweep",
        *pair,
        "--vary",
        "style_weight=1,10",
        "--vary",
        "content_layers=relu4_2,relu3_2",
        "--weights",
        str(tiny_weights_file),
        *TINY,
        "-o",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "4 run, 0 resumed" in result.output
    for name in ("sheet.png", "results.json", "results.csv"):
        assert (out / name).is_file()
    doc = json.loads((out / "results.json").read_text())
    assert [c["values"] for c in doc["cells"]] == [
        {"style_weight": 1.0, "content_layers": {"relu4_2": 1.0}},
        {"style_weight": 10.0, "content_layers": {"relu4_2": 1.0}},
        {"style_weight": 1.0, "content_layers": {"relu3_2": 1.0}},
        {"style_weight": 10.0, "content_layers": {"relu3_2": 1.0}},
    ]
    assert len(list((out / "cells").glob("*.png"))) == 4
    # the same command again resumes everything
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "0 run, 4 resumed" in result.output


def test_sweep_over_a_preset_with_overrides(tmp_path: Path, pair, tiny_weights_file: Path) -> None:
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        [
            "sweep",
            *pair,
            "--preset",
            "cs20",
            "--vary",
            "tv_weight=0,1",
            "--weights",
            str(tiny_weights_file),
            *TINY,
            "--content-weight",
            "0.5",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    base = json.loads((out / "results.json").read_text())["base"]
    assert (base["preset"], base["normalize"], base["style_weight"], base["content_weight"]) == (
        "cs20",
        "cs20",
        1.0,
        0.5,
    )
    assert (base["size"], base["image_size"], base["iterations"]) == (40, None, 1)  # --size replaced 333x250


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vary", "style_weight"], "write FIELD=V1,V2"),
        (["--vary", "stylweight=1,2"], "did you mean: style_weight"),
        (["--vary", "style_weight=1,2", "--preset", "sbavn"], "did you mean: sbavon"),
        (["--vary", "style_weight=1", "--vary", "tv_weight=1", "--vary", "lr=1"], "at most two"),
    ],
)
def test_sweep_bad_input_is_one_line_exit_2(tmp_path: Path, pair, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sweep", *pair, *args, "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


@pytest.fixture
def tiny_judge(monkeypatch: pytest.MonkeyPatch, tiny_weights: VGGWeights) -> None:
    """``--measure`` judges with the tiny random weights (the real VGG16 is not in the test cache)."""
    monkeypatch.setattr(sweep_cli, "prepare_weights", lambda *a, **k: None)
    monkeypatch.setattr(sweep_cli, "Judge", lambda: Judge(tiny_weights, size=48))


def test_sweep_measure_puts_distances_under_cells(tmp_path: Path, pair, tiny_weights_file: Path, tiny_judge) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", *pair, "--vary", "style_weight=1,10", "--weights", str(tiny_weights_file), *TINY, "-o", str(out)]
    result = runner.invoke(app, [*args, "--measure"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    for cell in doc["cells"]:
        d = cell["distances"]
        assert set(d) == {"content_distance", "style_distance", "edge_structure"} and all(v >= 0 for v in d.values())
        assert f"{cell['name']}: content distance {d['content_distance']:.3f}" in result.output
        assert f"edge structure {d['edge_structure']:.2f}" in result.output
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert "content_distance" in header and "style_distance" in header and "edge_structure" in header
    result = runner.invoke(app, args)  # without --measure: no judge, no distance lines
    assert result.exit_code == 0 and "content distance" not in result.output


def test_figure_settings_are_the_documented_ones() -> None:
    assert figure_settings() == FIGURE_SETTINGS
    config = build_config(figure_settings())
    assert (config.preset, config.size, config.optimizer, config.lr, config.iterations) == (
        "ryanwu",
        144,
        "lbfgs",
        1.0,
        100,
    )
    assert (config.normalize, config.init, config.scales) == ("keras", "content", 1)  # the seed's objective
    # --optimizer adam alone: the seed's Adam (lr 1/255 from the preset), not L-BFGS's step scale
    adam = build_config(figure_settings({"optimizer": "adam"}))
    assert (adam.optimizer, adam.lr, adam.iterations) == ("adam", pytest.approx(1 / 255), 100)
    assert build_config(figure_settings({"optimizer": "adam", "lr": 0.01})).lr == 0.01
    assert [(f.name, f.values) for f in FIGURES] == [
        ("content_layer", ("relu5_2", "relu4_2", "relu3_2", "relu2_2")),
        ("style_weight", ("1000", "100", "10", "1")),
        ("tv_weight", ("1e-4", "1e-2", "1", "100")),
    ]


def test_figures_one_sheet(tmp_path: Path, pair, tiny_weights_file: Path, tiny_judge) -> None:
    result = runner.invoke(
        app,
        [
            "figures",
            "--only",
            "tv_weight",
            "--content",
            pair[0],
            "--style",
            pair[1],
            "--weights",
            str(tiny_weights_file),
            *TINY,
            "-o",
            str(tmp_path),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "figures" / "tv_weight" / "results.json").read_text())
    assert doc["axes"][0]["labels"] == ["1e-4", "1e-2", "1", "100"]
    # --seed-balance (default): style weight x (40*32 px) / (720 * int(720/32*40) px of the seed's image)
    assert (doc["base"]["preset"], doc["base"]["normalize"]) == ("ryanwu", "keras")
    assert doc["base"]["style_weight"] == pytest.approx(100 * 40 * 32 / (720 * 900))
    # the figures' settings apply under the run flags given (here --size and --iterations)
    assert (doc["base"]["optimizer"], doc["base"]["lr"], doc["base"]["iterations"]) == ("lbfgs", 1.0, 1)
    assert all(set(c["distances"]) == {"content_distance", "style_distance", "edge_structure"} for c in doc["cells"])
    assert (tmp_path / "figures" / "tv_weight" / "sheet.png").is_file()
    assert not (tmp_path / "figures" / "style_weight").exists()
    result = runner.invoke(app, ["figures", "--only", "tv-weight", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "did you mean: tv_weight" in result.output


# ------------------------------------------------------------------------------------------ --weights
FEATURES_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)  # torchvision vgg16.features


def hwio(t: torch.Tensor) -> np.ndarray:
    return t.permute(2, 3, 1, 0).numpy()


def write_h5(path: Path, w: VGGWeights) -> None:
    """Keras' vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 layout (HWIO kernels per blockB_convC)."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        for name in conv_names("vgg16"):
            b, c = name[4:].split("_")
            g = f.create_group(f"block{b}_conv{c}")
            g.create_dataset(f"block{b}_conv{c}_W_1:0", data=hwio(w.state[f"{name}.weight"]))
            g.create_dataset(f"block{b}_conv{c}_b_1:0", data=w.state[f"{name}.bias"].numpy())


def write_mat(path: Path, w: VGGWeights) -> None:
    """MatConvNet imagenet-vgg-verydeep-16.mat layout (simplenn layers, HWIO kernels)."""
    scipy_io = pytest.importorskip("scipy.io")
    layers = []
    for name in conv_names("vgg16"):
        pair = np.empty((1, 2), dtype=object)
        pair[0, 0], pair[0, 1] = hwio(w.state[f"{name}.weight"]), w.state[f"{name}.bias"].numpy().reshape(-1, 1)
        layers += [{"name": name, "type": "conv", "weights": pair}, {"name": "relu" + name[4:], "type": "relu"}]
    cell = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cell[0, i] = layer
    scipy_io.savemat(path, {"layers": cell, "meta": {"normalization": {"imageSize": np.array([[224.0, 224, 3]])}}})


def write_caffe_pth(path: Path, w: VGGWeights) -> None:
    """neural-style-pt's Caffe conversion: torchvision keys, Caffe conventions (file stem 00b39a1b)."""
    state = {}
    for name, idx in zip(conv_names("vgg16"), FEATURES_INDICES, strict=True):
        state[f"features.{idx}.weight"] = w.state[f"{name}.weight"]
        state[f"features.{idx}.bias"] = w.state[f"{name}.bias"]
    torch.save(state, path)


@pytest.mark.parametrize(
    ("filename", "writer", "fmt"),
    [
        ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", write_h5, "keras-h5"),
        ("imagenet-vgg-verydeep-16.mat", write_mat, "matconvnet"),
        ("vgg16-00b39a1b.pth", write_caffe_pth, "pth-caffe"),
    ],
)
def test_run_with_the_seeds_weight_files(
    tmp_path: Path, pair, tiny_weights: VGGWeights, filename: str, writer, fmt: str
) -> None:
    path = tmp_path / filename
    writer(path, tiny_weights)
    out = tmp_path / "o.png"
    result = runner.invoke(
        app, ["run", *pair, "--weights", str(path), *TINY, "-o", str(out), "-q", "--json", str(tmp_path / "o.json")]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    model = json.loads((tmp_path / "o.json").read_text())["model"]
    assert fmt in model and filename in model
