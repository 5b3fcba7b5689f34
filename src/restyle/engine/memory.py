"""How much memory a run needs, how much the machine has, and what an allocation failure looks like.

The estimate is of the extra memory a run's largest step needs beyond what is loaded before it (the
process, torch, the weights). It sums, at the step's image size, what one forward/backward keeps:

* **saved activations** -- walking the VGG up to the deepest layer in use: the preprocessed input
  (conv1_1 saves it), every ReLU output (saved by the ReLU and by the next convolution), every
  pooling output (saved by the next convolution) and, for max pooling, its int64 indices (twice
  the bytes of the output); requested pre-ReLU ``convB_C`` outputs are kept too;
* **backward working set** -- the gradient flowing back, the one being produced and the ReLU's
  masked copy, at the largest activation: 3 x that activation;
* **losses** -- what the loss terms save: each content layer's difference to its target, each
  style layer's Gram difference, the TV term's two image differences (with the activations, this
  is what autograd saves: the tests check it against autograd's saved tensors within 10%);
* **targets** -- the content targets of every scale (the target cache keeps them; in the network's
  number format) and the Grams;
* **image-sized buffers** -- the iterate, its gradient, two guard copies, two transient copies
  (preprocessing, TV) and the optimiser's state: Adam 2 images, L-BFGS 2 per remembered step
  (``min(lbfgs_history, iterations)``, the history capped at print size by
  :func:`~restyle.engine.optim.lbfgs_history`) plus 3. A tiled step keeps the guard copies in
  float16 and has no transient copies (it preprocesses per box, sums TV in bands and adds the
  tiles' gradients into the iterate's own);
* **network** -- two more copies of the weights in use (oneDNN/cuDNN keep weights reordered for
  the forward and for the input-gradient convolutions), plus :data:`RUNTIME_OVERHEAD` for the
  allocator's and the convolution library's scratch space.

Activations are counted at the bytes of the network's precision (bf16: 2, see
:mod:`restyle.features.precision`), with the fp32 copies of the style layers and their gradient.

The last three were calibrated against peak RSS with ``benchmarks/memory.py`` (256 to 2048 px;
results in benchmarks/README.md): measured/estimated is within ±25 % at every size tried. It is the
estimate of a run whose freed blocks go back to the system at once; a run in the allocator's kept mode
(:mod:`restyle.engine.allocator`, chosen only where there is room for it) may need up to
:data:`~restyle.engine.allocator.KEPT_SLACK` more.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from restyle.config import RunConfig
from restyle.engine.optim import lbfgs_history
from restyle.errors import RestyleError
from restyle.features.layers import layer_names
from restyle.features.precision import resolve_precision

#: Output channels of each VGG block.
BLOCK_CHANNELS = (64, 128, 256, 512, 512)
FLOAT = 4  #: bytes of a float32
INDEX = 8  #: bytes of an int64 (max pooling's indices)
#: Bytes of one activation of the network in each precision (:mod:`restyle.features.precision`).
ELEMENT = {"fp32": FLOAT, "bf16": 2}
GB = 1e9
#: Gradient tensors alive at once during the backward, in units of the largest activation.
BACKWARD_COPIES = 3
#: Extra copies of the network's weights made by the convolution library.
NETWORK_COPIES = 2
#: Scratch space of the allocator and convolution library during a step (measured on CPU).
RUNTIME_OVERHEAD = 48_000_000


class OutOfMemory(RestyleError, MemoryError):
    """A run needs more memory than the machine has (refused up front, or an allocation failed mid-run)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one step at ``size`` needs, by part (see the module docstring)."""

    size: tuple[int, int]
    activations: int
    backward: int
    losses: int
    targets: int
    buffers: int
    network: int

    @property
    def saved(self) -> int:
        """What autograd keeps from the forward for the backward: activations and the loss terms' tensors."""
        return self.activations + self.losses

    @property
    def total(self) -> int:
        """All parts together."""
        return self.saved + self.backward + self.targets + self.buffers + self.network


