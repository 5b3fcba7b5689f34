"""The Gram matrix's own backward: exact (gradcheck in float64) in both memory layouts, and autograd's values."""

from __future__ import annotations

import pytest
import torch

from restyle.losses.functional import gram_matrix, style_loss


def reference_gram(features: torch.Tensor) -> torch.Tensor:
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


LAYOUTS = [torch.contiguous_format, torch.channels_last]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (2, 4, 3, 3), (1, 6, 1, 7)])
def test_gram_backward_passes_gradcheck(layout, shape) -> None:
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(shape, dtype=torch.float64, generator=gen).contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (f,))
    target = torch.randn(shape[0], shape[1], shape[1], dtype=torch.float64, generator=gen)
    assert torch.autograd.gradcheck(lambda x: style_loss(x, target), (f,))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gram_equals_autograd_values_and_keeps_the_layout(layout) -> None:
    gen = torch.Generator().manual_seed(1)
    base = torch.randn(1, 16, 12, 10, generator=gen).contiguous(memory_format=layout)
    target = torch.randn(1, 16, 16, generator=gen) * 0.1
    grads = []
    for fn in (gram_matrix, reference_gram):
        f = base.clone().requires_grad_(True)
        g = fn(f)
        (g - target).square().mean().backward()
        grads.append((g.detach(), f.grad))
    (g1, d1), (g2, d2) = grads
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(d1, d2, rtol=1e-4, atol=1e-8)
    assert d1.is_contiguous(memory_format=layout)


def test_gram_of_a_cropped_view() -> None:
    """Tiling crops feature maps (non-contiguous views): the same Gram and gradient as a copy."""
    base = torch.randn(1, 8, 10, 12, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    f = base.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: gram_matrix(x[..., 2:7, 3:11]), (f,))
