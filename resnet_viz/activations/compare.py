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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from ..models import residual_blocks, set_skip, stages
from .anatomy import BlockStats, block_stats
from .capture import FULL, Capture, Reduce, capture


def skip_scales(model: nn.Module) -> list[float]:
    """The current skip scale of every residual block, network order."""
    return [float(block.skip_scale) for _, block in residual_blocks(model)]


def is_plain(model: nn.Module) -> bool:
    """Every skip off: a plain network, not a residual one."""
    return not any(skip_scales(model))


def stage_blocks(model: nn.Module) -> list[list[str]]:
    """The qualified names of each stage's residual blocks, network order."""
    named = {id(block): name for name, block in residual_blocks(model)}
    return [[named[id(block)] for block in group] for group in stages(model)]


def chosen_scales(
    blocks: Sequence[str], trained: Sequence[float], on: Collection[str]
) -> tuple[float, ...]:
    """One skip scale per block (``blocks``, network order) with the skip on only in ``on``: the
    trained scale where it is on (1 for a block trained without its skip), 0 elsewhere."""
    return tuple(
        (s if s > 0 else 1.0) if n in on else 0.0 for n, s in zip(blocks, trained, strict=True)
    )


def switched_off(blocks: Sequence[str], scales: Sequence[float]) -> list[str]:
    """The blocks whose skip ``scales`` switch off, network order."""
    return [n for n, s in zip(blocks, scales, strict=True) if s == 0]


def off_label(off: Sequence[str]) -> str:
    """A short name for a model with the skips of ``off`` switched off."""
    return f"skips off in {', '.join(off)}" if len(off) <= 3 else f"{len(off)} skips off"


def runs_before(order: Sequence[str], layer: str, off: Sequence[str]) -> bool:
    """Whether ``layer`` runs before the first block of ``off`` (``order``: layer names in
    network order), so switching those skips off cannot change its maps. False when ``off`` is
    empty."""
    return bool(off) and order.index(layer) < min(order.index(n) for n in off)


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


# What the depth view can plot per block: a label → the BlockStats field it reads.
DEPTH_MEASURES = {
    "std of F(x) (He et al. 2015, Fig. 7)": "branch_std",
    "std of the block output": "output_std",
    "‖F(x)‖ / ‖x‖": "ratio",
}


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


def per_block(
    stats: Mapping[str, BlockStats], measure: str
) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """``(block names, one line per model)`` of one of ``DEPTH_MEASURES`` from
    ``response_depth``'s statistics."""
    field_ = DEPTH_MEASURES[measure]
    names = next(iter(stats.values())).names
    return names, {label: getattr(v, field_) for label, v in stats.items()}
