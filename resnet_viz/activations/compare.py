"""Switching skip connections off at inference, next to the unchanged model, and finding a
model's plain twin.

The model a page receives is shared by every session (``LoadedModel.model``) and is never
changed here: toggling happens on a private deep copy. Switching a skip off removes the path that
carries x through the block, leaving ReLU(F(x)); in a network trained with its skips that usually
wrecks everything downstream. It is not the lesion of Veit et al. (2016), who delete a block's
residual *branch* and keep the skip, and find trained ResNets degrade gracefully. Nor is it a
plain network: a plain twin trained without skips has learnt to work without them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from ..models import residual_blocks, set_skip
from .anatomy import BlockStats, block_stats
from .capture import FULL, Capture, Reduce, capture


def skip_scales(model: nn.Module) -> list[float]:
    """The current skip scale of every residual block, network order."""
    return [float(block.skip_scale) for _, block in residual_blocks(model)]


def with_skips(model: nn.Module, scales: Sequence[float]) -> nn.Module:
    """A private copy of ``model`` (eval mode) with one skip scale per block; ``model`` itself is
    untouched."""
    toggled = copy.deepcopy(model).eval()
    # A deep copy also copies hooks that another session (or page) has on the shared model at
    # this moment; the private copy must run clean.
    for module in toggled.modules():
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
        module._backward_hooks.clear()
        module._backward_pre_hooks.clear()
    set_skip(toggled, list(scales))
    return toggled


@dataclass(frozen=True)
class Inspection:
    """What one model computes for one batch: top classes, per-block statistics and captures."""

    stats: BlockStats
    probs: torch.Tensor  # N×k, descending
    classes: torch.Tensor  # N×k class indices
    captures: dict[str, Capture] = field(default_factory=dict)


def top_classes(logits: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(logits.float(), dim=1)
    top = probs.topk(min(k, probs.shape[1]), dim=1)
    return top.values, top.indices


def inspect(
    model: nn.Module,
    x: torch.Tensor,
    layers: Sequence[str] = (),
    *,
    reduce: Reduce = FULL,
    top: int = 5,
) -> Inspection:
    stats = block_stats(model, x)
    probs, classes = top_classes(stats.logits, top)
    captures = capture(model, x, layers, reduce=reduce) if layers else {}
    return Inspection(stats, probs, classes, captures)


def compare_skips(
    model: nn.Module,
    x: torch.Tensor,
    scales: Sequence[float],
    layers: Sequence[str] = (),
    *,
    reduce: Reduce = FULL,
) -> tuple[Inspection, Inspection]:
    """``(unchanged, toggled)``: ``model`` as it is, and a private copy with ``scales``.

    The toggled model's maps are kept for the same channels as the unchanged model's (which
    ``reduce.top_k`` picked there), so the two can be compared tile by tile.
    """
    unchanged = inspect(model, x, layers, reduce=reduce)
    copy_ = with_skips(model, scales)
    stats = block_stats(copy_, x)
    probs, classes = top_classes(stats.logits, unchanged.probs.shape[1])
    captures = {
        name: capture(
            copy_,
            x,
            [name],
            reduce=replace(reduce, top_k=None, channels=tuple(cap.channels.tolist())),
        )[name]
        for name, cap in unchanged.captures.items()
    }
    return unchanged, Inspection(stats, probs, classes, captures)


def response_depth(
    model: nn.Module,
    x: torch.Tensor,
    twin: nn.Module | None = None,
    twin_x: torch.Tensor | None = None,
) -> dict[str, BlockStats]:
    """Per-block statistics of ``model`` and, when given, of its plain twin (on ``twin_x``, the
    same image prepared for the twin; defaults to ``x``): the two lines of He et al. Fig. 7."""
    out = {"this model": block_stats(model, x)}
    if twin is not None:
        out["plain twin"] = block_stats(twin, x if twin_x is None else twin_x)
    return out
