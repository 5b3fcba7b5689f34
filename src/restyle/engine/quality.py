"""Two measures of a stylised image that do not depend on the loss or weights it was made with.

Both are ratios, so they read the same on every pair:

* **content distance** = mean((F(out) − F(photo))²) / mean((F(painting) − F(photo))²) at relu4_2:
  0 is the photo itself, 1 is as far from the photo as the painting is;
* **style distance** = Σ_l ‖G_l(out) − G_l(painting)‖² / Σ_l ‖G_l(photo) − G_l(painting)‖² over
  relu1_1 … relu5_1 with G = F·Fᵀ/(C·H·W): 0 is the painting's style, 1 is the photo's.

The painting is resized to the photo's shape (stretched), and everything is measured at
:data:`JUDGE_SIZE` px longest side on the VGG16 Caffe weights (the offline default), so reports
made with any model or size compare. :func:`content_distance` and :func:`style_distance` are pure
functions of features, for code that already has them (e.g. a calibration on the run's own network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from restyle.engine.pyramid import fit_size, resize
from restyle.features import weights as registry
from restyle.features.convert import VGGWeights
from restyle.features.vgg import VGGFeatures
from restyle.losses.functional import gram_matrix

#: Longest side every measure is taken at.
JUDGE_SIZE = 256
#: The judge's model: the offline default, so every report can be reproduced without set-up.
JUDGE_MODEL = "vgg16"
CONTENT_LAYER = "relu4_2"
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def content_distance(out: torch.Tensor, photo: torch.Tensor, painting: torch.Tensor) -> float:
    """mean((out − photo)²) / mean((painting − photo)²) of one layer's features (same shapes)."""
    far = (painting - photo).square().mean()
    return float((out - photo).square().mean() / far.clamp_min(1e-30))


def style_distance(
    out: Mapping[str, torch.Tensor],
    photo: Mapping[str, torch.Tensor],
    painting: Mapping[str, torch.Tensor],
    layers: Sequence[str] = STYLE_LAYERS,
) -> float:
    """Σ‖G(out) − G(painting)‖² / Σ‖G(photo) − G(painting)‖² over ``layers`` (features by layer name)."""
    num = den = 0.0
    for name in layers:
        target = gram_matrix(painting[name])
        num += float((gram_matrix(out[name]) - target).square().sum())
        den += float((gram_matrix(photo[name]) - target).square().sum())
    return num / max(den, 1e-30)


@dataclass(frozen=True)
class Distances:
    """The two measures of one output (see the module docstring)."""

    content: float
    style: float

    def to_dict(self) -> dict[str, float]:
        """``{"content_distance": …, "style_distance": …}`` rounded for reports."""
        return {"content_distance": round(self.content, 4), "style_distance": round(self.style, 4)}


class Judge:
    """Measures outputs against their photo and painting at a fixed size on fixed weights.

    ``Judge()`` loads the offline default VGG16 (Caffe) weights; pass ``weights`` to use others
    (tests pass tiny random ones).
    """

    def __init__(self, weights: VGGWeights | None = None, size: int = JUDGE_SIZE, device: str = "cpu") -> None:
        if weights is None:
            weights, _ = registry.load(JUDGE_MODEL)
        self.size = size
        self.device = torch.device(device)
        self.net = VGGFeatures(weights, [CONTENT_LAYER, *STYLE_LAYERS]).to(self.device)

    def shape_for(self, photo: torch.Tensor) -> tuple[int, int]:
        """(width, height) every image of a pair is measured at: the photo's aspect, ``size`` longest side."""
        return fit_size(photo.shape[-1], photo.shape[-2], self.size)

    @torch.no_grad()
    def features(self, image: torch.Tensor, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Features of an ``(N, 3, H, W)`` [0, 1] image resized (stretched) to ``shape`` = (width, height)."""
        x = resize(image.to(self.device, torch.float32), shape)
        return self.net(x)

    def measure(
        self,
        output: torch.Tensor,
        photo: torch.Tensor,
        painting: torch.Tensor,
        reference: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None,
    ) -> Distances:
        """Both distances of ``output`` for the pair (``photo``, ``painting``); images ``(1, 3, H, W)`` in [0, 1].

        ``reference`` = :meth:`reference` of the pair, to measure many outputs of one pair cheaply.
        """
        shape = self.shape_for(photo)
        f_photo, f_paint = reference if reference is not None else self.reference(photo, painting)
        f_out = self.features(output, shape)
        return Distances(
            content=content_distance(f_out[CONTENT_LAYER], f_photo[CONTENT_LAYER], f_paint[CONTENT_LAYER]),
            style=style_distance(f_out, f_photo, f_paint),
        )

    def reference(
        self, photo: torch.Tensor, painting: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Features of the photo and of the painting (resized to the photo's shape), for :meth:`measure`."""
        shape = self.shape_for(photo)
        return self.features(photo, shape), self.features(painting, shape)
