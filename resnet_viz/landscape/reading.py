"""What a surface shows, in numbers a class can check against the picture.

Li et al. (2018, Fig. 5) saw residual nets sit in a wide, smooth, nearly convex basin and deep
plain nets in a narrow one among chaotic hills. Two readings of a stored surface stand for that
here: how much of the grid lies in the basin (loss at most twice the trained point's), and how
far the loss climbs by the grid's edge. They compare members cut along the same directions; they
are this tool's readings of the picture, not Li et al.'s own measure (the Hessian's
|λmin/λmax|, which :func:`..hessian.sharpness` gives).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

BASIN = 2.0  # a point is in the basin when its loss is at most this × the trained point's


@dataclass(frozen=True)
class Basin:
    trained: float  # the loss at the trained weights (the grid's centre)
    edge: float  # the median loss on the grid's border
    share: float  # of the grid's points, those in the basin

    def describe(self) -> str:
        return (
            f"loss {self.trained:.3g} at the trained weights, {self.edge:.3g} at the edge "
            f"(median); {self.share:.0%} of the grid within {BASIN:g}× the trained loss"
        )


def basin(payload: Mapping[str, Any]) -> Basin:
    loss = np.asarray(payload["loss"], dtype=float)
    mid = loss.shape[0] // 2
    trained = float(loss[mid, mid])
    border = np.concatenate([loss[0, :], loss[-1, :], loss[1:-1, 0], loss[1:-1, -1]])
    inside = np.isfinite(loss) & (loss <= BASIN * trained)
    return Basin(trained, float(np.median(border)), float(inside.mean()))


def twins_reading(residual: tuple[str, Basin], plain: tuple[str, Basin]) -> tuple[bool, str]:
    """Whether this pair shows Li et al.'s effect (the residual net's basin is the wider one),
    and a sentence that says so with the numbers."""
    (rn, r), (pn, p) = residual, plain
    shows = r.share > p.share
    text = f"{rn}: {r.share:.0%} of the grid in its basin, {pn}: {p.share:.0%}. " + (
        "The residual net sits in the wider basin, as Li et al. (2018) found."
        if shows
        else "This run does not show Li et al.'s effect: the plain net's basin is as wide "
        "or wider. Short training on a CPU, or a shallow pair, often leaves the two alike; "
        "the degradation experiment's 56-layer twins show it more clearly."
    )
    return shows, text
