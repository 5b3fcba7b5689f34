"""The number format of the VGG's convolutions: fp32, or bf16 where the hardware computes it natively.

``--precision bf16`` runs the network (convolutions, ReLUs, pooling) on bfloat16 weights and
activations; the features handed to the losses are cast back to float32, so the Gram matrices, the
loss terms, the gradient reaching the pixels and the optimiser stay fp32. On a CPU with native bf16
dot products (AVX-512 BF16, or AMX) oneDNN runs such a step ~1.5x faster than fp32; on an AVX2-only
CPU it emulates bf16 and is several times *slower*; on a CUDA GPU with bf16 (Ampere and later)
cuDNN runs it on tensor cores. ``auto`` therefore picks bf16 only where it is native
(:func:`native_bf16`), and :func:`resolve_precision` turns it into the concrete choice before
anything is compared or recorded (the result's metadata names fp32 or bf16, never auto).
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Iterable
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
#: Environment variable that fixes what ``precision=auto`` resolves to (see :func:`resolve_precision`).
AUTO_ENV = "RESTYLE_AUTO_PRECISION"
#: The dtype each concrete precision runs the network in.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
#: /proc/cpuinfo flags of native bf16 dot products: AVX-512 BF16 (Zen4, Cooper Lake) and AMX (Sapphire Rapids).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def _cpuinfo(keys: tuple[str, ...], cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first CPU's value of the first of ``keys`` in ``/proc/cpuinfo`` ("" where there is none, e.g. macOS)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value.strip()
    return ""


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    return frozenset(_cpuinfo(("flags", "Features"), cpuinfo).split())


def cpu_model() -> str:
    """The CPU's model name, for reports (benchmarks state the machine they measured)."""
    return _cpuinfo(("model name",)) or platform.processor() or platform.machine()


def machine_info() -> dict[str, object]:
    """CPU model, cores, bf16-related flags, torch version and threads: the header of every benchmark's JSON."""
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "native_bf16": native_bf16("cpu"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def torch_native_bf16() -> bool:
    """torch's own answer (cpuinfo as torch sees it); False on torch builds without the probe."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe is not None and probe()) or (amx is not None and amx()))


def cpu_native_bf16(capability: str, flags: Iterable[str], torch_says: bool = False) -> bool:
    """Whether a CPU computes bf16 dot products natively.

    ``capability`` is ``torch.backends.cpu.get_cpu_capability()`` (the SIMD level torch dispatches
    to: ``AVX512``, ``AVX2``, ``DEFAULT``...): anything below AVX-512 means emulated bf16, whatever
    the flags say (a torch build or VM that masks AVX-512). Otherwise the CPU must announce
    AVX-512 BF16 or AMX, in its cpuinfo ``flags`` or through torch's probe ``torch_says``.
    """
    if not capability.upper().startswith(("AVX512", "AMX")):
        return False
    return torch_says or bool(BF16_FLAGS & set(flags))


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` (cpu or cuda) runs bf16 convolutions natively (faster than fp32)."""
    device = torch.device(device)
    if device.type == "cuda":  # Ampere and later (pre-Ampere GPUs emulate bf16: not native)
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and _this_cpu_native_bf16()


@functools.cache
def _this_cpu_native_bf16() -> bool:
    # The CPU does not change while the process runs; configs compare settings often (image_settings).
    return cpu_native_bf16(torch.backends.cpu.get_cpu_capability(), cpu_flags(), torch_native_bf16())


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``fp32`` or ``bf16``: ``auto`` becomes bf16 where :func:`native_bf16`, else fp32.

    ``device`` may be ``auto`` (cuda when available, as the run resolves it). The environment
    variable :data:`AUTO_ENV` (``fp32`` or ``bf16``) fixes what ``auto`` means for this process and
    every process it starts (Ray workers, subprocesses): one precision across a mixed cluster, or
    fp32 everywhere in the test suite.
    """
    if precision != "auto":
        if precision not in DTYPES:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        return precision
    forced = os.environ.get(AUTO_ENV, "")
    if forced:
        if forced not in DTYPES:
            raise ValueError(f"{AUTO_ENV} must be fp32 or bf16, got {forced!r}")
        return forced
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "bf16" if native_bf16(device) else "fp32"
