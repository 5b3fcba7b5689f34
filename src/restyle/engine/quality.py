"""Three measures of a stylised image that do not depend on the loss or weights it was made with.

All three read the same on every pair:

* **content distance** = mean((F(out) − F(photo))²) / mean((F(painting) − F(photo))²) at relu4_2:
  0 is the photo itself, 1 is as far from the photo as the painting is;
* **style distance** = Σ_l ‖G_l(out) − G_l(painting)‖² / Σ_l ‖G_l(photo) − G_l(painting)‖² over
  relu1_1 … relu5_1 with G = F·Fᵀ/(C·H·W): 0 is the painting's style, 1 is the photo's;
* **edge structure** = the correlation, over the image, of the Sobel gradient magnitude of the
  output's luminance with the photo's (both blurred by a Gaussian of σ = 1 px, the photo resized to
  the output's size): 1 is the photo's structure (edges, eyes, mouths where they were), 0 is
  unrelated. The two distances cannot see a redrawn face (a face with misshapen eyes can sit at the
  same content and style distance as a faithful one); this measure does. Measured over the whole
  image, and inside a marked region (:class:`Box`, e.g. a face) where one is given.

For the distances the painting is resized to the photo's shape (stretched), and they are measured at
:data:`JUDGE_SIZE` px longest side on the VGG16 Caffe weights (the offline default), so reports
made with any model or size compare. :func:`content_distance` and :func:`style_distance` are pure
functions of features, for code that already has them (e.g. a calibration on the run's own network).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


#: σ (px) of the blur before the Sobel filter: the finest structure measured is ~2 px, so pixel noise and a
#: painting's finest grain do not count as structure.
EDGE_SIGMA = 1.0


@dataclass(frozen=True)
class Box:
    """A region of an image as fractions of its width and height (``left, top, right, bottom`` in [0, 1])."""

    left: float
    top: float
    right: float
    bottom: float

    def __post_init__(self) -> None:
        if not (0 <= self.left < self.right <= 1 and 0 <= self.top < self.bottom <= 1):
            raise ValueError(f"a box needs 0 <= left < right <= 1 and 0 <= top < bottom <= 1, got {self}")

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """The box's pixels of an ``(…, H, W)`` tensor (at least 1 px each way)."""
        h, w = image.shape[-2:]
        x0, y0 = min(int(self.left * w), w - 1), min(int(self.top * h), h - 1)
        x1, y1 = max(x0 + 1, round(self.right * w)), max(y0 + 1, round(self.bottom * h))
        return image[..., y0:y1, x0:x1]


def _luminance(image: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of an ``(N, 3, H, W)`` (or one-channel) [0, 1] image, ``(N, 1, H, W)``."""
    if image.shape[1] == 1:
        return image
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def edge_magnitude(image: torch.Tensor, sigma: float = EDGE_SIGMA) -> torch.Tensor:
    """Sobel gradient magnitude of the luminance of an ``(N, C, H, W)`` [0, 1] image blurred by σ, ``(N, 1, H, W)``.

    Borders are replicated, so the frame of the image is no edge.
    """
    y = _luminance(image.float())
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=y.dtype, device=y.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), g.view(1, 1, -1, 1))
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype, device=y.device)
    kernels = torch.stack([sobel, sobel.t()])[:, None]
    d = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernels)
    return d.square().sum(1, keepdim=True).sqrt()


def edge_structure(output: torch.Tensor, photo: torch.Tensor, box: Box | None = None) -> float:
    """Correlation of the edge magnitudes of ``output`` and ``photo`` (both ``(1, C, H, W)`` in [0, 1]).

    The photo is resized to the output's size; ``box`` restricts the correlation to a region of both.
    1: the photo's structure; 0: unrelated; a flat image (no edges) gives 0.
    """
    photo = resize(photo.float(), (output.shape[-1], output.shape[-2]))
    a, b = edge_magnitude(output), edge_magnitude(photo)
    if box is not None:
        a, b = box.crop(a), box.crop(b)
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else 0.0


@dataclass(frozen=True)
class Distances:
    """The measures of one output (see the module docstring); ``face`` only where a region was marked."""

    content: float
    style: float
    structure: float | None = None
    face: float | None = None

    def to_dict(self) -> dict[str, float]:
        """``{"content_distance": …, "style_distance": …, "edge_structure": …[, "face_structure": …]}`` rounded."""
        out = {"content_distance": round(self.content, 4), "style_distance": round(self.style, 4)}
        if self.structure is not None:
            out["edge_structure"] = round(self.structure, 4)
        if self.face is not None:
            out["face_structure"] = round(self.face, 4)
        return out


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
        face: Box | None = None,
    ) -> Distances:
        """The measures of ``output`` for the pair (``photo``, ``painting``); images ``(1, 3, H, W)`` in [0, 1].

        ``reference`` = :meth:`reference` of the pair, to measure many outputs of one pair cheaply;
        ``face``: a region of the photo (e.g. a face) whose edge structure is measured on its own too.
        """
        shape = self.shape_for(photo)
        f_photo, f_paint = reference if reference is not None else self.reference(photo, painting)
        f_out = self.features(output, shape)
        return Distances(
            content=content_distance(f_out[CONTENT_LAYER], f_photo[CONTENT_LAYER], f_paint[CONTENT_LAYER]),
            style=style_distance(f_out, f_photo, f_paint),
            structure=edge_structure(output, photo),
            face=None if face is None else edge_structure(output, photo, face),
        )

    def reference(
        self, photo: torch.Tensor, painting: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Features of the photo and of the painting (resized to the photo's shape), for :meth:`measure`."""
        shape = self.shape_for(photo)
        return self.features(photo, shape), self.features(painting, shape)
