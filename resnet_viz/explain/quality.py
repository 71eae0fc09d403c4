"""Scoring a map against a ground-truth object mask (Shapes images come with one).

* Pointing game (Zhang et al. 2016, "Top-down neural attention by excitation backprop"): a hit
  when the map's maximum lies on the object. Zhang et al. allow 15 pixels of tolerance on
  ~224-pixel images; on 32-pixel Shapes that would cover most of the image, so the default here
  is none (``tolerance`` dilates the mask by that many pixels when wanted). When several pixels
  share the maximum (occlusion windows make plateaus), the hit needs at least half of them on
  the object.
* Mask-energy share (the "energy-based pointing game" of Wang et al. 2020, Score-CAM §5.2): the
  fraction of the map's mass that lies on the object.

Both are computed on the map as its method is read (:func:`~resnet_viz.explain.signed`): the
positive part for Grad-CAM and occlusion, magnitudes for gradient methods. For a map that knows
nothing, both equal the object's share of the image — the chance level reported beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .display import empty_reason, signed


@dataclass(frozen=True)
class Scores:
    hit: bool | None  # None when the map is empty
    energy: float | None  # share of the map's mass on the object; None when the map is empty
    chance: float  # object's share of the pixels: a uniform map's energy share
    hit_chance: float  # chance that a random peak lands on the (dilated) object
    empty: str | None = None  # why the map could not be scored


def _mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape:
        raise ValueError(f"mask is {mask.shape} but the map is {shape}; put both on one grid")
    return mask


def _dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    if pixels <= 0:
        return mask
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    return F.max_pool2d(t, 2 * pixels + 1, stride=1, padding=pixels)[0, 0].numpy() > 0


def pointing_hit(map_: np.ndarray, mask: np.ndarray, *, tolerance: int = 0) -> bool:
    """Whether the maximum of a non-negative map lies on the (dilated) mask."""
    peak = map_ == map_.max()
    return bool(_dilate(mask, tolerance)[peak].mean() >= 0.5)


def energy_share(map_: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of a non-negative map's total on the mask."""
    return float(map_[mask].sum() / map_.sum())


def score(
    attr: torch.Tensor | np.ndarray, mask: np.ndarray, sign: str, *, tolerance: int = 0
) -> Scores:
    """Pointing-game hit and mask-energy share of ``attr`` read with ``sign``; an empty map gets
    ``None`` scores and the reason."""
    m = signed(attr, "positive" if sign == "all" else sign)  # signed maps: positive evidence
    mask = _mask(mask, m.shape)
    chance, hit_chance = float(mask.mean()), float(_dilate(mask, tolerance).mean())
    why = empty_reason(m, "positive")
    if why is not None:
        return Scores(None, None, chance, hit_chance, why)
    hit = pointing_hit(m, mask, tolerance=tolerance)
    return Scores(hit, energy_share(m, mask), chance, hit_chance)


@dataclass(frozen=True)
class Summary:
    """One method's scores over several images."""

    hit_rate: float | None  # fraction of pointing-game hits among scored maps (None: none)
    energy: float | None  # mean mask-energy share among scored maps
    chance: float  # mean object share of the image: a uniform map's energy share
    hit_chance: float  # mean chance of a random peak landing on the object
    images: int
    empty: int  # maps that could not be scored


def summarise(scores: Sequence[Scores]) -> Summary:
    scored = [s for s in scores if s.empty is None]
    return Summary(
        hit_rate=float(np.mean([s.hit for s in scored])) if scored else None,
        energy=float(np.mean([s.energy for s in scored])) if scored else None,
        chance=float(np.mean([s.chance for s in scores])) if scores else 0.0,
        hit_chance=float(np.mean([s.hit_chance for s in scores])) if scores else 0.0,
        images=len(scores),
        empty=len(scores) - len(scored),
    )
