"""Test helpers importable from any test module (tests/ is on pythonpath)."""

from __future__ import annotations

import math
from typing import Any

import torch

from restyle.features.convert import VGGWeights
from restyle.features.layers import ARCHS, conv_names
from restyle.features.preprocessing import CAFFE


def random_vgg_weights(arch: str = "vgg16", seed: int = 0) -> VGGWeights:
    """Real-shaped VGG weights with He-initialised random values (features stay finite and O(1-100))."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    channels = [64, 128, 256, 512, 512]
    c_in = 3
    names = conv_names(arch)
    i = 0
    for block, n in enumerate(ARCHS[arch]):
        for _ in range(n):
            c_out = channels[block]
            std = math.sqrt(2 / (c_in * 9))
            state[f"{names[i]}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) * std / (255 if i == 0 else 1)
            state[f"{names[i]}.bias"] = torch.randn(c_out, generator=gen) * 0.01
            c_in = c_out
            i += 1
    return VGGWeights(arch=arch, state=state, preprocessing=CAFFE, source="random test weights", format="safetensors")


def make_image(width: int, height: int, seed: int = 0) -> torch.Tensor:
    """A smooth synthetic (3, H, W) image in [0, 1]: gradients plus blobs (not pure noise)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    img = torch.stack([xx, yy, (xx + yy) / 2])
    for _ in range(4):
        cx, cy, r = torch.rand(3, generator=gen)
        colour = torch.rand(3, 1, 1, generator=gen)
        mask = (((xx - cx) ** 2 + (yy - cy) ** 2) < (0.1 + 0.2 * r) ** 2).float()
        img = img * (1 - mask) + colour * mask
    return img.clamp(0, 1)


def saved_bytes(stylizer: Any, width: int, height: int) -> int:
    """Bytes autograd saves for one loss evaluation (distinct storages, the network's weights excluded)."""
    x = torch.rand(1, 3, height, width)
    stylizer.loss.targets = stylizer.loss.compute_targets(x, [torch.rand(1, 3, height, width)])
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        stylizer.loss(x.requires_grad_(True))
    weights = sum(p.numel() * p.element_size() for p in stylizer.extractor.parameters())
    return sum(storages.values()) - weights


def record_first_steps(monkeypatch: Any) -> list[tuple[int, float | None]]:
    """``(longer side, first_step)`` of every optimiser the Stylizer makes from now on (in order)."""
    from restyle.engine import stylize

    seen: list[tuple[int, float | None]] = []
    real = stylize.make_optimizer

    def recording(config: Any, image: torch.Tensor, first_step: float | None = stylize.FIRST_STEP) -> Any:
        seen.append((max(image.shape[-2:]), first_step))
        return real(config, image, first_step)

    monkeypatch.setattr(stylize, "make_optimizer", recording)
    return seen
