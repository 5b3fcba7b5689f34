"""Tiled evaluation of the loss and its gradient, for steps too large to hold in memory at once.

The image is cut into a grid of **cores** (aligned to the deepest pooling stride, so every layer's
grid lines up with the whole image's) and each core is evaluated inside a **box**: the core plus a
halo of ``halo`` pixels of real neighbours, so the features of the core are those of the whole
image wherever the halo covers the layers' receptive field. The style statistics stay global:

1. a no-grad pass over the tiles sums each style layer's ``F Fᵀ`` over all cores: the Gram
   matrices of the *whole* image (cores partition every feature map);
2. a pass with gradients evaluates, per tile, a surrogate whose gradient is exactly the whole
   loss's gradient through that tile's core features: the content term of the core, and
   ``<∂L/∂G, F_core F_coreᵀ / (C·M)>`` with ``∂L/∂G`` from the global Grams. Each box's pixel
   gradient (halo included) is added into the image's gradient;
3. the TV term is computed on the whole image (it needs no network).

Peak memory is one box's activations plus image-sized buffers, whatever the image size. Only
restyle's own loss formulas (``normalize`` relative or none) and no region masks are supported.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from restyle.errors import ConfigError
from restyle.features.vgg import VGGFeatures
from restyle.losses.perceptual import PerceptualLoss

#: Formulas the tiled path computes (means of squares of features and plain Grams).
TILED_FORMULAS = ("relative", "none")


@dataclass(frozen=True)
class Tile:
    """One tile: ``core`` and ``box`` as (top, bottom, left, right) pixel bounds; the core lies in the box."""

    core: tuple[int, int, int, int]
    box: tuple[int, int, int, int]


def layer_stride(layer: str) -> int:
    """Pixels per feature position of a canonical layer name (``relu3_1`` → 4, ``pool3`` → 8)."""
    pools = int(layer[4]) if layer.startswith("pool") else int(layer[4]) - 1
    return 2**pools


def plan_tiles(height: int, width: int, core: int, halo: int, align: int) -> list[Tile]:
    """Cores of about ``core`` px (multiples of ``align``) covering the image, each with its halo box."""
    if core < align:
        raise ConfigError(f"tile size {core} is smaller than the network's stride {align}")

    def cuts(n: int) -> list[tuple[int, int]]:
        count = max(1, math.ceil(n / core))
        step = math.ceil(n / count / align) * align
        edges = [min(i * step, n) for i in range(count)] + [n]
        return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]

    halo = math.ceil(halo / align) * align
    tiles = []
    for y0, y1 in cuts(height):
        for x0, x1 in cuts(width):
            box = (max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo))
            tiles.append(Tile((y0, y1, x0, x1), box))
    return tiles


def core_slice(tile: Tile, stride: int, full_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """The core's feature rows and columns (top, bottom, left, right) in the whole image's map at ``stride``.

    Cores meet at multiples of the deepest stride, so these slices partition every feature map; the
    last core of a row or column runs to the (floored) end of the map.
    """
    (y0, y1, x0, x1), (h, w) = tile.core, full_hw
    bottom = h if y1 // stride >= h else y1 // stride
    right = w if x1 // stride >= w else x1 // stride
    return y0 // stride, bottom, x0 // stride, right


class Tiler:
    """Features and Grams of whole images, computed tile by tile without gradients (for the targets)."""

    def __init__(self, core: int, halo: int, align: int) -> None:
        self.core, self.halo, self.align = core, halo, align

    @torch.no_grad()
    def _cores(
        self, extractor: VGGFeatures, image: torch.Tensor, layers: list[str]
    ) -> Iterator[tuple[Tile, dict[str, torch.Tensor]]]:
        """Each tile with its cores' features of ``layers``."""
        h, w = image.shape[-2:]
        for tile in plan_tiles(h, w, self.core, self.halo, self.align):
            y0, y1, x0, x1 = tile.box
            feats = extractor(image[..., y0:y1, x0:x1])
            out = {}
            for n in layers:
                s = layer_stride(n)
                fy0, fy1, fx0, fx1 = core_slice(tile, s, (h // s, w // s))
                out[n] = feats[n][..., fy0 - y0 // s : fy1 - y0 // s, fx0 - x0 // s : fx1 - x0 // s]
            yield tile, out

    def features(self, extractor: VGGFeatures, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """The whole image's feature maps of ``layers``, assembled from the tiles' cores."""
        h, w = image.shape[-2:]
        maps: dict[str, torch.Tensor] = {}
        for tile, cores in self._cores(extractor, image, layers):
            for n, f in cores.items():
                s = layer_stride(n)
                if n not in maps:
                    maps[n] = f.new_zeros((f.shape[0], f.shape[1], h // s, w // s))
                fy0, fy1, fx0, fx1 = core_slice(tile, s, (h // s, w // s))
                maps[n][..., fy0:fy1, fx0:fx1] = f
        return maps

    def grams(self, extractor: VGGFeatures, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """The whole image's Gram matrices ``F Fᵀ / (C·M)`` of ``layers``, summed over the tiles' cores."""
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        for _, cores in self._cores(extractor, image, layers):
            for n, f in cores.items():
                flat = f.reshape(f.shape[1], -1).float()
                sums[n] = sums.get(n, 0) + flat @ flat.T
                counts[n] = counts.get(n, 0) + flat.shape[1]
        return {n: (g / (g.shape[0] * counts[n]))[None] for n, g in sums.items()}


class TiledObjective:
    """``loss`` evaluated over ``tiles`` of an ``(1, 3, H, W)`` image: values and the input gradient."""

    def __init__(self, loss: PerceptualLoss, tiles: list[Tile], height: int, width: int) -> None:
        if loss.normalize not in TILED_FORMULAS:
            raise ConfigError(
                f"tiling supports normalize {' or '.join(TILED_FORMULAS)}, not {loss.normalize!r}; use a smaller "
                "--size for this recipe"
            )
        if loss.targets.rest is not None:
            raise ConfigError("tiling does not support --mask yet; use a smaller --size with masks")
        self.loss, self.tiles = loss, tiles
        self.height, self.width = height, width
        self.strides = {n: layer_stride(n) for n in (*loss.content_layers, *loss.style_layers)}

    def _full_hw(self, layer: str) -> tuple[int, int]:
        # The whole image's feature map size at ``layer`` (floor pooling, as the network does).
        h, w, s = self.height, self.width, self.strides[layer]
        return h // s, w // s

    def _core(self, f: torch.Tensor, tile: Tile, layer: str, in_box: bool) -> torch.Tensor:
        """The core's part of features ``f``: of the tile's box (``in_box``) or of the whole image."""
        s = self.strides[layer]
        fy0, fy1, fx0, fx1 = core_slice(tile, s, self._full_hw(layer))
        oy, ox = (tile.box[0] // s, tile.box[2] // s) if in_box else (0, 0)
        return f[..., fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox]

    def _cores(self, image: torch.Tensor, tile: Tile) -> dict[str, torch.Tensor]:
        y0, y1, x0, x1 = tile.box
        feats = self.loss.extractor(image[..., y0:y1, x0:x1])
        return {n: self._core(f, tile, n, True) for n, f in feats.items()}

    @torch.no_grad()
    def evaluate(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of ``image`` without gradients (one pass over the tiles)."""
        loss, t = self.loss, self.loss.targets
        cw, sw = loss.content_layers, loss.style_layers
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        content = image.new_zeros(())
        for tile in self.tiles:
            for n, f in self._cores(image, tile).items():
                if n in cw:
                    target = self._core(t.content[n], tile, n, False)
                    sq = (f - target).square().sum() / t.content[n].numel()
                    content = content + cw[n] * t.scale[f"content:{n}"] * sq
                if n in sw:
                    flat = f.reshape(f.shape[1], -1).float()
                    sums[n] = sums.get(n, 0) + flat @ flat.T
                    counts[n] = counts.get(n, 0) + flat.shape[1]
        terms: dict[str, torch.Tensor] = {}
        if cw:
            terms["content"] = loss.weights["content"] * content / (sum(cw.values()) or 1.0)
        if sw:
            style = sum(
                w * t.scale[f"style:{n}"] * (sums[n] / (sums[n].shape[0] * counts[n]) - t.style[n][0]).square().mean()
                for n, w in sw.items()
            )
            terms["style"] = loss.weights["style"] * style / (sum(sw.values()) or 1.0)
        if loss.weights["tv"]:
            terms["tv"] = loss.tv_term(image)
        terms["total"] = sum(terms.values(), image.new_zeros(()))
        return terms

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of ``image`` (a leaf requiring grad): ``image.grad`` receives the whole gradient."""
        loss, t = self.loss, self.loss.targets
        cw, sw = loss.content_layers, loss.style_layers
        content_div = sum(cw.values()) or 1.0
        style_div = sum(sw.values()) or 1.0
        # Pass 1: the whole image's Grams, summed over cores.
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        if sw:
            with torch.no_grad():
                for tile in self.tiles:
                    for n, f in self._cores(image, tile).items():
                        if n not in sw:
                            continue
                        flat = f.reshape(f.shape[1], -1).float()
                        sums[n] = sums.get(n, 0) + flat @ flat.T
                        counts[n] = counts.get(n, 0) + flat.shape[1]
        grams = {n: sums[n] / (sums[n].shape[0] * counts[n]) for n in sums}
        style_value = sum(w * t.scale[f"style:{n}"] * (grams[n] - t.style[n][0]).square().mean() for n, w in sw.items())
        # ∂(style term)/∂G for each layer (a constant in pass 2).
        dgram = {
            n: loss.weights["style"]
            * w
            * t.scale[f"style:{n}"]
            / style_div
            * 2
            * (grams[n] - t.style[n][0])
            / grams[n].numel()
            for n, w in sw.items()
        }
        # Pass 2: per tile, a surrogate with the whole loss's gradient through that tile's cores.
        content_value = image.new_zeros(())
        grad = torch.zeros_like(image)
        for tile in self.tiles:
            y0, y1, x0, x1 = tile.box
            part = image.detach()[..., y0:y1, x0:x1].clone().requires_grad_(True)
            feats = loss.extractor(part)
            surrogate = part.new_zeros(())
            for n, f in feats.items():
                core = self._core(f, tile, n, True)
                if n in cw:
                    target = self._core(t.content[n], tile, n, False)
                    sq = (core - target).square().sum() / t.content[n].numel()
                    term = loss.weights["content"] * cw[n] * t.scale[f"content:{n}"] / content_div * sq
                    surrogate = surrogate + term
                    content_value = content_value + term.detach()
                if n in sw:
                    flat = core.reshape(core.shape[1], -1)
                    contribution = flat @ flat.T / (flat.shape[0] * counts[n])
                    surrogate = surrogate + (dgram[n] * contribution).sum()
            surrogate.backward()
            assert part.grad is not None
            grad[..., y0:y1, x0:x1] += part.grad
            del feats, surrogate, part
        terms: dict[str, torch.Tensor] = {}
        if cw:
            terms["content"] = content_value
        if sw:
            terms["style"] = (loss.weights["style"] * style_value / style_div).detach()
        if loss.weights["tv"]:
            tv = loss.tv_term(image)
            tv.backward()
            terms["tv"] = tv.detach()
        if image.grad is None:
            image.grad = grad
        else:
            image.grad += grad
        terms["total"] = sum(terms.values(), image.new_zeros(()))
        return terms
