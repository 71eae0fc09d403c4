"""From a raw attribution map to what is drawn: the sign a method is read with, outlier
clipping, and an honest "map is empty" instead of a crash.

Captum 0.9's visualiser normalises by a cumulative-sum threshold and asserts when that
threshold is 0, which happens for an all-zero map, and for an all-negative map read as
"positive" (a Grad-CAM whose ReLU removed everything, an occlusion where no window lowered the
score). :func:`empty_reason` catches those (and non-finite maps) first; only maps with something to
show reach Captum's normalisation.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr._utils.visualization import _normalize_attr

from .base import SIGNS

EMPTY = "map is empty"


def _array(attr: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(attr, torch.Tensor):
        attr = attr.detach().cpu().numpy()
    return np.asarray(attr, dtype=np.float64)


def signed(attr: torch.Tensor | np.ndarray, sign: str) -> np.ndarray:
    """The part of the map that is read: ``positive`` keeps values > 0, ``absolute_value`` takes
    magnitudes, ``all`` keeps the sign."""
    a = _array(attr)
    if sign == "positive":
        return np.maximum(a, 0.0)
    if sign == "absolute_value":
        return np.abs(a)
    if sign == "all":
        return a
    raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}")


def empty_reason(attr: torch.Tensor | np.ndarray, sign: str) -> str | None:
    """``None`` when the map has something to show, else a sentence starting "map is empty"
    (or saying it is not finite)."""
    a = _array(attr)
    if a.size == 0:
        return f"{EMPTY} (it has no pixels)"
    if not np.isfinite(a).all():
        return "map is not finite: the model produced NaN or infinite values for this input"
    if sign == "positive" and not (a > 0).any():
        if (a < 0).any():
            return f"{EMPTY}: nothing speaks for this class here (every value is ≤ 0)"
        return f"{EMPTY} (every value is 0)"
    if not (a != 0).any():
        return f"{EMPTY} (every value is 0)"
    return None


def empty_hint(*, uses_layer: bool) -> str:
    """What to try after an empty map, in words a student can act on."""
    if uses_layer:
        return (
            "Grad-CAM keeps only what raises the class score (a ReLU on the weighted feature "
            "maps), and at this layer nothing does: early layers are far from the decision. "
            "Pick a later layer (the last stage or block), or another class."
        )
    return (
        "Try another class or another picture: a map is empty when nothing in this image moves "
        "this class's score."
    )


def to_unit(attr: torch.Tensor | np.ndarray, sign: str, outlier_perc: float = 2.0) -> np.ndarray:
    """float32 map in [0, 1] (or [-1, 1] for ``sign="all"``) as Captum's visualiser scales it:
    divided by the value below which ``100 - outlier_perc`` % of the total mass lies, clipped.
    An empty or non-finite map gives zeros."""
    a = _array(attr)
    if empty_reason(a, sign) is not None:
        return np.zeros(a.shape, dtype=np.float32)
    if outlier_perc <= 0:
        # Captum's threshold search compares against total × 0.01 × 100, which rounding can
        # push above the total, and then indexes an empty array. No clipping: divide by the
        # largest magnitude.
        part = signed(a, sign)
        return (part / np.abs(part).max()).astype(np.float32)
    return _normalize_attr(a, sign, outlier_perc).astype(np.float32)


def scale_note(maps: dict[str, tuple[str, float]]) -> str:
    """What the overlays' colour scale means; ``maps``: each map's label → the sign it is read
    with and the top percentage of its mass clipped to the strongest colour."""
    read = {
        "positive": "evidence for the class (below 0 shows as 0)",
        "absolute_value": "magnitude, whatever its sign",
    }
    by_sign: dict[str, list[str]] = {}
    for label, (sign, _) in maps.items():
        by_sign.setdefault(read.get(sign, sign), []).append(label)
    if len(by_sign) == 1:
        what = next(iter(by_sign))
    else:
        what = "value: " + "; ".join(f"{', '.join(ls)}: {w}" for w, ls in by_sign.items())
    clipped = [f"{label} ({p:g}%)" for label, (_, p) in maps.items() if p > 0]
    clip = f" The top of {', '.join(clipped)} is clipped to the right end." if clipped else ""
    return (
        f"Colour scale: left = 0, right = the map's strongest {what}. Each map is scaled on "
        f"its own, so colours compare places within a map, not strengths between maps.{clip}"
    )
