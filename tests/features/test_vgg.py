"""Layer names, the trimmed VGG and preprocessing."""

from __future__ import annotations

import pytest
import torch

from restyle.errors import ConfigError
from restyle.features.layers import layer_names, resolve_layer
from restyle.features.preprocessing import CAFFE, TORCHVISION
from restyle.features.vgg import VGGFeatures, min_input_size


@pytest.mark.parametrize(
    ("name", "arch", "expected"),
    [
        ("conv4_2", "vgg16", "conv4_2"),
        ("relu4_2", "vgg19", "relu4_2"),
        ("block4_conv2", "vgg16", "relu4_2"),
        ("block3_pool", "vgg16", "pool3"),
        ("RELU1_1", "vgg16", "relu1_1"),
        ("conv3_4", "vgg19", "conv3_4"),
    ],
)
def test_resolve_layer(name, arch, expected):
    assert resolve_layer(name, arch) == expected


def test_unknown_layer_suggests_close_names():
    with pytest.raises(ConfigError, match=r"unknown layer 'relu4_22' for vgg16 \(did you mean: relu4_2"):
        resolve_layer("relu4_22", "vgg16")
    with pytest.raises(ConfigError, match="conv3_4"):  # exists only in vgg19
        resolve_layer("conv3_4", "vgg16")


def test_layer_lists():
    assert len([n for n in layer_names("vgg16") if n.startswith("conv")]) == 13
    assert len([n for n in layer_names("vgg19") if n.startswith("conv")]) == 16
    assert layer_names("vgg19")[-1] == "pool5"


def test_truncated_after_deepest_layer(tiny_weights):
    vgg = VGGFeatures(tiny_weights, ["relu2_1", "conv1_2"])
    assert vgg.names[-1] == "relu2_1"
    assert len(vgg.net) == len(vgg.names) == 7  # conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 relu2_1
    assert not any(p.requires_grad for p in vgg.parameters())


def test_one_forward_returns_every_layer_and_relu_is_conv_clamped(tiny_weights):
    vgg = VGGFeatures(tiny_weights, ["conv2_1", "relu2_1", "block1_conv2", "pool1"])
    out = vgg(torch.rand(1, 3, 32, 32))
    assert set(out) == {"conv2_1", "relu2_1", "relu1_2", "pool1"}
    assert torch.equal(out["relu2_1"], out["conv2_1"].clamp_min(0))
    assert out["pool1"].shape[-2:] == (16, 16)


def test_avg_and_max_pooling_differ(tiny_weights):
    x = torch.rand(1, 3, 32, 32)
    a = VGGFeatures(tiny_weights, ["pool1"], "avg")(x)["pool1"]
    m = VGGFeatures(tiny_weights, ["pool1"], "max")(x)["pool1"]
    assert (m >= a - 1e-6).all() and not torch.allclose(a, m)


def test_gradient_reaches_pixels_only(tiny_weights):
    vgg = VGGFeatures(tiny_weights, ["relu3_1"])
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    (g,) = torch.autograd.grad(vgg(x)["relu3_1"].square().mean(), x)
    assert g.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_preprocessing_conventions():
    x = torch.zeros(1, 3, 1, 1)
    x[0, 0] = 1.0  # pure red
    caffe = CAFFE(x).flatten().tolist()
    assert caffe == pytest.approx([-103.939, -116.779, 255 - 123.68])  # BGR order, 0-255, minus mean
    tv = TORCHVISION(x).flatten().tolist()
    assert tv == pytest.approx([(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225])


def test_min_input_size():
    assert min_input_size("vgg16", ["relu1_1"]) == 2
    assert min_input_size("vgg16", ["relu4_2", "relu5_1"]) == 32
    assert min_input_size("vgg16", ["pool5"]) == 64
