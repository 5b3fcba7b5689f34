"""The feed-forward networks as torch modules, rebuilt from their ONNX graphs.

A :class:`Program` is a graph's operations after loading (:mod:`restyle.fast.weights`): the
weights' DequantizeLinear nodes folded into float32 constants, the activations' Quantize/Dequantize
pairs either removed (``quantize=False``: float activations) or kept as fake quantisation (the
int8 model's rounding, for comparison with onnxruntime). :class:`GraphModule` runs a Program with
its constants as buffers, so ``.to(device, dtype)`` moves and casts it like any module; every
operation of these graphs is size-agnostic (convolutions, reflection pads, instance-norm moments by
global average pooling, 2x nearest upsampling), so the module runs at any size.

:class:`FastNetwork` pairs the style prediction network (a painting at 256 px → a 100-number style
vector) with the transfer network (a photo at any size + a vector → the picture) and speaks
restyle's image convention, ``(N, 3, H, W)`` RGB in [0, 1], where the graphs read NHWC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Side of the painting the style prediction network sees (its training size).
STYLE_SIDE = 256
#: The transfer network halves the size twice, then doubles it twice: sizes are padded to a multiple of this.
ALIGN = 4


@dataclass
class Op:
    """One operation of a graph: its ONNX type, input and output value names and attributes (JSON-able)."""

    type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored in the cached safetensors file's metadata)."""
        return {"type": self.type, "inputs": self.inputs, "outputs": self.outputs, "attrs": self.attrs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Op:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["type"]), list(d["inputs"]), list(d["outputs"]), dict(d.get("attrs", {})))


@dataclass
class Program:
    """A graph ready to run: operations in order, constant values, and the names of its inputs and outputs."""

    ops: list[Op]
    constants: dict[str, torch.Tensor]
    inputs: list[str]
    outputs: list[str]

    def parameters(self) -> int:
        """Number of float weights (folded constants with more than one element)."""
        return sum(t.numel() for t in self.constants.values() if t.is_floating_point() and t.numel() > 1)


# ------------------------------------------------------------------------------------------ operations
def _broadcast_along(v: torch.Tensor, axis: int, ndim: int) -> torch.Tensor:
    """A per-channel (1-D) quantisation parameter shaped to broadcast along ``axis`` of an ``ndim`` tensor."""
    if v.dim() == 0 or v.numel() == 1:
        return v.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = v.numel()
    return v.reshape(shape)


def _dequantize(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None = None, axis: int = 1) -> torch.Tensor:
    dtype = scale.dtype if scale.is_floating_point() else torch.float32
    s = _broadcast_along(scale, axis, x.dim()).to(dtype)
    z = 0 if zero is None else _broadcast_along(zero, axis, x.dim()).to(dtype)
    return (x.to(dtype) - z) * s


def _quantize(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None = None, axis: int = 1) -> torch.Tensor:
    """Fake quantisation: the int8 (or int32) value as a float tensor (round half to even, saturated)."""
    s = _broadcast_along(scale, axis, x.dim()).to(x.dtype)
    z = 0 if zero is None else _broadcast_along(zero, axis, x.dim()).to(x.dtype)
    lo, hi = (-128, 127) if zero is None or zero.dtype == torch.int8 else (0, 255)
    if zero is not None and zero.dtype == torch.int32:
        lo, hi = -(2**31), 2**31 - 1
    return (torch.round(x / s) + z).clamp(lo, hi)


