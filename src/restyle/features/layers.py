"""VGG architectures and layer names.

Naming (PyTorch/Caffe convention, as in neural-style and pystiche):

* ``convB_C`` -- output of the C-th convolution of block B, *before* its ReLU;
* ``reluB_C`` -- the same after the ReLU;
* ``poolB``   -- output of block B's pooling;
* ``blockB_convC`` (Keras) -- Keras convolutions include their ReLU, so this is
  an alias of ``reluB_C``. ``blockB_pool`` is an alias of ``poolB``.
"""

from __future__ import annotations

import re

from restyle.errors import ConfigError, suggest

#: Number of convolutions in each of the five blocks.
ARCHS: dict[str, tuple[int, ...]] = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}


def conv_names(arch: str) -> list[str]:
    """Names of the convolutions of ``arch`` in forward order (``conv1_1`` ...)."""
    return [f"conv{b}_{c}" for b, n in enumerate(ARCHS[arch], 1) for c in range(1, n + 1)]


def layer_names(arch: str) -> list[str]:
    """Every addressable layer of ``arch`` in forward order: conv, relu and pool outputs."""
    names: list[str] = []
    for b, n in enumerate(ARCHS[arch], 1):
        for c in range(1, n + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return names


def arch_for_conv_count(n: int) -> str:
    """The architecture with ``n`` convolutions (13 -> vgg16, 16 -> vgg19)."""
    for arch, blocks in ARCHS.items():
        if sum(blocks) == n:
            return arch
    raise ValueError(f"no VGG architecture has {n} convolutions")


#: Keras' name of a convolution (``block4_conv2``); groups: block, conv. Also finds layers in .h5 files.
KERAS_CONV = re.compile(r"^block(\d)_conv(\d)$")
_KERAS_POOL = re.compile(r"^block(\d)_pool$")


def resolve_layer(name: str, arch: str) -> str:
    """Map any accepted spelling of a layer to its canonical name, or raise ConfigError."""
    key = name.strip().lower()
    if m := KERAS_CONV.match(key):
        key = f"relu{m[1]}_{m[2]}"
    elif m := _KERAS_POOL.match(key):
        key = f"pool{m[1]}"
    valid = layer_names(arch)
    if key not in valid:
        keras = [f"block{n[4:].replace('_', '_conv')}" for n in valid if n.startswith("relu")]
        raise ConfigError(f"unknown layer {name!r} for {arch}{suggest(key, valid + keras)}")
    return key


def layer_index(name: str, arch: str) -> int:
    """Position of a canonical layer name in forward order (for truncation)."""
    return layer_names(arch).index(name)
