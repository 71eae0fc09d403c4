"""Axes that read right at every moment: with no point yet, one, two or thousands.

Plotly's autorange is made for data it can see: a single point gets a range of ±1 around it
(steps 0.5 and 1.5, accuracies from −0.5), a flat line a range a hair wide (898.764…900.264
images/s), and its log axes tick at 2…9 within every decade with labels that repeat ("2" for
0.2 and 2). These helpers compute each axis from the data instead; every builder in this
package uses them, and the tests check the result at 0, 1, 2 and many points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

# Below this span of steps an axis ticks every step; above, plotly picks round integers.
STEP_EVERY_ONE = 10


def _finite(values: Iterable[Any]) -> np.ndarray:
    arrays = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    both = np.concatenate(arrays) if arrays else np.zeros(0)
    return both[np.isfinite(both)]


def step_axis(*steps: Iterable[float]) -> dict[str, Any]:
    """An integer step axis from the first step to the last one drawn (one step wide for a
    single point, 0 to 1 before any)."""
    found = _finite(steps)
    lo, hi = (int(found.min()), int(found.max())) if found.size else (0, 1)
    if hi == lo:
        hi = lo + 1
    axis: dict[str, Any] = {"range": [lo, hi], "tickformat": "d", "autorange": False}
    if hi - lo <= STEP_EVERY_ONE:
        axis |= {"tick0": lo, "dtick": 1}
    return axis


def fraction_axis() -> dict[str, Any]:
    """Accuracy and other shares: always 0 to 100 %, whatever the data."""
    return {"range": [0, 1], "tickformat": ".0%", "autorange": False}


def zero_based_axis(*values: Iterable[float]) -> dict[str, Any]:
    """Quantities that cannot be negative (a loss, a learning rate, images per second): from
    0 to a little above the largest value, so a flat line sits at its height, not at the
    middle of a hair-wide range. Ticks in plain digits (0.0004, 12,000): plotly's default SI
    suffixes read "400μ" for a learning rate, which students do not."""
    found = _finite(values)
    top = float(found.max()) if found.size else 0.0
    top = round_up(top * 1.05) if top > 0 else 1.0
    return {"range": [0, top], "autorange": False, "tickformat": ",~g"}


def round_up(value: float) -> float:
    """``value`` rounded up to two significant digits (1,221 → 1,300; 4.2e-4 → 4.2e-4), so an
    axis that ends there ends on a round number."""
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / step - 1e-9) * step


def power_label(exponent: int) -> str:
    """10**exponent as a student reads it: ``0.001`` … ``1000`` in plain digits, beyond that
    ``10⁻⁶`` / ``10⁵``."""
    if -3 <= exponent <= 3:
        return f"{10.0**exponent:.{max(0, -exponent)}f}"
    return "10" + str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def log_axis(*values: Iterable[float]) -> dict[str, Any]:
    """A log axis over whole decades that ticks at the powers of ten only, labelled by
    :func:`power_label` (positive finite values decide the decades; 1 decade around 1 before
    there are any)."""
    found = _finite(values)
    found = found[found > 0]
    if found.size:
        lo = math.floor(math.log10(float(found.min())))
        hi = math.ceil(math.log10(float(found.max())))
    else:
        lo, hi = 0, 1
    if hi == lo:
        hi = lo + 1
    exponents = list(range(lo, hi + 1))
    # More than ~8 decades: label every other one so the labels never collide.
    every = 1 if len(exponents) <= 8 else 2
    shown = exponents[::every]
    return {
        "type": "log",
        "range": [lo, hi],
        "autorange": False,
        "tickvals": [10.0**e for e in shown],
        "ticktext": [power_label(e) for e in shown],
    }
