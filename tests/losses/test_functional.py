"""Losses against hand computations, and gradcheck in float64."""

import pytest
import torch
from torch.autograd import gradcheck

from restyle.losses.functional import content_loss, gram_matrix, style_loss, tv_loss


def test_gram_by_hand():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 2.0]]]])  # (1, 2, 2, 2)
    # rows: a = [1,2,3,4], b = [0,1,0,2]; a·a=30, a·b=10, b·b=5; / (C·H·W = 8)
    expected = torch.tensor([[[30.0, 10.0], [10.0, 5.0]]]) / 8
    assert torch.allclose(gram_matrix(f), expected)


def test_content_loss_by_hand():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    b = torch.tensor([1.0, 0.0, 3.0, 7.0]).view(1, 1, 2, 2)
    assert content_loss(a, b).item() == pytest.approx((4 + 9) / 4)


def test_style_loss_by_hand():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 2.0]]]])
    target = torch.zeros(1, 2, 2)
    g = torch.tensor([30.0, 10.0, 10.0, 5.0]) / 8
    assert style_loss(f, target).item() == pytest.approx(float(g.square().mean()))
    assert style_loss(f, gram_matrix(f)).item() == 0


def test_tv_by_hand():
    x = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]).view(1, 1, 3, 3)
    # positions (i,j) in 2x2: dy = x[i+1,j]-x[i,j], dx = x[i,j+1]-x[i,j]
    s = [(2 - 0) ** 2 + (1 - 0) ** 2, (2 - 1) ** 2 + (3 - 1) ** 2, (0 - 2) ** 2 + 0, (0 - 2) ** 2 + 0]
    assert tv_loss(x).item() == pytest.approx(sum(s) / 4)
    assert tv_loss(x, 1.25).item() == pytest.approx(sum(v**1.25 for v in s) / 4)
    assert tv_loss(torch.ones(1, 3, 5, 5)).item() == 0


def test_losses_are_size_normalised():
    torch.manual_seed(0)
    small = torch.rand(1, 4, 16, 16)
    big = small.repeat(1, 1, 2, 2)  # same statistics, 4x the positions
    assert torch.allclose(gram_matrix(small), gram_matrix(big), atol=1e-6)
    assert tv_loss(small).item() == pytest.approx(tv_loss(small.repeat_interleave(1, -1)).item())


@pytest.mark.parametrize("exponent", [1.0, 1.25, 0.75])
def test_tv_gradcheck(exponent):
    x = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda t: tv_loss(t, exponent), (x,))


def test_content_style_gradcheck():
    f = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    a = gram_matrix(torch.rand(1, 3, 5, 5, dtype=torch.float64))
    assert gradcheck(lambda x: content_loss(x, t), (f,))
    assert gradcheck(lambda x: style_loss(x, a), (f,))
    assert gradcheck(gram_matrix, (f,))


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="content_loss"):
        content_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 4, 4))