def _pad(x: torch.Tensor, pads: torch.Tensor | list[int], mode: str = "constant", value: float = 0.0) -> torch.Tensor:
    """ONNX Pad: ``pads`` = begins of every axis then ends; reflect or constant (non-negative pads)."""
    p = [int(v) for v in (pads.tolist() if isinstance(pads, torch.Tensor) else pads)]
    n = x.dim()
    begins, ends = p[:n], p[n:]
    padded = [d for d in range(n) if begins[d] or ends[d]]
    if not padded:
        return x
    if any(v < 0 for v in p):
        raise NotImplementedError("Pad with negative pads")
    if mode == "reflect" and padded == list(range(n - len(padded), n)) and len(padded) <= 2:
        torch_pads: list[int] = []
        for d in reversed(padded):
            torch_pads += [begins[d], ends[d]]
        return F.pad(x, torch_pads, mode="reflect")
    if mode == "constant":
        torch_pads = []
        for d in reversed(range(n)):
            torch_pads += [begins[d], ends[d]]
        return F.pad(x, torch_pads, mode="constant", value=value)
    if mode != "reflect":
        raise NotImplementedError(f"Pad mode {mode}")
    for d in padded:  # reflect along other axes (e.g. NHWC's H and W): mirror without the edge
        b, e = begins[d], ends[d]
        size = x.shape[d]
        parts = [x.narrow(d, 1, b).flip(d)] if b else []
        parts.append(x)
        if e:
            parts.append(x.narrow(d, size - 1 - e, e).flip(d))
        x = torch.cat(parts, d)
    return x


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, attrs: Mapping[str, Any]) -> torch.Tensor:
    strides = tuple(attrs.get("strides", [1, 1]))
    dilations = tuple(attrs.get("dilations", [1, 1]))
    group = int(attrs.get("group", 1))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for i, (size, k, s, d) in enumerate(zip(x.shape[2:], w.shape[2:], strides, dilations, strict=True)):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small, large = total // 2, total - total // 2
            pads[i], pads[i + 2] = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    elif auto_pad == "VALID":
        pads = [0, 0, 0, 0]
    if pads[0] == pads[2] and pads[1] == pads[3]:
        padding: tuple[int, int] = (pads[0], pads[1])
    else:
        x = F.pad(x, [pads[1], pads[3], pads[0], pads[2]])
        padding = (0, 0)
    return F.conv2d(x, w, b, strides, padding, dilations, group)


