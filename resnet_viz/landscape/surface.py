"""The training loss on a grid of points around the trained weights.

Every point costs forward passes only; the goal is to waste none. On a GPU, points are evaluated
several at a time: ``torch.func.vmap`` over stacked weights θ + Σ cᵢ·dᵢ runs one batched
forward for a whole group of points (each convolution becomes one grouped convolution), which
fills a device one point's batch leaves idle. On a CPU one point's batch already keeps the
cores busy and the grouped convolutions are slower (measured: 1.3–2× the bare forward passes
against 1.05× one at a time; docs/benchmarks.md), so points go one per call there. Either way no
state dict is loaded per point and the losses stay on the device until a group is done. The
model itself is never modified: :func:`torch.func.functional_call` swaps the weights in for the
call only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

POINTS_PER_CALL = {"cuda": 8, "mps": 8}  # grid points per batched forward; else 1


def loss_surface(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    directions: list[Mapping[str, Tensor]],
    coords: Tensor,
    *,
    points_per_call: int | None = None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """The mean cross-entropy of ``model`` on ``(images, labels)`` at each of the ``P`` points
    ``coords`` (shape ``(P, len(directions))``): weights θ + Σ cᵢ·dᵢ, in eval mode (BatchNorm
    uses its running statistics). Returns a ``(P,)`` tensor on the CPU. The model's weights,
    buffers and train/eval mode are the same afterwards. ``progress(done, total)`` is called
    after each group of points (it may raise to cancel). ``points_per_call``: points per
    forward pass (default: by device, :data:`POINTS_PER_CALL`)."""
    coords = torch.as_tensor(coords, dtype=torch.float32)
    if coords.dim() != 2 or coords.shape[1] != len(directions):
        raise ValueError(f"coords must be (P, {len(directions)}); got {tuple(coords.shape)}")
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    device = next(iter(params.values())).device
    stacked = {n: torch.stack([d[n].to(device) for d in directions]) for n in params}
    images, labels = images.to(device), labels.to(device)
    was_training = model.training
    model.eval()

    def loss_at(weights: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        logits = functional_call(model, ({**weights, **buffers},), (x,))
        return F.cross_entropy(logits, y, reduction="sum")

    if points_per_call is None:
        points_per_call = POINTS_PER_CALL.get(device.type, 1)
    vmapped = vmap(loss_at, in_dims=(0, None, None))

    def batched(weights: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        if points_per_call == 1:  # one point: a plain forward, no grouped convolutions
            return loss_at({n: w[0] for n, w in weights.items()}, x, y)[None]
        return vmapped(weights, x, y)

    out = torch.empty(len(coords))
    try:
        with torch.no_grad():
            for start in range(0, len(coords), points_per_call):
                c = coords[start : start + points_per_call].to(device)
                # θ + Σ cᵢ·dᵢ for each point of the group: (points, *shape) per parameter.
                weights = {
                    n: p + torch.tensordot(c, stacked[n], dims=([1], [0]))
                    for n, p in params.items()
                }
                total = torch.zeros(len(c), device=device)
                for i in range(0, len(images), batch_size):
                    total += batched(
                        weights, images[i : i + batch_size], labels[i : i + batch_size]
                    )
                out[start : start + len(c)] = (total / len(images)).cpu()
                if progress is not None:
                    progress(min(start + len(c), len(coords)), len(coords))
    finally:
        model.train(was_training)
    return out


def loss_surface_loop(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    directions: list[Mapping[str, Tensor]],
    coords: Tensor,
    *,
    batch_size: int = 256,
) -> Tensor:
    """The same losses one point at a time (no vmap): the reference the batched path is tested
    against, and the baseline ``bench/landscape_speed.py`` measures it against."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    device = next(iter(params.values())).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for c in torch.as_tensor(coords, dtype=torch.float32):
                weights = {
                    n: p
                    + sum(float(ci) * d[n].to(device) for ci, d in zip(c, directions, strict=True))
                    for n, p in params.items()
                }
                total = 0.0
                for i in range(0, len(images), batch_size):
                    x, y = (
                        images[i : i + batch_size].to(device),
                        labels[i : i + batch_size].to(device),
                    )
                    logits = functional_call(model, ({**weights, **buffers},), (x,))
                    total += float(F.cross_entropy(logits, y, reduction="sum"))
                out.append(total / len(images))
    finally:
        model.train(was_training)
    return torch.tensor(out)


def linear_path(
    trained: nn.Module, initial: nn.Module, images: Tensor, labels: Tensor, alphas: Tensor
) -> Tensor:
    """The loss at (1 − α)·θ₀ + α·θ₁ for each α, from the initial weights θ₀ (α = 0) to the
    trained ones θ₁ (α = 1) and beyond (Goodfellow et al. 2015). BatchNorm uses the trained
    net's running statistics all along: the initial net has none worth the name."""
    start = dict(initial.named_parameters())
    towards_start = {n: start[n].detach() - p.detach() for n, p in trained.named_parameters()}
    coords = (1 - torch.as_tensor(alphas, dtype=torch.float32)).view(-1, 1)
    return loss_surface(trained, images, labels, [towards_start], coords)


def grid(steps: int, span: float = 1.0) -> tuple[Tensor, Tensor]:
    """A ``steps × steps`` grid over ``[-span, span]²``: its axis values and the ``(steps², 2)``
    coordinates, row by row (the second direction varies fastest)."""
    axis = torch.linspace(-span, span, steps)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    return axis, torch.stack([a.flatten(), b.flatten()], dim=1)
