"""The composite style-transfer objective: targets computed once, one forward per evaluation.

Loss formulas (``normalize``). F are a layer's features (C channels, M = H·W positions), P the
content target, ``g = F Fᵀ/(C·M)`` restyle's Gram matrix and ``a`` the style target's; G = F Fᵀ
and A are the unnormalised Grams; ``x`` is the image in [0, 1] and ``z`` the network input (e.g.
Caffe's 0-255 BGR minus mean); Δ are differences between neighbouring pixels; ``w_l`` the layer
weights and β ``tv_exponent``.

============  =====================  ==========================================  ========  ============================
mode          content per layer      style per layer                             layers    TV
============  =====================  ==========================================  ========  ============================
relative      mean((F-P)²)/mean(P²)  mean((g-a)²)/mean(a²)                       Σw·E/Σw   mean((Δx²)^β)/TV(content)
none          mean((F-P)²)           mean((g-a)²)                                Σw·E/Σw   mean((Δx²)^β)
neural-style  mean((F-P)²)           mean((g-a)²)                                Σw·E      ½·Σ((Δz²)^β)
gatys         ½·Σ(F-P)²              Σ(G-A)²/(4C²M²) = Σ(g-a)²/4                 Σw·E      ½·Σ((Δz²)^β)
cs20          Σ(F-P)²/(4·C·M)        Σ(G-A)²/(4C²M²)                             Σw·E      ½·Σ((Δz²)^β)
keras         Σ(F-P)²                Σ(G-A)²/(4·(3·H_img·W_img)²)                Σw·E/Σw   Σ((Δz²)^β)
tf-tutorial   mean((F-P)²)           mean((G/M - A/M)²) = C²·mean((g-a)²)        Σw·E/Σw   Σ|Δx| (all neighbours)
============  =====================  ==========================================  ========  ============================

``Δz²`` is ``(z[i+1,j]-z[i,j])² + (z[i,j+1]-z[i,j])²`` over the (H-1)·(W-1) positions with both
neighbours. The source of each mode is in :mod:`restyle.presets` (neural-style: jcjohnson's
neural_style.lua; gatys: the CVPR 2016 paper; cs20: Stanford CS20's assignment and sbavon's
seed; keras: the Keras neural style example and ryanwu's seed; tf-tutorial: TensorFlow's tutorial).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from restyle.features.vgg import VGGFeatures
from restyle.losses.functional import content_loss, gram_matrix, style_loss, tv_loss, tv_terms

LossDict = dict[str, torch.Tensor]


def _tv_sum(z: torch.Tensor, exponent: float) -> torch.Tensor:
    """``Σ((Δy² + Δx²)^exponent)``: the seeds' TV (a sum where restyle's :func:`tv_loss` takes the mean)."""
    return tv_terms(z, exponent).sum()


def _tv_l1(x: torch.Tensor) -> torch.Tensor:
    """``tf.image.total_variation``: Σ|x[i+1,j]-x[i,j]| + Σ|x[i,j+1]-x[i,j]| over all neighbours."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()


