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
3. the TV term (it needs no network) is computed in bands of :data:`TV_ROWS` rows, each with the
   one row below it, its gradient added into the image's: the same value and gradient as on the
   whole image, without its image-sized differences.

Peak memory is one box's activations plus image-sized buffers (the iterate, its gradient, the
optimiser's state), whatever the image size. Only
restyle's own loss formulas (``normalize`` relative or none) and no region masks are supported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from restyle.errors import ConfigError
from restyle.features.vgg import VGGFeatures
from restyle.losses.functional import gram_matrix
from restyle.losses.perceptual import PerceptualLoss

#: Formulas the tiled path computes (means of squares of features and plain Grams).
TILED_FORMULAS = ("relative", "none")
#: Rows of one band of the tiled TV term: its temporaries are a few bands, not a few images.
TV_ROWS = 256


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


def crop_core(f: torch.Tensor, tile: Tile, layer: str, image_hw: tuple[int, int], in_box: bool) -> torch.Tensor:
    """The core's part of ``layer``'s features ``f``: of the tile's box (``in_box``) or of the whole image."""
    s = layer_stride(layer)
    fy0, fy1, fx0, fx1 = core_slice(tile, s, (image_hw[0] // s, image_hw[1] // s))
    oy, ox = (tile.box[0] // s, tile.box[2] // s) if in_box else (0, 0)
    return f[..., fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox]


def box_pixels(image: torch.Tensor, tile: Tile) -> torch.Tensor:
    """The pixels of ``tile``'s box (a view of ``image``)."""
    y0, y1, x0, x1 = tile.box
    return image[..., y0:y1, x0:x1]


def box_cores(
    extractor: VGGFeatures, box: torch.Tensor, tile: Tile, image_hw: tuple[int, int]
) -> dict[str, torch.Tensor]:
    """Every requested layer's features of a box's pixels ``box``, cropped to the tile's core."""
    return {n: crop_core(f, tile, n, image_hw, in_box=True) for n, f in extractor(box).items()}


class GramSum:
    """``F Fᵀ`` and position counts summed over cores: the whole image's Grams ``F Fᵀ / (C·M)``."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, layer: str, core: torch.Tensor) -> None:
        """Add one core's ``(1, C, h, w)`` features."""
        flat = core.reshape(core.shape[1], -1).float()
        self.sums[layer] = self.sums.get(layer, 0) + flat @ flat.T
        self.counts[layer] = self.counts.get(layer, 0) + flat.shape[1]

    def grams(self) -> dict[str, torch.Tensor]:
        """``(C, C)`` Gram matrices of the layers added."""
        return {n: g / (g.shape[0] * self.counts[n]) for n, g in self.sums.items()}


class Tiler:
    """Features and Grams of whole images, computed tile by tile without gradients (for the targets)."""

    def __init__(self, core: int, halo: int, align: int) -> None:
        self.core, self.halo, self.align = core, halo, align

    def _tiles(self, image: torch.Tensor) -> list[Tile]:
        return plan_tiles(image.shape[-2], image.shape[-1], self.core, self.halo, self.align)

    @torch.no_grad()
    def features(
        self, extractor: VGGFeatures, image: torch.Tensor, layers: list[str], dtype: torch.dtype = torch.float32
    ) -> dict[str, torch.Tensor]:
        """The whole image's feature maps of ``layers`` (as ``dtype``), assembled from the tiles' cores."""
        h, w = image.shape[-2:]
        maps: dict[str, torch.Tensor] = {}
        for tile in self._tiles(image):
            for n, f in box_cores(extractor, box_pixels(image, tile), tile, (h, w)).items():
                if n not in layers:
                    continue
                s = layer_stride(n)
                if n not in maps:
                    maps[n] = f.new_zeros((f.shape[0], f.shape[1], h // s, w // s), dtype=dtype)
                fy0, fy1, fx0, fx1 = core_slice(tile, s, (h // s, w // s))
                maps[n][..., fy0:fy1, fx0:fx1] = f
        return maps

    @torch.no_grad()
    def grams(self, extractor: VGGFeatures, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """The whole image's ``(1, C, C)`` Gram matrices of ``layers``, summed over the tiles' cores."""
        total, hw = GramSum(), (image.shape[-2], image.shape[-1])
        for tile in self._tiles(image):
            for n, f in box_cores(extractor, box_pixels(image, tile), tile, hw).items():
                if n in layers:
                    total.add(n, f)
        return {n: g[None] for n, g in total.grams().items()}


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
        self.hw = (height, width)
        #: Called with (tile, tiles, phase) after each tile of a step's two passes (progress of long steps).
        self.on_tile: Callable[[int, int, str], None] | None = None

    def _done(self, i: int, phase: str) -> None:
        if self.on_tile is not None:
            self.on_tile(i + 1, len(self.tiles), phase)

    def _content(self, core: torch.Tensor, tile: Tile, layer: str) -> torch.Tensor:
        """The weighted content term of one core (its share of the whole image's mean)."""
        loss, t = self.loss, self.loss.targets
        target = crop_core(t.content[layer], tile, layer, self.hw, in_box=False)
        sq = (core - target).square().sum() / t.content[layer].numel()
        weight = loss.weights["content"] * loss.content_layers[layer] / (sum(loss.content_layers.values()) or 1.0)
        return weight * t.scale[f"content:{layer}"] * sq

    def _style(self, grams: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted style term, from the whole image's Grams."""
        loss, t = self.loss, self.loss.targets
        s = sum(
            w * t.scale[f"style:{n}"] * (grams[n] - t.style[n][0]).square().mean() for n, w in loss.style_layers.items()
        )
        return loss.weights["style"] * s / (sum(loss.style_layers.values()) or 1.0)

    @torch.no_grad()
    def _pass(self, image: torch.Tensor, report: bool = False) -> tuple[torch.Tensor, GramSum]:
        """One no-grad pass over the tiles: the content term and the whole image's Gram sums."""
        content, total = image.new_zeros(()), GramSum()
        for i, tile in enumerate(self.tiles):
            for n, f in box_cores(self.loss.extractor, box_pixels(image, tile), tile, self.hw).items():
                if n in self.loss.content_layers:
                    content = content + self._content(f, tile, n)
                if n in self.loss.style_layers:
                    total.add(n, f)
            if report:
                self._done(i, "statistics")
        return content, total

    def _terms(
        self, image: torch.Tensor, content: torch.Tensor, style: torch.Tensor | None, tv: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        if self.loss.content_layers:
            terms["content"] = content
        if style is not None:
            terms["style"] = style
        if tv is not None:
            terms["tv"] = tv
        terms["total"] = sum(terms.values(), image.new_zeros(()))
        return terms

    @torch.no_grad()
    def evaluate(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of ``image`` without gradients (one pass over the tiles)."""
        content, total = self._pass(image)
        style = self._style(total.grams()) if self.loss.style_layers else None
        tv = self._tv(image) if self.loss.weights["tv"] else None
        return self._terms(image, content, style, tv)

    def _tv(self, image: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted TV term of the whole image, band by band; with ``grad``, its gradient is added there.

        The term is a mean over the (H-1)·(W-1) positions with both neighbours: a band of positions
        ``[a, b)`` needs the pixel rows ``[a, b]`` and weighs ``(b - a) / (H - 1)`` of the whole.
        """
        h = image.shape[-2]
        total = image.new_zeros(())
        for a in range(0, h - 1, TV_ROWS):
            b = min(a + TV_ROWS, h - 1)
            band = image.detach()[..., a : b + 1, :]
            with torch.enable_grad():
                band = band.clone().requires_grad_(grad is not None)
                term = self.loss.tv_term(band) * ((b - a) / (h - 1))
            if grad is not None:
                term.backward()
                assert band.grad is not None
                grad[..., a : b + 1, :].add_(band.grad)
            total = total + term.detach()
        return total

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of ``image`` (a leaf requiring grad): ``image.grad`` receives the whole gradient."""
        loss, t = self.loss, self.loss.targets
        sw = loss.style_layers
        # Pass 1 (no grad): the whole image's Grams, summed over cores.
        grams, counts = {}, {}
        if sw:
            _, total = self._pass(image, report=True)
            grams, counts = total.grams(), total.counts
        # ∂(style term)/∂G for each layer, a constant in pass 2.
        style_div = sum(sw.values()) or 1.0
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
        content = image.new_zeros(())
        # Into the gradient buffer the optimiser zeroed (no second image-sized gradient and no sum of two).
        if image.grad is None:
            image.grad = torch.zeros_like(image)
        grad = image.grad
        for i, tile in enumerate(self.tiles):
            part = box_pixels(image.detach(), tile).clone().requires_grad_(True)
            surrogate = part.new_zeros(())
            for n, core in box_cores(loss.extractor, part, tile, self.hw).items():
                if n in loss.content_layers:
                    term = self._content(core, tile, n)
                    surrogate = surrogate + term
                    content = content + term.detach()
                if n in sw:  # F_core F_coreᵀ / (C·M) = the core's own Gram · (core positions / M)
                    share = core.shape[-2] * core.shape[-1] / counts[n]
                    surrogate = surrogate + (dgram[n] * gram_matrix(core)[0]).sum() * share
            surrogate.backward()
            assert part.grad is not None
            box_pixels(grad, tile).add_(part.grad)
            del surrogate, part
            self._done(i, "gradient")
        tv = self._tv(image, grad) if loss.weights["tv"] else None
        return self._terms(image, content, self._style(grams).detach() if sw else None, tv)