def activation_bytes(
    arch: str, layers: Sequence[str], width: int, height: int, pooling: str = "max", element: int = FLOAT
) -> tuple[int, int]:
    """``(saved bytes, largest activation bytes)`` of one forward of ``arch`` up to the deepest of ``layers``.

    ``layers`` are canonical names (``reluB_C``, ``convB_C``, ``poolB``); ``element`` is the bytes of
    one activation value (4 in fp32, 2 in bf16; max pooling's indices are int64 either way).
    """
    names = layer_names(arch)
    last = max(names.index(n) for n in layers)
    wanted = set(layers)
    h, w, c = height, width, 3
    saved = largest = c * h * w  # conv1_1's input
    for name in names[: last + 1]:
        block = int(name[4])
        if name.startswith("conv"):
            c = BLOCK_CHANNELS[block - 1]
            if name in wanted:
                saved += c * h * w
        elif name.startswith("relu"):
            saved += c * h * w
        else:
            h, w = h // 2, w // 2
            saved += c * h * w * (1 + INDEX // element if pooling == "max" else 1)  # output + int64 indices
        largest = max(largest, c * h * w)
    return saved * element, largest * element


def _layer_shape(arch: str, layer: str, width: int, height: int) -> tuple[int, int, int]:
    block = int(layer[4])
    pools = block if layer.startswith("pool") else block - 1
    return BLOCK_CHANNELS[block - 1], height >> pools, width >> pools


def estimate(
    config: RunConfig,
    arch: str,
    content_layers: Sequence[str],
    style_layers: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    network_params: int,
    box: tuple[int, int] | None = None,
    precision: str | None = None,
) -> MemoryEstimate:
    """The estimate of a step at the last of ``sizes`` = [(w, h), ...] (the scales so far, coarse to fine).

    ``box``: the step is tiled (:mod:`restyle.engine.tiling`) with tiles of at most ``box`` = (w, h)
    pixels, halo included: the network's part is that of one box.
    ``precision`` (fp32 or bf16; default: ``config.precision`` resolved for ``config.device``) sets the
    bytes of the network's activations; with bf16 the style layers' features are also kept as the
    fp32 copies the Grams are computed from, and their fp32 gradient meets the bf16 one.
    """
    precision = precision or resolve_precision(config.precision, config.device)
    element = ELEMENT[precision]
    width, height = sizes[-1]
    bw, bh = box or (width, height)
    layers = [*content_layers, *style_layers]
    saved, largest = activation_bytes(arch, layers, bw, bh, config.pooling, element)
    copies = 0 if element == FLOAT else sum(math.prod(_layer_shape(arch, n, bw, bh)) for n in style_layers) * FLOAT
    largest_fp32 = 0 if element == FLOAT else largest // element * FLOAT
    content = sum(math.prod(_layer_shape(arch, n, bw, bh)) for n in content_layers) * FLOAT
    # Content targets are kept in the network's number format (see PerceptualLoss.content_targets).
    targets = sum(math.prod(_layer_shape(arch, n, w, h)) for n in content_layers for w, h in sizes) * element
    grams = sum(_layer_shape(arch, n, width, height)[0] ** 2 for n in style_layers) * FLOAT
    image = 3 * width * height * FLOAT
    tv = 2 * image if config.tv_weight and not box else 0  # tiled: TV in bands of TV_ROWS rows (no image-sized part)
    history = min(lbfgs_history(config, 3 * width * height), config.iterations)
    state = 2 * history + 3 if config.optimizer == "lbfgs" else 2
    return MemoryEstimate(
        (width, height),
        saved,
        BACKWARD_COPIES * largest + largest_fp32,
        content + grams + tv + copies,
        targets + grams,
        ((3 if box else 6) + state) * image,  # tiled: the two guard copies are float16
        NETWORK_COPIES * network_params * element + RUNTIME_OVERHEAD,
    )


def available_memory(device: torch.device) -> tuple[int, str]:
    """``(bytes, what limits them)`` this process can still allocate on ``device``.

    CPU: the least of MemAvailable, the cgroup's limit minus its usage, and ``ulimit -v`` minus the
    address space in use. CUDA: the device's free memory.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"free memory on {torch.cuda.get_device_name(device)}"
    found: list[tuple[int, str]] = []
    info = _read_kv(Path("/proc/meminfo"))
    if "MemAvailable" in info:
        found.append((info["MemAvailable"] * 1024, "available RAM"))
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            found.append((max(limit - usage, 0), "the cgroup's memory limit"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        vm = _read_kv(Path("/proc/self/status")).get("VmSize", 0) * 1024
        found.append((max(soft - vm, 0), "the address-space limit (ulimit -v)"))
    if not found:  # not Linux: nothing to go by, so never refuse
        return 1 << 62, "unknown"
    return min(found)


def check_fits(need: MemoryEstimate, device: torch.device, *, advice: str) -> None:
    """Raise :class:`OutOfMemory` (one line naming the need and the way out) if ``need`` exceeds what is free."""
    have, limit = available_memory(device)
    if need.total > have:
        w, h = need.size
        raise OutOfMemory(
            f"this run needs about {need.total / GB:.1f} GB for a step at {w}x{h} px but only {have / GB:.1f} GB "
            f"is free ({limit}); {advice}"
        )


def is_allocation_failure(error: BaseException) -> bool:
    """True for the allocator errors of CPU (DefaultCPUAllocator) and CUDA (``torch.OutOfMemoryError``)."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            parts = value.split()
            if parts and parts[0].isdigit():
                out[key.strip()] = int(parts[0])
    except OSError:
        pass
    return out