def _reshape(x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    dims = [int(v) for v in shape.tolist()]
    dims = [x.shape[i] if v == 0 else v for i, v in enumerate(dims)]  # 0: keep that axis (allowzero=0)
    return x.reshape(dims)


def _resize(x: torch.Tensor, roi: Any, scales: torch.Tensor | None, sizes: torch.Tensor | None = None) -> torch.Tensor:
    """ONNX Resize as these graphs use it: nearest, asymmetric, floor (torch's ``nearest``)."""
    if sizes is not None and sizes.numel():
        target = [int(v) for v in sizes.tolist()[2:]]
    else:
        assert scales is not None
        s = [float(v) for v in scales.tolist()]
        if s[:2] != [1.0, 1.0]:
            raise NotImplementedError("Resize of the batch or channel axis")
        if s[2:] == [1.0, 1.0]:
            return x
        target = [int(dim * f) for dim, f in zip(x.shape[2:], s[2:], strict=True)]
    return F.interpolate(x, size=target, mode="nearest")


def _global_average(x: torch.Tensor) -> torch.Tensor:
    # Instance-norm moments in float32 whatever the network's dtype: bf16 sums over a 2048 px map lose digits.
    return x.float().mean(dim=tuple(range(2, x.dim())), keepdim=True).to(x.dtype)


def _clip(x: torch.Tensor, lo: torch.Tensor | None = None, hi: torch.Tensor | None = None) -> torch.Tensor:
    return x.clamp(None if lo is None else float(lo), None if hi is None else float(hi))


def _variance(x: torch.Tensor) -> torch.Tensor:
    """Instance-norm variance over the spatial axes in one pass (float32, like :func:`_global_average`)."""
    return x.float().var(dim=tuple(range(2, x.dim())), unbiased=False, keepdim=True).to(x.dtype)


OpFn = Callable[..., torch.Tensor]
#: Each supported ONNX operation: ``fn(attrs, *inputs)`` (missing optional inputs are None).
OPS: dict[str, OpFn] = {
    "DequantizeLinear": lambda a, x, s, z=None: _dequantize(x, s, z, int(a.get("axis", 1))),
    "QuantizeLinear": lambda a, x, s, z=None: _quantize(x, s, z, int(a.get("axis", 1))),
    "Conv": lambda a, x, w, b=None: _conv(x, w, b, a),
    "Add": lambda a, x, y: x + y,
    "Sub": lambda a, x, y: x - y,
    "Mul": lambda a, x, y: x * y,
    "Div": lambda a, x, y: x / y,
    "Relu": lambda a, x: torch.relu(x),
    "Sigmoid": lambda a, x: torch.sigmoid(x),
    "Sqrt": lambda a, x: torch.sqrt(x),
    "Reciprocal": lambda a, x: torch.reciprocal(x),
    "Clip": lambda a, x, lo=None, hi=None: _clip(x, lo, hi),
    "Reshape": lambda a, x, shape: _reshape(x, shape),
    "Transpose": lambda a, x: x.permute(*a["perm"]),
    "GlobalAveragePool": lambda a, x: _global_average(x),
    "Pad": lambda a, x, pads, value=None: _pad(x, pads, a.get("mode", "constant"), 0.0 if value is None else value),
    "Resize": lambda a, x, roi=None, scales=None, sizes=None: _resize(x, roi, scales, sizes),
    "Identity": lambda a, x: x,
    # made by :func:`fuse` (not ONNX operations): the instance norms' passes over the feature maps, fewer
    "Variance": lambda a, x: _variance(x),
    "MulAdd": lambda a, x, y, z: torch.addcmul(z, x, y),
}


def fuse(program: Program) -> Program:
    """``program`` with its instance norms' elementwise chains fused (a float program: no Q/DQ between ops).

    ``GlobalAveragePool(Mul(Sub(x, mean), same))`` → ``Variance(x)`` (one pass instead of three), and
    ``Add(Mul(x, m), b)`` → ``MulAdd(x, m, b)`` (one pass instead of two), where the intermediate values
    have no other use. The same numbers up to float rounding.
    """
    consumers: dict[str, list[int]] = {}
    for i, op in enumerate(program.ops):
        for n in op.inputs:
            consumers.setdefault(n, []).append(i)
    producer = {op.outputs[0]: i for i, op in enumerate(program.ops)}
    ops: list[Op | None] = list(program.ops)

    def only_use(name: str) -> bool:
        return len(set(consumers.get(name, []))) == 1 and name not in program.outputs

    for i, op in enumerate(program.ops):
        if op.type == "GlobalAveragePool" and op.inputs[0] in producer:
            sq = program.ops[producer[op.inputs[0]]]
            if sq.type != "Mul" or sq.inputs[0] != sq.inputs[1] or not only_use(sq.outputs[0]):
                continue
            if sq.inputs[0] not in producer or not only_use(sq.inputs[0]):
                continue
            sub = program.ops[producer[sq.inputs[0]]]
            mean = program.ops[producer[sub.inputs[1]]] if sub.type == "Sub" and sub.inputs[1] in producer else None
            while mean is not None and mean.type == "Reshape" and mean.inputs[0] in producer:  # [1, C, 1, 1] views
                mean = program.ops[producer[mean.inputs[0]]]
            if mean is None or mean.type != "GlobalAveragePool" or mean.inputs[0] != sub.inputs[0]:
                continue
            ops[producer[sub.outputs[0]]] = ops[producer[sq.outputs[0]]] = None
            ops[i] = Op("Variance", [sub.inputs[0]], op.outputs)
        elif op.type == "Add":
            for k, other in ((0, 1), (1, 0)):
                name = op.inputs[k]
                if name in producer and ops[producer[name]] is not None and only_use(name):
                    mul = program.ops[producer[name]]
                    if mul.type == "Mul":
                        ops[producer[name]] = None
                        ops[i] = Op("MulAdd", [mul.inputs[0], mul.inputs[1], op.inputs[other]], op.outputs)
                        break
    return Program([op for op in ops if op is not None], program.constants, program.inputs, program.outputs)


def run_op(op: Op, args: list[torch.Tensor | None]) -> torch.Tensor:
    """Compute one operation; NotImplementedError names an operation these graphs do not use."""
    fn = OPS.get(op.type)
    if fn is None:
        raise NotImplementedError(f"ONNX operation {op.type} is not supported")
    while args and args[-1] is None:
        args = args[:-1]
    return fn(op.attrs, *args)


class GraphModule(nn.Module):
    """Runs a :class:`Program`: its float constants are buffers (moved and cast by ``.to``), the rest kept as is.

    Intermediate values are dropped after their last use, so peak memory stays a few feature maps.
    """

    def __init__(self, program: Program) -> None:
        super().__init__()
        self.ops = program.ops
        self.input_names, self.output_names = program.inputs, program.outputs
        self._names: dict[str, str] = {}
        self._fixed: dict[str, torch.Tensor] = {}  # integer shapes, pads, zero points: never cast
        for i, (name, value) in enumerate(program.constants.items()):
            if value.is_floating_point():
                key = f"c{i}"
                self.register_buffer(key, value.clone(), persistent=True)
                self._names[name] = key
            else:
                self._fixed[name] = value
        last: dict[str, int] = {}
        for i, op in enumerate(self.ops):
            for n in op.inputs:
                last[n] = i
        self._free_after = [[n for n in op.inputs if last.get(n) == i] for i, op in enumerate(self.ops)]

    def constant(self, name: str) -> torch.Tensor | None:
        """The value of constant ``name`` as the module holds it now (None if it is not a constant)."""
        if name in self._names:
            return getattr(self, self._names[name])
        return self._fixed.get(name)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The graph's (first) output for its inputs, in the graph's own layout."""
        if len(inputs) != len(self.input_names):
            raise TypeError(f"the graph takes {len(self.input_names)} inputs, got {len(inputs)}")
        env: dict[str, torch.Tensor] = dict(zip(self.input_names, inputs, strict=True))
        for op, free in zip(self.ops, self._free_after, strict=True):
            args: list[torch.Tensor | None] = []
            for n in op.inputs:
                if not n:
                    args.append(None)
                elif n in env:
                    args.append(env[n])
                elif n in self._names:
                    args.append(getattr(self, self._names[n]))
                else:
                    args.append(self._fixed[n])
            env[op.outputs[0]] = run_op(op, args)
            for n in free:
                if n not in self.output_names:
                    env.pop(n, None)
        return env[self.output_names[0]]


class FastNetwork(nn.Module):
    """Style prediction + style transfer: :meth:`style_vector` of a painting, :meth:`transfer` of a photo.

    Images are ``(N, 3, H, W)`` RGB in [0, 1]; the module's dtype (fp32 or bf16) is what it
    computes in, its results are float32.
    """

    def __init__(self, predict: GraphModule, transfer: GraphModule, description: str = "") -> None:
        super().__init__()
        self.predict = predict
        self.transform = transfer
        self.description = description

    @property
    def dtype(self) -> torch.dtype:
        """The number format the convolutions run in."""
        return next(self.buffers()).dtype

    @property
    def device(self) -> torch.device:
        """Where the module's weights are."""
        return next(self.buffers()).device

    @torch.no_grad()
    def style_vector(self, painting: torch.Tensor) -> torch.Tensor:
        """The ``(N, 100)`` style vector of ``(N, 3, h, w)`` paintings, each seen at 256x256 (float32)."""
        x = painting.to(self.device, torch.float32)
        if x.shape[-2:] != (STYLE_SIDE, STYLE_SIDE):
            x = F.interpolate(x, size=(STYLE_SIDE, STYLE_SIDE), mode="bilinear", antialias=True, align_corners=False)
        nhwc = x.clamp(0, 1).permute(0, 2, 3, 1).to(self.dtype)
        return torch.cat([self.predict(one[None]).reshape(1, -1) for one in nhwc]).float()  # graphs take batch 1

    @torch.no_grad()
    def transfer(self, photo: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        """The stylised ``(N, 3, H, W)`` picture of ``photo`` at its own size, painted with style ``vector``.

        Sides that are not a multiple of 4 are reflection-padded for the network and cropped back.
        """
        x = photo.to(self.device, torch.float32).clamp(0, 1)
        h, w = x.shape[-2:]
        ph, pw = (-h) % ALIGN, (-w) % ALIGN
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, [0, pw, 0, ph], mode=mode)
        v = vector.to(self.device, self.dtype).reshape(-1, 1, 1, 1, vector.shape[-1]).expand(x.shape[0], -1, -1, -1, -1)
        nhwc = x.permute(0, 2, 3, 1).to(self.dtype)
        out = torch.cat([self.transform(one[None], vi) for one, vi in zip(nhwc, v, strict=True)])  # graphs take batch 1
        return out.permute(0, 3, 1, 2)[..., :h, :w].float().contiguous()

    def forward(self, photo: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
        """``transfer(photo, style_vector(painting))``."""
        return self.transfer(photo, self.style_vector(painting))
