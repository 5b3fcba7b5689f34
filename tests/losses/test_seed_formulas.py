"""The ``normalize`` modes compute exactly the sources' own loss formulas.

Each reference below transcribes the source's code in its own layout (NHWC, unnormalised Gram
matrices F^T F, sums), independently of restyle's implementation, and is compared with
:class:`PerceptualLoss` on the same features.
"""

from __future__ import annotations

import pytest
import torch

from helpers import make_image, random_vgg_weights
from restyle.features.vgg import VGGFeatures
from restyle.losses.perceptual import PerceptualLoss

CONTENT = {"relu4_2": 1.0}
STYLE = {"relu1_1": 0.5, "relu2_1": 1.0, "relu3_1": 1.5}


@pytest.fixture(scope="module")
def setup() -> dict:
    weights = random_vgg_weights()
    extractor = VGGFeatures(weights, list(CONTENT) + list(STYLE))
    content = make_image(40, 32, seed=1)[None]
    style = make_image(40, 32, seed=2)[None]
    x = 0.5 * content + 0.5 * torch.rand(content.shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        feats = {k: extractor(v) for k, v in (("c", content), ("s", style), ("x", x))}
    nhwc = {k: {n: t.permute(0, 2, 3, 1).double() for n, t in f.items()} for k, f in feats.items()}
    return {
        "extractor": extractor,
        "content": content,
        "style": style,
        "x": x,
        "f": nhwc,
        "z": extractor.preprocessing(x).permute(0, 2, 3, 1).double(),
    }


def terms(setup: dict, normalize: str, a: float, b: float, g: float, exponent: float = 1.0) -> dict[str, float]:
    loss = PerceptualLoss(setup["extractor"], CONTENT, STYLE, a, b, g, exponent, normalize)
    loss.targets = loss.compute_targets(setup["content"], [setup["style"]])
    with torch.no_grad():
        return {k: float(v) for k, v in loss(setup["x"]).items()}


def gram_tf(t: torch.Tensor) -> torch.Tensor:
    """CS20/sbavon: F = reshape(F, (M, N)); matmul(transpose(F), F) (unnormalised, N x N)."""
    m, n = t.shape[1] * t.shape[2], t.shape[3]
    f = t.reshape(m, n)
    return f.T @ f


def test_cs20_and_sbavon(setup: dict) -> None:
    f = setup["f"]
    p, g = f["c"]["relu4_2"], f["x"]["relu4_2"]
    content = ((g - p) ** 2).sum() / (4.0 * p.numel())  # reduce_sum((F - P) ** 2) / (4.0 * P.size)
    style = 0.0
    for name, w in STYLE.items():
        a, x = f["s"][name], f["x"][name]
        n, m = a.shape[3], a.shape[1] * a.shape[2]
        style += w * ((gram_tf(x) - gram_tf(a)) ** 2 / ((2 * n * m) ** 2)).sum()
    got = terms(setup, "cs20", 0.01, 1.0, 0.0)
    assert got["content"] == pytest.approx(0.01 * float(content), rel=1e-4)
    assert got["style"] == pytest.approx(float(style), rel=1e-4)


def test_gatys(setup: dict) -> None:
    f = setup["f"]
    content = 0.5 * ((f["x"]["relu4_2"] - f["c"]["relu4_2"]) ** 2).sum()  # Eq. 1
    style = 0.0
    for name, w in STYLE.items():
        a, x = f["s"][name], f["x"][name]
        n, m = a.shape[3], a.shape[1] * a.shape[2]
        style += w * ((gram_tf(x) - gram_tf(a)) ** 2).sum() / (4 * n**2 * m**2)  # Eq. 4, 5
    got = terms(setup, "gatys", 1.0, 1000.0, 0.0)
    assert got["content"] == pytest.approx(float(content), rel=1e-4)
    assert got["style"] == pytest.approx(1000 * float(style), rel=1e-4)


def keras_tv(x: torch.Tensor, exponent: float) -> torch.Tensor:
    h, w = x.shape[1], x.shape[2]
    a = (x[:, : h - 1, : w - 1, :] - x[:, 1:, : w - 1, :]) ** 2
    b = (x[:, : h - 1, : w - 1, :] - x[:, : h - 1, 1:, :]) ** 2
    return ((a + b) ** exponent).sum()


def test_keras_ryanwu(setup: dict) -> None:
    f = setup["f"]
    nrows, ncols = setup["x"].shape[-2:]

    def gram(t: torch.Tensor) -> torch.Tensor:  # batch_flatten(permute_dimensions(x, (2, 0, 1))) . transpose
        feats = t[0].permute(2, 0, 1).reshape(t.shape[3], -1)
        return feats @ feats.T

    content = ((f["x"]["relu4_2"] - f["c"]["relu4_2"]) ** 2).sum()  # tf.reduce_sum(tf.square(result-base))
    style = 0.0
    for name, w in STYLE.items():
        s = ((gram(f["s"][name]) - gram(f["x"][name])) ** 2).sum() / (4 * (nrows * ncols * 3) ** 2)
        style += w * s
    style /= sum(STYLE.values())  # S_weight / NSL (with unit layer weights)
    tv = keras_tv(setup["z"], 1.25)  # on the Caffe-preprocessed combination image
    got = terms(setup, "keras", 0.025, 100.0, 1.0, exponent=1.25)
    assert got["content"] == pytest.approx(0.025 * float(content), rel=1e-4)
    assert got["style"] == pytest.approx(100 * float(style), rel=1e-4)
    assert got["tv"] == pytest.approx(float(tv), rel=1e-4)


def test_tf_tutorial(setup: dict) -> None:
    f = setup["f"]

    def gram(t: torch.Tensor) -> torch.Tensor:  # einsum('bijc,bijd->bcd') / num_locations
        return torch.einsum("bijc,bijd->bcd", t, t) / (t.shape[1] * t.shape[2])

    style = sum(w * ((gram(f["x"][n]) - gram(f["s"][n])) ** 2).mean() for n, w in STYLE.items())
    style = style * 1e-2 / sum(STYLE.values())
    content = ((f["x"]["relu4_2"] - f["c"]["relu4_2"]) ** 2).mean() * 1e4
    img = setup["x"].permute(0, 2, 3, 1).double()  # tf.image.total_variation on the [0, 1] image
    tv = (img[:, 1:] - img[:, :-1]).abs().sum() + (img[:, :, 1:] - img[:, :, :-1]).abs().sum()
    got = terms(setup, "tf-tutorial", 1e4, 1e-2, 30.0)
    assert got["content"] == pytest.approx(float(content), rel=1e-4)
    assert got["style"] == pytest.approx(float(style), rel=1e-4)
    assert got["tv"] == pytest.approx(30 * float(tv), rel=1e-4)


def test_neural_style(setup: dict) -> None:
    f = setup["f"]

    def gram(t: torch.Tensor) -> torch.Tensor:  # Gram / input:nElement()
        x = t[0].permute(2, 0, 1).reshape(t.shape[3], -1)
        return x @ x.T / t.numel()

    content = 5.0 * ((f["x"]["relu4_2"] - f["c"]["relu4_2"]) ** 2).mean()  # MSECriterion * strength
    style = sum(w * 100.0 * ((gram(f["x"][n]) - gram(f["s"][n])) ** 2).mean() for n, w in STYLE.items())
    z = setup["z"]
    x_diff = z[:, :-1, :-1] - z[:, :-1, 1:]
    y_diff = z[:, :-1, :-1] - z[:, 1:, :-1]
    tv = 1e-3 * 0.5 * (x_diff**2 + y_diff**2).sum()  # the loss whose gradient TVLoss:updateGradInput is
    got = terms(setup, "neural-style", 5.0, 100.0, 1e-3)
    assert got["content"] == pytest.approx(float(content), rel=1e-4)
    assert got["style"] == pytest.approx(float(style), rel=1e-4)
    assert got["tv"] == pytest.approx(float(tv), rel=1e-4)


def test_neural_style_tv_gradient_matches_tvloss_module(setup: dict) -> None:
    """neural-style defines TV by its backward pass only; check ours has exactly that gradient."""
    loss = PerceptualLoss(setup["extractor"], {}, STYLE, 0.0, 0.0, 2.0, 1.0, "neural-style")
    loss.targets = loss.compute_targets(setup["content"], [setup["style"]])
    x = setup["x"].clone().requires_grad_(True)
    loss(x)["tv"].backward()
    z = setup["extractor"].preprocessing(setup["x"])[0].double()  # (C, H, W), as in the Lua module
    grad_z = torch.zeros_like(z)
    x_diff = z[:, :-1, :-1] - z[:, :-1, 1:]
    y_diff = z[:, :-1, :-1] - z[:, 1:, :-1]
    grad_z[:, :-1, :-1] += x_diff + y_diff
    grad_z[:, :-1, 1:] -= x_diff
    grad_z[:, 1:, :-1] -= y_diff
    grad_z *= 2.0
    # z = flip(x) * 255 - mean  =>  dL/dx = flip(dL/dz) * 255
    expected = grad_z.flip(0) * 255
    assert torch.allclose(x.grad[0].double(), expected, rtol=1e-4, atol=1e-3)
