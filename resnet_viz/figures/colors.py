"""Colours for every figure: the scale names, lookup tables sampled from plotly's named scales,
and the blend of a coloured map over a picture. Plotly's scales serve both the heatmaps and the
uint8 overlays, so overlays need neither matplotlib nor OpenCV and match the charts beside them.

Scales are chosen to be honest: values that can be negative get the diverging scale centred on
0, non-negative ones a sequential scale.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import plotly.colors as pc

SEQUENTIAL = "Viridis"
DIVERGING = "RdBu_r"  # blue < 0 < red
# The sequential scales offered for one-signed attribution maps.
COLORMAPS = ("Jet", "Turbo", "Viridis", "Inferno", "Hot", "Greys")
LEVELS = 256
# The colours a builder sets that depend on the theme; figures.style swaps them on a dark one.
INK = "#222222"  # near-black: the sixth member colour
LABEL_BACKGROUND = "rgba(255,255,255,0.6)"  # behind a marker label, over the data


@lru_cache(maxsize=16)
def colour_table(name: str) -> np.ndarray:
    """LEVELS×3 uint8 lookup table of plotly's colour scale ``name``, evenly sampled."""
    try:
        scale = pc.get_colorscale(name)
    except Exception as err:  # plotly raises PlotlyError for unknown names
        raise ValueError(f"Unknown colour map {name!r}; try one of {COLORMAPS}.") from err
    colours = pc.sample_colorscale(scale, np.linspace(0, 1, LEVELS).tolist())  # "rgb(r, g, b)"
    rgb = [pc.unlabel_rgb(c) for c in colours]
    table = np.rint(np.asarray(rgb, dtype=np.float64)).clip(0, 255).astype(np.uint8)
    table.setflags(write=False)  # one cached table serves every caller
    return table


def colour_index(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) → row indices of a lookup table. Computed in ``unit``'s own
    float precision: a float32 map and its float64 copy can round a few pixels differently."""
    return np.rint(np.clip(unit, 0, 1) * (LEVELS - 1)).astype(np.intp)


def colourise(heat: np.ndarray, colormap: str = "Jet", *, signed: bool = False) -> np.ndarray:
    """H×W map in [0, 1] (``signed``: in [-1, 1], 0 at the scale's centre) → H×W×3 uint8."""
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64))
    return colour_table(colormap)[colour_index((heat + 1) / 2 if signed else heat)]


def blend(image: np.ndarray, colour: np.ndarray, opacity: float) -> np.ndarray:
    """``(1 - opacity) · image + opacity · colour``, rounded to H×W×3 uint8.

    Computed in the precision numpy gives the arrays passed in (a uint8 image term promotes to
    float64, a float32 one stays float32): exact ties at .5 are common with integer colours, so
    each overlay keeps the arithmetic it has always had and its pixels stay the same.
    """
    return np.rint((1.0 - opacity) * image + opacity * colour).clip(0, 255).astype(np.uint8)


def heatmap_scale(values: np.ndarray) -> dict:
    """Colour scale keywords (``colorscale``, ``cmin``, ``cmax``) for a heatmap or coloraxis
    showing ``values``: diverging and symmetric about 0 when any is negative."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo < 0:
        bound = max(abs(lo), abs(hi)) or 1.0
        return {"colorscale": DIVERGING, "cmin": -bound, "cmax": bound}
    return {"colorscale": SEQUENTIAL, "cmin": lo, "cmax": hi if hi > lo else lo + 1.0}
