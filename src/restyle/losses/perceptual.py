"""The composite style-transfer objective: targets computed once, one forward per evaluation."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from restyle.features.vgg import VGGFeatures
from restyle.losses.functional import content_loss, gram_matrix, style_loss, tv_loss

LossDict = dict[str, torch.Tensor]


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
    :mod:`restyle.losses.functional` (neural-style's formula).
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
        if self.normalize == "none":
            return 1.0
        return 1.0 / max(float(target.square().mean()), 1e-12)

    def _norm_tv(self, image: torch.Tensor) -> float:
        if self.normalize == "none":
            return 1.0
        return 1.0 / max(float(tv_loss(image, self.tv_exponent)), 1e-6)

    def forward(self, image: torch.Tensor) -> LossDict:
        """Weighted terms and their sum for an ``(N, 3, H, W)`` RGB [0, 1] image."""
        feats = self.extractor(image)
        zero = image.new_zeros(())
        terms: LossDict = {}
        if self.content_layers:
            s = sum(
                w * self.scale[f"content:{n}"] * content_loss(feats[n], self.content_targets[n])
                for n, w in self.content_layers.items()
            )
            terms["content"] = self.weights["content"] * s / sum(self.content_layers.values())
        if self.style_layers:
            s = sum(
                w * self.scale[f"style:{n}"] * style_loss(feats[n], self.style_targets[n])
                for n, w in self.style_layers.items()
            )
            terms["style"] = self.weights["style"] * s / sum(self.style_layers.values())
        if self.weights["tv"]:
            terms["tv"] = self.weights["tv"] * self.scale["tv"] * tv_loss(image, self.tv_exponent)
        terms["total"] = sum(terms.values(), zero)
        return terms
