"""Lesion study (Veit, Wilber & Belongie 2016, "Residual networks behave like ensembles of
relatively shallow networks", §4): delete residual blocks of a trained network and measure what
is left of its accuracy.

Deleting a block keeps its skip path: the block then computes only its shortcut (the identity,
or the option-A subsample-and-pad of a downsampling block), which is what removing the residual
branch ``F`` means. The same operation on a plain net (skips off) removes one of its layer
pairs and passes the input straight on, which is how Veit et al. delete a layer of VGG. Their
finding: a residual net barely notices losing any one block (except some downsampling ones) and
degrades smoothly as more go; a plain net drops to chance after losing any single layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..models import residual_blocks

# Issue #5's reading of Veit et al. (2016), fixed before any run: deleting one non-downsampling
# block of a trained residual net costs at most this much accuracy on average, and deleting any
# one layer pair of a plain net leaves it within this much of chance.
RESIDUAL_MAX_DROP = 0.10
PLAIN_NEAR_CHANCE = 0.15


@dataclass(frozen=True)
class LesionResult:
    blocks: tuple[str, ...]  # residual blocks, network order
    downsampling: tuple[bool, ...]  # whose shortcut subsamples/pads (no identity there)
    base_acc: float  # nothing deleted
    single: tuple[float, ...]  # accuracy with block i deleted
    ks: tuple[int, ...]  # how many random blocks deleted ...
    k_mean: tuple[float, ...]  # ... mean accuracy over the draws
    k_std: tuple[float, ...]
    chance: float  # 1 / classes
    images: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LesionResult:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def mean_single_drop(self, *, identity_only: bool = True) -> float:
        """Mean accuracy lost by deleting one block (non-downsampling blocks only, by default)."""
        drops = [
            self.base_acc - acc
            for acc, down in zip(self.single, self.downsampling, strict=True)
            if not (identity_only and down)
        ]
        return float(np.mean(drops)) if drops else float("nan")


@contextlib.contextmanager
def deleted(model: nn.Module, names: Sequence[str]) -> Iterator[None]:
    """Within the block, the named residual blocks compute only their shortcut."""
    blocks = dict(residual_blocks(model))
    saved = {n: (blocks[n].branch_scale, blocks[n].skip_scale) for n in names}
    try:
        for n in names:
            blocks[n].branch_scale, blocks[n].skip_scale = 0.0, 1.0
        yield
    finally:
        for n, (branch, skip) in saved.items():
            blocks[n].branch_scale, blocks[n].skip_scale = branch, skip


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    correct = torch.zeros((), device=x.device)
    for i in range(0, len(y), batch):
        correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()
    return float(correct) / max(len(y), 1)


def _is_downsampling(block: nn.Module) -> bool:
    ds = getattr(block, "downsample", None)
    return ds is not None and not isinstance(ds, nn.Identity)


def lesion_study(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int,
    draws: int = 4,
    max_ks: int = 8,
    seed: int = 0,
) -> LesionResult:
    """Accuracy on ``(x, y)`` after deleting each block, and after deleting ``k`` random blocks
    (``draws`` random sets per ``k``, up to ``max_ks`` values of ``k`` spread over 1…n)."""
    named = residual_blocks(model)
    names = [n for n, _ in named]
    was_training = model.training
    model.eval()
    try:
        base = accuracy(model, x, y)
        single = []
        for name in names:
            with deleted(model, [name]):
                single.append(accuracy(model, x, y))
        n = len(names)
        ks = sorted({int(k) for k in np.linspace(1, n, min(max_ks, n)).round()}) if n else []
        rng = np.random.default_rng(seed)
        k_mean, k_std = [], []
        for k in ks:
            if k == 1:  # every single deletion is already known: the exact mean
                accs = single
            else:
                sets = [rng.choice(n, size=k, replace=False) for _ in range(draws if k < n else 1)]
                accs = []
                for chosen in sets:
                    with deleted(model, [names[i] for i in chosen]):
                        accs.append(accuracy(model, x, y))
            k_mean.append(float(np.mean(accs)))
            k_std.append(float(np.std(accs)))
    finally:
        model.train(was_training)
    return LesionResult(
        blocks=tuple(names),
        downsampling=tuple(_is_downsampling(b) for _, b in named),
        base_acc=base,
        single=tuple(single),
        ks=tuple(ks),
        k_mean=tuple(k_mean),
        k_std=tuple(k_std),
        chance=1.0 / num_classes,
        images=len(y),
    )


def describe(name: str, result: LesionResult, *, plain: bool | None = None) -> str:
    """One sentence on what deleting blocks did to ``name``; with ``plain`` given, also whether
    that matches Veit et al. for a residual (``False``) or plain (``True``) net."""
    drop = result.mean_single_drop()
    worst = int(np.argmin(result.single)) if result.single else None
    text = f"{name}: intact {result.base_acc:.1%}"
    if np.isfinite(drop):
        text += f"; deleting one non-downsampling block costs {100 * drop:.1f} points on average"
    if worst is not None:
        text += (
            f"; the worst single deletion ({result.blocks[worst]}) leaves "
            f"{result.single[worst]:.1%} (chance {result.chance:.0%})"
        )
    if plain and result.single:
        above = max(result.single) - result.chance
        text += (
            f" — as Veit et al. found, every single deletion leaves it near chance (at best "
            f"{100 * above:.1f} points above; the bar is {100 * PLAIN_NEAR_CHANCE:.0f})"
            if above <= PLAIN_NEAR_CHANCE
            else f" — unlike Veit et al.'s plain net, its best single deletion keeps "
            f"{100 * above:.1f} points above chance (the bar is {100 * PLAIN_NEAR_CHANCE:.0f})"
        )
    elif plain is False and np.isfinite(drop):
        text += (
            f" — as Veit et al. found, it barely notices (the bar is "
            f"{100 * RESIDUAL_MAX_DROP:.0f} points)"
            if drop <= RESIDUAL_MAX_DROP
            else f" — more than Veit et al.'s fully trained ResNet-110 lost (the bar is "
            f"{100 * RESIDUAL_MAX_DROP:.0f} points): the ensemble-like behaviour needs depth "
            "and training, and this net is shallow or trained briefly"
        )
    return text + "."
