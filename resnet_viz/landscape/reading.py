"""What a surface shows, in numbers a class can check against the picture.

Li et al. (2018, Fig. 5) saw the surface of a 56-layer net go from nearly convex with skip
connections to chaotic without them: many local minima, contours that bend back on
themselves. Two readings of a stored surface stand for that here, each checkable by eye: the
strict local minima on the grid (a convex bowl has one, at the trained point), and the share of
the grid's lines along which the loss bends downwards (a convex surface has none). They are this
tool's readings of the picture, not Li et al.'s own measure (the Hessian's |λmin/λmax| at each
point; :func:`..hessian.sharpness` gives it at the trained point).

Two more describe the basin: how far the loss climbs by the grid's edge, and how much of the
grid lies within twice the trained loss. They are reported, not judged: a net that barely
trained (loss near chance) has a "wide" basin by the second only because its own loss is high.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

BASIN = 2.0  # a point is in the basin when its loss is at most this × the trained point's
# A second difference counts as bending down below this fraction of the loss there: float32
# sums of hundreds of images are not exact, and a flat plateau must not count as non-convex.
BEND_TOLERANCE = 1e-4
NONCONVEX_MARGIN = 0.05  # the plain net bends down on this much more of the grid to count


@dataclass(frozen=True)
class Basin:
    trained: float  # the loss at the trained weights (the grid's centre)
    edge: float  # the median loss on the grid's border
    share: float  # of the grid's points, those within BASIN × the trained loss
    minima: int  # strict local minima among each point's 8 neighbours
    nonconvex: float  # of the second differences along the grid's rows and columns, those < 0

    def describe(self) -> str:
        return (
            f"loss {self.trained:.3g} at the trained weights, {self.edge:.3g} at the edge "
            f"(median); {_minima(self.minima)} on the grid; the loss bends downwards along "
            f"{self.nonconvex:.0%} of the grid lines; {self.share:.0%} of the grid within "
            f"{BASIN:g}× the trained loss"
        )


def _minima(n: int) -> str:
    return f"{n} local minim{'um' if n == 1 else 'a'}"


def basin(payload: Mapping[str, Any]) -> Basin:
    loss = np.asarray(payload["loss"], dtype=float)
    mid = loss.shape[0] // 2
    trained = float(loss[mid, mid])
    border = np.concatenate([loss[0, :], loss[-1, :], loss[1:-1, 0], loss[1:-1, -1]])
    inside = np.isfinite(loss) & (loss <= BASIN * trained)
    return Basin(
        trained, float(np.median(border)), float(inside.mean()), _local_minima(loss), _bends(loss)
    )


def _local_minima(loss: np.ndarray) -> int:
    padded = np.pad(loss, 1, constant_values=np.inf)
    rows, cols = loss.shape
    neighbours = [
        padded[1 + di : 1 + di + rows, 1 + dj : 1 + dj + cols]
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
        if (di, dj) != (0, 0)
    ]
    return int((loss < np.min(neighbours, axis=0)).sum())


def _bends(loss: np.ndarray) -> float:
    down = []
    for z in (loss, loss.T):
        second = z[2:] - 2 * z[1:-1] + z[:-2]
        down.append((second < -BEND_TOLERANCE * np.abs(z[1:-1])).ravel())
    flat = np.concatenate(down)
    return float(flat.mean()) if flat.size else 0.0


def twins_reading(residual: tuple[str, Basin], plain: tuple[str, Basin]) -> tuple[bool, str]:
    """Whether this pair shows Li et al.'s effect (the plain net's surface is the more chaotic:
    more local minima, or bending down on clearly more of the grid), and sentences that say so
    with the numbers."""
    (rn, r), (pn, p) = residual, plain
    shows = p.minima > r.minima or p.nonconvex > r.nonconvex + NONCONVEX_MARGIN
    text = (
        f"{rn}: {_minima(r.minima)}, bending down along {r.nonconvex:.0%} of the grid lines; "
        f"{pn}: {_minima(p.minima)}, {p.nonconvex:.0%}. "
    )
    if shows:
        text += "The plain net's surface is the more chaotic one, as Li et al. (2018) found."
    else:
        text += (
            "This run does not show Li et al.'s effect: the plain net's surface is no more "
            "chaotic than the residual net's. Short training on a CPU, or a shallow pair, often "
            "leaves the two alike; Li et al. trained 56-layer twins for 300 epochs."
        )
    rise_r, rise_p = r.edge / r.trained, p.edge / p.trained
    text += (
        f" From the trained weights to the grid's edge the loss grows {rise_r:.3g}× for {rn} "
        f"and {rise_p:.3g}× for {pn}"
    )
    if p.trained > 2 * r.trained:
        text += (
            f"; {pn} trained only to loss {p.trained:.3g} (against {r.trained:.3g}), so its "
            "surface is of a net that has learned less"
        )
    return shows, text + "."
