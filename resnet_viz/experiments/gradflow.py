"""Gradient-flow summary: each layer's gradient norm at the start, middle and end of training,
and how far the first layer's gradient is from the last layer's (vanishing/exploding)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..store import LayerSeries

PHASES = ("start", "middle", "end")
WINDOW = 0.1  # each phase is the median over this fraction of the logged steps
# A first-to-last-layer gradient ratio beyond two orders of magnitude either way counts as
# vanishing (below) or exploding (above) gradients.
ORDERS = 2.0


@dataclass(frozen=True)
class GradFlow:
    layers: tuple[str, ...]
    steps: dict[str, tuple[int, int]]  # phase → (first, last) step of its window
    norms: dict[str, np.ndarray]  # phase → per-layer median gradient norm

    def first_to_last(self, phase: str) -> float:
        """Median ``‖g_first layer‖ / ‖g_last layer‖`` over the phase's window: ``inf`` when
        the gradients are not finite or only the last layer's is zero, ``nan`` when no layer
        gets any gradient at all (a dead net: every ReLU off, the output a constant)."""
        first, last = self.norms[phase][0], self.norms[phase][-1]
        if not (np.isfinite(first) and np.isfinite(last)):
            return float("inf")
        if last > 0:
            return float(first / last)
        return float("inf") if first > 0 else float("nan")


def _window(n: int, centre: float) -> slice:
    width = max(1, round(n * WINDOW))
    start = int(np.clip(round(centre * n - width / 2), 0, max(n - width, 0)))
    return slice(start, start + width)


def gradient_flow(series: LayerSeries) -> GradFlow | None:
    """Summarise a member's per-step gradient norms; ``None`` before any step was logged."""
    n = len(series.steps)
    if n == 0 or not series.layers:
        return None
    centres = {"start": 0.0, "middle": 0.5, "end": 1.0}
    steps, norms = {}, {}
    for phase in PHASES:
        window = _window(n, centres[phase])
        rows = series.values[window]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a layer NaN all window long
            norms[phase] = np.nanmedian(np.where(np.isfinite(rows), rows, np.nan), axis=0)
        picked = series.steps[window]
        steps[phase] = (int(picked[0]), int(picked[-1]))
    return GradFlow(series.layers, steps, norms)


def ratio_verdict(ratio: float) -> str:
    """``vanishing`` / ``exploding`` / ``healthy`` for a first-to-last-layer gradient ratio, or
    ``dead`` when no layer had any gradient (see :meth:`GradFlow.first_to_last`)."""
    if np.isnan(ratio):
        return "dead"
    if ratio > 10**ORDERS:
        return "exploding"
    if ratio < 10**-ORDERS:
        return "vanishing"
    return "healthy"


def format_ratio(ratio: float) -> str:
    """A ratio as the app prints it: ``0.0021``, ``inf``, or ``no gradient`` for a dead net."""
    return "no gradient" if np.isnan(ratio) else f"{ratio:.2g}"