def _keras_style(f: torch.Tensor, a: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    c, m = f.shape[1], f.shape[2] * f.shape[3]
    hw = image.shape[-2] * image.shape[-1]
    return (gram_matrix(f) - a).square().sum() * (c * m) ** 2 / (4.0 * (3 * hw) ** 2)


@dataclass(frozen=True)
class _Formula:
    """How one ``normalize`` mode computes each term (see the module docstring)."""

    content: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    style: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  #: (features, target Gram, image)
    tv: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  #: (image x, network input z, exponent)
    average_layers: bool  #: Σw·E/Σw (True) or Σw·E (False)


def _mean_style(f: torch.Tensor, a: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return style_loss(f, a)


def _quarter_sum_style(f: torch.Tensor, a: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return (gram_matrix(f) - a).square().sum() / 4  # Σ(G-A)²/(4C²M²) with G = g·C·M


def _tf_style(f: torch.Tensor, a: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return style_loss(f, a) * f.shape[1] ** 2  # Grams divided by M only: C times restyle's


def _mean_tv(x: torch.Tensor, z: torch.Tensor, exponent: float) -> torch.Tensor:
    return tv_loss(x, exponent)


def _half_sum_tv(x: torch.Tensor, z: torch.Tensor, exponent: float) -> torch.Tensor:
    return 0.5 * _tv_sum(z, exponent)


FORMULAS: dict[str, _Formula] = {
    "relative": _Formula(content_loss, _mean_style, _mean_tv, True),
    "none": _Formula(content_loss, _mean_style, _mean_tv, True),
    "neural-style": _Formula(content_loss, _mean_style, _half_sum_tv, False),
    "gatys": _Formula(lambda f, p: 0.5 * (f - p).square().sum(), _quarter_sum_style, _half_sum_tv, False),
    "cs20": _Formula(lambda f, p: content_loss(f, p) / 4, _quarter_sum_style, _half_sum_tv, False),
    "keras": _Formula(lambda f, p: (f - p).square().sum(), _keras_style, lambda x, z, b: _tv_sum(z, b), True),
    "tf-tutorial": _Formula(content_loss, _tf_style, lambda x, z, b: _tv_l1(x), True),
}


@dataclass
class Targets:
    """What the loss compares an image with: content features, style Grams and each term's scale.

    A value: computed by :meth:`PerceptualLoss.compute_targets` (or its content/style halves), it
    can be stored, shared between runs (see :class:`restyle.engine.targets.TargetCache`) and
    installed with ``loss.targets = t``. ``a | b`` merges two halves.
    """

    content: dict[str, torch.Tensor] = field(default_factory=dict)
    style: dict[str, torch.Tensor] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)  #: ``content:L``, ``style:L`` and ``tv`` factors
    #: Guided Grams (Gatys et al. 2017 §4), one :class:`Region` per mask; the main ``style`` targets then
    #: apply to ``rest``, the part of the image no region covers.
    regions: list[Region] = field(default_factory=list)
    rest: torch.Tensor | None = None

    def __or__(self, other: Targets) -> Targets:
        return Targets(
            {**self.content, **other.content},
            {**self.style, **other.style},
            {**self.scale, **other.scale},
            self.regions or other.regions,
            self.rest if self.rest is not None else other.rest,
        )


class Tiler(Protocol):
    """Computes features and Grams of a large image tile by tile (:class:`restyle.engine.tiling.Tiler`)."""

    def features(self, extractor: VGGFeatures, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """The whole image's feature maps of ``layers``."""
        ...

    def grams(self, extractor: VGGFeatures, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """The whole image's ``(1, C, C)`` Gram matrices of ``layers``."""
        ...


@dataclass
class Region:
    """One masked region: ``mask`` ``(1, 1, H, W)`` in [0, 1] at the image's size, its Grams and their scales."""

    mask: torch.Tensor
    style: dict[str, torch.Tensor] | None  #: None: no style here (the photo stays)
    scale: dict[str, float] = field(default_factory=dict)


def _guided_style(formula: _Formula, f: torch.Tensor, region: Region, layer: str, image: torch.Tensor) -> torch.Tensor:
    """The style term of one region at one layer, weighted by the region's share of the image.

    The mask is area-averaged to the layer's resolution; the features are multiplied by it and
    rescaled so that their Gram is ``(F m)(F m)ᵀ / (C·Σm²)``: with a mask of ones, exactly the
    plain term.
    """
    assert region.style is not None
    m = torch.nn.functional.interpolate(region.mask, size=f.shape[-2:], mode="area")
    energy = m.square().mean()
    if float(energy) < 1e-8:  # the region vanishes at this resolution
        return f.new_zeros(())
    guided = f * (m / energy.sqrt())
    return m.mean() * region.scale[f"style:{layer}"] * formula.style(guided, region.style[layer], image)


class PerceptualLoss(nn.Module):
    """``total = α·content + β·style + γ·tv`` on top of one shared VGG forward.

    ``content = Σ_l w_l·E_l / Σ_l w_l`` over the content layers and likewise for style, so the
    term weights keep their meaning whatever the number of layers. With
    ``normalize="relative"`` (restyle's default) each layer's loss is divided by the mean
    square of its target (content features, or style Gram) and TV by the TV of the content
    image: every term is then dimensionless, independent of image size and of the
    feature scale of the weights in use (Caffe 0–255 vs torchvision), and its gradient
    does not vanish for one term and explode for another -- the imbalance that leaves
    L-BFGS on a flat grey image. ``normalize="none"`` uses the plain means of
    :mod:`restyle.losses.functional`; the other modes are the exact formulas of the
    sources the presets follow (table in the module docstring).
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        content_layers: Mapping[str, float],
        style_layers: Mapping[str, float],
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
        tv_exponent: float = 1.0,
        normalize: str = "relative",
    ) -> None:
        super().__init__()
        if normalize not in FORMULAS:
            raise ValueError(f"normalize must be one of {', '.join(FORMULAS)}, got {normalize!r}")
        self.extractor = extractor
        self.content_layers = dict(content_layers)
        self.style_layers = dict(style_layers)
        self.weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
        self.tv_exponent = tv_exponent
        self.normalize = normalize
        self.targets = Targets()

    @torch.no_grad()
    def content_targets(self, content: torch.Tensor, tiler: Tiler | None = None) -> Targets:
        """Content features (and the TV scale) of an ``(N, 3, H, W)`` RGB [0, 1] image.

        ``tiler`` computes the features tile by tile (for images too large for one forward).
        """
        # Kept in the network's number format: lossless (bf16 features were cast up from bf16 values) and,
        # in bf16, half the bytes of the largest thing a print-size run holds besides the image.
        dtype = getattr(self.extractor, "dtype", torch.float32)
        if not self.content_layers:
            feats = {}
        elif tiler is not None:
            feats = tiler.features(self.extractor, content, list(self.content_layers), dtype)
        else:
            feats = self.extractor(content)
        scale = {f"content:{n}": self._norm(feats[n]) for n in self.content_layers}
        features = {n: feats[n].detach().to(dtype) for n in self.content_layers}
        scale["tv"] = self._norm_tv(content)
        return Targets(content=features, scale=scale)

    @torch.no_grad()
    def style_targets(
        self, styles: Sequence[torch.Tensor], blend: Sequence[float] = (), tiler: Tiler | None = None
    ) -> Targets:
        """Style Gram targets; several style images are blended with the weights ``blend`` (default: equal).

        The Grams are averaged with those weights (normalised to sum 1), so ``blend=(1, 0)`` gives
        exactly the first style's targets. ``tiler`` computes each Gram tile by tile.
        """
        weights = list(blend) or [1.0] * len(styles)
        if len(weights) != len(styles):
            raise ValueError(f"{len(weights)} blend weights for {len(styles)} styles")
        total = sum(weights)
        grams: dict[str, torch.Tensor] = {}
        for image, w in zip(styles, weights, strict=True):
            if w == 0:  # contributes nothing (and costs no forward)
                continue
            if tiler is not None:
                image_grams = tiler.grams(self.extractor, image, list(self.style_layers))
            else:
                feats = self.extractor(image)
                image_grams = {n: gram_matrix(feats[n]) for n in self.style_layers}
            for n, g in image_grams.items():
                g = g * (w / total) if w != total else g
                grams[n] = grams[n] + g if n in grams else g
        return Targets(style=grams, scale={f"style:{n}": self._norm(g) for n, g in grams.items()})

    def compute_targets(self, content: torch.Tensor, styles: Sequence[torch.Tensor]) -> Targets:
        """Both halves: ``loss.targets = loss.compute_targets(content, [style])`` before evaluating."""
        return self.content_targets(content) | self.style_targets(styles)

    def _norm(self, target: torch.Tensor) -> float:
        if self.normalize != "relative":
            return 1.0
        return 1.0 / max(float(target.float().square().mean()), 1e-12)  # float(): tiled bf16 targets

    def _norm_tv(self, image: torch.Tensor) -> float:
        if self.normalize != "relative":
            return 1.0
        return 1.0 / max(float(tv_loss(image, self.tv_exponent)), 1e-6)

    def tv_term(self, image: torch.Tensor) -> torch.Tensor:
        """The weighted TV term of an ``(N, 3, H, W)`` image (it needs no network features)."""
        z = self.extractor.preprocessing(image) if self.normalize not in ("relative", "none") else image
        formula = FORMULAS[self.normalize]
        return self.weights["tv"] * self.targets.scale["tv"] * formula.tv(image, z, self.tv_exponent)

    def forward(self, image: torch.Tensor) -> LossDict:
        """Weighted terms and their sum for an ``(N, 3, H, W)`` RGB [0, 1] image."""
        feats = self.extractor(image)
        formula = FORMULAS[self.normalize]
        t = self.targets
        zero = image.new_zeros(())
        terms: LossDict = {}
        if self.content_layers:
            s = sum(
                w * t.scale[f"content:{n}"] * formula.content(feats[n], t.content[n])
                for n, w in self.content_layers.items()
            )
            div = sum(self.content_layers.values()) if formula.average_layers else 1.0
            terms["content"] = self.weights["content"] * s / div
        if self.style_layers:
            if t.rest is None:
                s = sum(
                    w * t.scale[f"style:{n}"] * formula.style(feats[n], t.style[n], image)
                    for n, w in self.style_layers.items()
                )
            else:
                parts = [Region(t.rest, t.style, t.scale), *(r for r in t.regions if r.style is not None)]
                s = sum(
                    w * _guided_style(formula, feats[n], region, n, image)
                    for n, w in self.style_layers.items()
                    for region in parts
                )
            div = sum(self.style_layers.values()) if formula.average_layers else 1.0
            terms["style"] = self.weights["style"] * s / div
        if self.weights["tv"]:
            terms["tv"] = self.tv_term(image)
        terms["total"] = sum(terms.values(), zero)
        return terms
