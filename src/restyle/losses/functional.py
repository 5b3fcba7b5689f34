"""Loss functions of Gatys-style transfer as pure functions.

All take batched tensors ``(N, C, H, W)`` and return a scalar. Each is a mean, so
a weight means the same thing at every image size:

* ``gram_matrix(F) = F Fᵀ / (C·H·W)`` with F reshaped to ``(N, C, H·W)``;
* ``content_loss(F, P) = mean((F - P)²)`` over all N·C·H·W elements;
* ``style_loss(F, A) = mean((gram(F) - A)²)`` over the N·C·C Gram entries;
* ``tv_loss(x, β) = mean(((x[i+1,j] - x[i,j])² + (x[i,j+1] - x[i,j])²)^β)`` over channels and the
  (H-1)·(W-1) positions that have both neighbours. β = 1 is the usual squared TV; β = 1.25 is
  the form of the Keras neural style example (seed 004);
* ``temporal_loss(x, ω, c) = Σ c·(x - ω)² / (C·H·W)``: Ruder et al.'s (2016) short-term temporal
  term, the squared distance to the warped previous frame ω where the per-pixel weight c is 1.
"""

from __future__ import annotations

import torch


def _flat(features: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A copy-free 2-D view per image: ``(N, H·W, C)`` of channels-last features (True), else ``(N, C, H·W)``."""
    n, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        return features.permute(0, 2, 3, 1).reshape(n, h * w, c), True
    return features.reshape(n, c, h * w), False


class _Gram(torch.autograd.Function):
    """``F Fᵀ / (C·M)`` with a one-product backward: ``∂L/∂F = (Ḡ + Ḡᵀ) F / (C·M)``.

    autograd's backward of ``bmm(f, fᵀ)`` runs two products (one per operand) and adds them, in
    NCHW order even when the features are channels-last (so the gradient meets the convolution's in
    another layout); this one is a single product in the features' own layout.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, features: torch.Tensor) -> torch.Tensor:
        f, nhwc = _flat(features)
        ctx.save_for_backward(features)
        scale = features.shape[1] * features.shape[2] * features.shape[3]
        gram = torch.bmm(f.transpose(1, 2), f) if nhwc else torch.bmm(f, f.transpose(1, 2))
        return gram / scale

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        n, c, h, w = features.shape
        sym = (grad + grad.transpose(1, 2)) / (c * h * w)
        f, nhwc = _flat(features)
        if nhwc:  # (N, M, C) @ (C, C): the result is already channels-last
            return torch.bmm(f, sym).view(n, h, w, c).permute(0, 3, 1, 2)
        return torch.bmm(sym, f).view(n, c, h, w)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations ``F Fᵀ / (C·H·W)`` of ``(N, C, H, W)`` features → ``(N, C, C)``."""
    return _Gram.apply(features)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between features and target features (same shape)."""
    if features.shape != target.shape:
        raise ValueError(f"content_loss: features {tuple(features.shape)} vs target {tuple(target.shape)}")
    return (features - target).square().mean()


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the Gram matrix of ``features`` and ``target_gram`` (C×C)."""
    gram = gram_matrix(features)
    if gram.shape[-2:] != target_gram.shape[-2:]:
        raise ValueError(f"style_loss: Gram {tuple(gram.shape)} vs target {tuple(target_gram.shape)}")
    return (gram - target_gram).square().mean()


def tv_terms(image: torch.Tensor, exponent: float = 1.0, eps: float = 1e-8) -> torch.Tensor:
    """``(Δy² + Δx²)^exponent`` per channel at the (H-1)·(W-1) positions with both neighbours.

    ``eps`` is added inside the power only when ``exponent < 1``, where the gradient at 0 is infinite.
    The TV losses are this tensor's mean (restyle) or sum (the seeds' formulas).
    """
    dy = image[..., 1:, :-1] - image[..., :-1, :-1]
    dx = image[..., :-1, 1:] - image[..., :-1, :-1]
    s = dy.square() + dx.square()
    if exponent == 1.0:
        return s
    if exponent < 1.0:
        s = s + eps
    return s.pow(exponent)


def tv_loss(image: torch.Tensor, exponent: float = 1.0, eps: float = 1e-8) -> torch.Tensor:
    """Total variation ``mean((Δy² + Δx²)^exponent)`` of an ``(N, C, H, W)`` image (see :func:`tv_terms`)."""
    return tv_terms(image, exponent, eps).mean()


def temporal_loss(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Σ mask·(image - target)² / image.numel()``: distance to ``target`` where ``mask`` (``(N, 1, H, W)``) is 1."""
    if image.shape != target.shape:
        raise ValueError(f"temporal_loss: image {tuple(image.shape)} vs target {tuple(target.shape)}")
    return (mask * (image - target).square()).sum() / image.numel()
