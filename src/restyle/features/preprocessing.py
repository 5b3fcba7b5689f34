"""Input conventions of pretrained VGG weights.

Every model in restyle takes an RGB image with values in [0, 1]; the
``Preprocessing`` of its weights maps that to what the convolutions were
trained on (channel order, value range, mean, std). It is differentiable, so it
runs inside the optimised graph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB [0, 1] image becomes the network input.

    ``x' = (reorder(x) * scale - mean) / std`` where mean and std are given in the
    *output* channel order.
    """

    name: str
    channel_order: Literal["RGB", "BGR"]
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Apply to an ``(N, 3, H, W)`` RGB tensor in [0, 1]."""
        if self.channel_order == "BGR":
            image = image.flip(-3)
        mean = image.new_tensor(self.mean).view(-1, 1, 1)
        std = image.new_tensor(self.std).view(-1, 1, 1)
        return (image * self.scale - mean) / std

    def to_dict(self) -> dict:
        """JSON-friendly form (stored in converted weight files)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=d["name"],
            channel_order=d["channel_order"],
            scale=float(d["scale"]),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
        )


#: Caffe / Keras "caffe" mode: BGR, 0-255, minus the ImageNet mean in BGR order.
CAFFE = Preprocessing("caffe", "BGR", 255.0, (103.939, 116.779, 123.68))
#: torchvision: RGB, 0-1, ImageNet mean/std.
TORCHVISION = Preprocessing("torchvision", "RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
#: MatConvNet imagenet-vgg-verydeep-*: RGB, 0-255, minus the mean in RGB order.
MATCONVNET = Preprocessing("matconvnet", "RGB", 255.0, (123.68, 116.779, 103.939))
