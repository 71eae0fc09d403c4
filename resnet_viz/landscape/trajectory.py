"""The training trajectory on the plane that holds most of it (Li et al. 2018, §7).

Random directions in a space of a million dimensions are nearly orthogonal to the path
training took, so a surface along them shows nothing of that path. Li et al. take the weights
at points of training, θ₀ … θₙ, their differences from the final weights θₙ, and the first two
principal directions of those differences: the plane in which the path moved most. The path is
then drawn as the projections of θᵢ − θₙ on that plane (the final weights at its origin), over
the loss surface in the same plane. How much of the path's variance the two directions explain
says how much of it the picture shows.

As for the random directions, only weights of two or more dimensions (convolutions, the linear
layer) take part; biases and BatchNorm's parameters stay at their final values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

# Snapshots besides the initial and final weights a path needs: with the initial weights, three
# points away from the final ones, which span a plane (two span only a line).
MIN_SNAPSHOTS = 2


@dataclass(frozen=True)
class Trajectory:
    """Two unit directions (by parameter name, like filter_normalized_direction's), the share of
    the path's variance each explains, and each snapshot's ``(x, y)`` on their plane."""

    directions: tuple[dict[str, Tensor], dict[str, Tensor]]
    explained: tuple[float, float]
    points: Tensor  # (len(snapshots), 2); the final weights, if among them, at (0, 0)


def pca_directions(
    snapshots: Sequence[Mapping[str, Tensor]], final: Mapping[str, Tensor]
) -> Trajectory:
    """The first two principal directions of ``snapshot − final`` over ``snapshots`` (state
    dicts or named parameters, in training order), centred as a PCA is, and every snapshot
    projected on them. Needs at least three snapshots that differ from ``final``."""
    names = [n for n, w in final.items() if w.dim() > 1 and w.is_floating_point()]
    shapes = {n: final[n].shape for n in names}
    flat_final = torch.cat([final[n].detach().flatten().double() for n in names])
    rows = (
        torch.stack(
            [torch.cat([s[n].detach().flatten() for n in names]).double() for s in snapshots]
        )
        - flat_final
    )
    moved = rows[rows.norm(dim=1) > 0]
    if len(moved) < 3:  # two points, centred, span a line: the second direction would be noise
        raise ValueError("A trajectory needs at least three snapshots away from the final weights.")
    centred = moved - moved.mean(dim=0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    var = s**2
    explained = (var / var.sum()).tolist()
    axes = vh[:2]
    # A principal direction's sign is arbitrary: orient both so the path starts at negative
    # coordinates and heads up and to the right, towards the trained weights at the origin.
    start = rows[0] @ axes.T
    axes = axes * torch.where(start > 0, -1.0, 1.0).double().unsqueeze(1)
    points = rows @ axes.T
    directions = tuple(_unflatten(a, names, shapes, final) for a in axes)
    return Trajectory(directions, (explained[0], explained[1]), points.float())  # type: ignore[arg-type]


def _unflatten(
    flat: Tensor, names: list[str], shapes: Mapping[str, torch.Size], final: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    out = {n: torch.zeros_like(w) for n, w in final.items() if w.is_floating_point()}
    offset = 0
    for n in names:
        size = shapes[n].numel()
        out[n] = flat[offset : offset + size].view(shapes[n]).to(final[n].dtype)
        offset += size
    return out
