"""Random directions in weight space, scaled filter by filter (Li et al. 2018, §4).

A raw Gaussian direction means different things for different layers: a network with
BatchNorm is unchanged when a filter's weights are scaled, so a step of fixed size moves a
small-norm filter a lot and a large one hardly at all, and surfaces of two networks cannot be
compared. Li et al. rescale each filter of the direction to the norm of that filter's weights;
one-dimensional parameters (biases, BatchNorm's scale and shift) get a zero direction.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

EPS = 1e-10  # a filter of zeros in the direction must not divide by zero


def filter_normalized_direction(
    model: nn.Module, *, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """One direction: for each parameter in ``model.named_parameters()``, a tensor of its shape.
    Each filter (slice along dim 0) of a weight with two or more dimensions is Gaussian noise
    rescaled to that filter's norm in the model; parameters of one dimension or fewer get zeros.
    ``generator`` (on the parameters' device) makes it reproducible: the same seed gives the
    same direction for every model whose parameters have the same shapes."""
    out: dict[str, Tensor] = {}
    for name, p in model.named_parameters():
        w = p.detach()
        if w.dim() <= 1:
            out[name] = torch.zeros_like(w)
            continue
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
        d_norm = d.flatten(1).norm(dim=1)
        w_norm = w.flatten(1).norm(dim=1)
        scale = (w_norm / (d_norm + EPS)).view(-1, *([1] * (w.dim() - 1)))
        out[name] = d * scale
    return out


def same_shapes(a: nn.Module, b: nn.Module) -> bool:
    """Whether ``a`` and ``b`` can share directions: the same parameter names and shapes (a
    ResNet and its plain twin do; nets of different depths do not)."""
    sa = {n: p.shape for n, p in a.named_parameters()}
    sb = {n: p.shape for n, p in b.named_parameters()}
    return sa == sb
