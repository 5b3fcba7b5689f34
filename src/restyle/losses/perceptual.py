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

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from restyle.features.vgg import VGGFeatures
from restyle.losses.functional import content_loss, gram_matrix, style_loss, tv_loss

LossDict = dict[str, torch.Tensor]


def _tv_sum(z: torch.Tensor, exponent: float) -> torch.Tensor:
    """``Σ((Δy² + Δx²)^exponent)`` over channels and the positions with both neighbours."""
    dy = z[..., 1:, :-1] - z[..., :-1, :-1]
    dx = z[..., :-1, 1:] - z[..., :-1, :-1]
    s = dy.square() + dx.square()
    if exponent == 1.0:
        return s.sum()
    if exponent < 1.0:
        s = s + 1e-8
    return s.pow(exponent).sum()


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
        self.content_targets: dict[str, torch.Tensor] = {}
        self.style_targets: dict[str, torch.Tensor] = {}
        self.scale: dict[str, float] = {}

    @torch.no_grad()
    def set_content(self, content: torch.Tensor) -> None:
        """Compute content targets (and the TV scale) from an ``(N, 3, H, W)`` RGB [0, 1] image."""
        feats = self.extractor(content) if self.content_layers else {}
        self.content_targets = {n: feats[n].detach() for n in self.content_layers}
        for n, t in self.content_targets.items():
            self.scale[f"content:{n}"] = self._norm(t)
        self.scale["tv"] = self._norm_tv(content)

    @torch.no_grad()
    def set_style(self, style: torch.Tensor | list[torch.Tensor], blend: list[float] | None = None) -> None:
        """Compute the style Gram targets; several style images are blended (default equally)."""
        styles = style if isinstance(style, list) else [style]
        blend = blend or [1.0] * len(styles)
        total = sum(blend)
        grams: dict[str, torch.Tensor] = {}
        for image, b in zip(styles, blend, strict=True):
            feats = self.extractor(image)
            for n in self.style_layers:
                g = gram_matrix(feats[n]) * (b / total)
                grams[n] = grams[n] + g if n in grams else g
        self.style_targets = grams
        for n, g in grams.items():
            self.scale[f"style:{n}"] = self._norm(g)

    def set_targets(self, content_targets: dict, style_targets: dict, scale: dict) -> None:
        """Install targets computed elsewhere (shared between runs, e.g. by a sweep)."""
        self.content_targets, self.style_targets, self.scale = content_targets, style_targets, scale

    def _norm(self, target: torch.Tensor) -> float:
        if self.normalize != "relative":
            return 1.0
        return 1.0 / max(float(target.square().mean()), 1e-12)

    def _norm_tv(self, image: torch.Tensor) -> float:
        if self.normalize != "relative":
            return 1.0
        return 1.0 / max(float(tv_loss(image, self.tv_exponent)), 1e-6)

    def forward(self, image: torch.Tensor) -> LossDict:
        """Weighted terms and their sum for an ``(N, 3, H, W)`` RGB [0, 1] image."""
        feats = self.extractor(image)
        formula = FORMULAS[self.normalize]
        zero = image.new_zeros(())
        terms: LossDict = {}
        if self.content_layers:
            s = sum(
                w * self.scale[f"content:{n}"] * formula.content(feats[n], self.content_targets[n])
                for n, w in self.content_layers.items()
            )
            div = sum(self.content_layers.values()) if formula.average_layers else 1.0
            terms["content"] = self.weights["content"] * s / div
        if self.style_layers:
            s = sum(
                w * self.scale[f"style:{n}"] * formula.style(feats[n], self.style_targets[n], image)
                for n, w in self.style_layers.items()
            )
            div = sum(self.style_layers.values()) if formula.average_layers else 1.0
            terms["style"] = self.weights["style"] * s / div
        if self.weights["tv"]:
            z = self.extractor.preprocessing(image) if self.normalize not in ("relative", "none") else image
            terms["tv"] = self.weights["tv"] * self.scale["tv"] * formula.tv(image, z, self.tv_exponent)
        terms["total"] = sum(terms.values(), zero)
        return terms
