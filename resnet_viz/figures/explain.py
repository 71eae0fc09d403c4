"""Explain figures: attribution overlays (uint8 arrays), PNG bytes for download, the sanity-check
curves and the quality scores. Colour tables and the blend live in :mod:`.colors`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ..explain.quality import Summary
from ..explain.sanity import BORDERLINE, PASS_BELOW, PUBLISHED, SanityResult
from .colors import COLORMAPS, DIVERGING, blend, colour_table, colourise  # noqa: F401  (re-exported)


def overlay(
    image: np.ndarray,
    heat: np.ndarray,
    colormap: str = "Jet",
    opacity: float = 0.5,
    *,
    signed: bool = False,
) -> np.ndarray:
    """Blend a colourised map over an H×W×3 uint8 image of the same size:
    ``(1 - opacity) · image + opacity · colour(map)`` (pytorch-grad-cam's ``show_cam_on_image``
    blend, without its rescaling by the brightest pixel)."""
    image = np.asarray(image)
    heat = np.asarray(heat)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be H×W×3 uint8, got {image.shape} {image.dtype}")
    if heat.shape != image.shape[:2]:
        raise ValueError(f"map is {heat.shape} but the image is {image.shape[:2]}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within 0–1, got {opacity}")
    colour = colourise(heat, colormap, signed=signed).astype(np.float32)
    return blend(image.astype(np.float32), colour, opacity)


def colour_bar(colormap: str = "Jet", width: int = 512, height: int = 16) -> np.ndarray:
    """A height×width×3 uint8 strip of ``colormap`` from 0 (left) to 1 (right): the scale of the
    overlays, drawn as the same pixels."""
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, width), (height, width))
    return colourise(ramp, colormap)


def enlarge(image: np.ndarray, min_side: int = 256) -> np.ndarray:
    """Repeat pixels by the smallest whole factor that makes the short side ≥ ``min_side``, so
    a 32×32 overlay shows crisp pixels instead of the browser's blur."""
    factor = max(1, -(-min_side // min(image.shape[:2])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file contents of an H×W×3 (or H×W) uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


# ---- how far to trust it ----------------------------------------------------------------------


def sanity_figure(result: SanityResult, labels: Mapping[str, str] | None = None) -> go.Figure:
    """Spearman rank correlation with the trained model's map (y) as the network is randomised
    from the classifier down (x), one line per method; the band marks the borderline zone."""
    labels = labels or {}
    fig = go.Figure()
    fig.add_hrect(
        y0=PASS_BELOW - BORDERLINE,
        y1=PASS_BELOW + BORDERLINE,
        fillcolor="#bbbbbb",
        opacity=0.25,
        line_width=0,
    )
    fig.add_hline(
        y=PASS_BELOW,
        line={"dash": "dash", "color": "#777", "width": 1},
        annotation_text="pass below",
        annotation_position="bottom left",
    )
    for method, rhos in result.correlations.items():
        empty = result.empty[method]
        fig.add_trace(
            go.Scatter(
                x=list(result.steps),
                y=list(rhos),
                name=labels.get(method, method),
                mode="lines+markers",
                customdata=list(empty),
                hovertemplate="%{x}: ρ = %{y:.2f}<br>empty maps: %{customdata}<extra>"
                + labels.get(method, method)
                + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": "Cascading randomisation: similarity to the trained model's map", "x": 0},
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0},
        hovermode="closest",
    )
    fig.update_xaxes(
        title_text="randomised down to (cumulative, classifier first)", type="category"
    )
    fig.update_yaxes(title_text="Spearman ρ with the original map", range=[-1.05, 1.05])
    return fig


def sanity_table(
    result: SanityResult, methods: Sequence[str], labels: Mapping[str, str] | None = None
) -> list[dict[str, object]]:
    """Rows for a table, one per tested method: its mean correlation over the cascade and its
    verdict here beside the published one."""
    labels = labels or {}
    return [
        {
            "method": labels.get(m, m),
            "mean ρ over the cascade": round(result.mean_correlation(m), 2),
            "here": result.verdict(m),
            "Adebayo et al. 2018": PUBLISHED.get(m, "not stated"),
        }
        for m in methods
    ]


def quality_table(summaries: Mapping[str, Summary]) -> list[dict[str, object]]:
    """Rows for a table, one per method label: percentages, ``None`` where nothing scored."""

    def pct(v: float | None) -> float | None:
        return None if v is None else round(100 * v, 1)

    return [
        {
            "method": name,
            "pointing game hits %": pct(s.hit_rate),
            "energy on object %": pct(s.energy),
            "chance %": pct(s.chance),
            "images": s.images,
            "empty maps": s.empty,
        }
        for name, s in summaries.items()
    ]


def quality_figure(summaries: Mapping[str, Summary]) -> go.Figure:
    """Pointing-game hit rate and mask-energy share per method, with the chance level."""
    names = list(summaries)
    rows = list(summaries.values())
    fig = go.Figure(
        [
            go.Bar(x=names, y=[r.hit_rate for r in rows], name="pointing game: hit rate"),
            go.Bar(x=names, y=[r.energy for r in rows], name="energy on the object"),
        ]
    )
    if rows:
        # A line trace rather than a shape, so the legend explains it and no label covers bars.
        chance = float(np.mean([r.chance for r in rows]))
        fig.add_trace(
            go.Scatter(
                x=names,
                y=[chance] * len(names),
                name=f"chance ≈ {chance:.0%}: the shape's share of the image",
                mode="lines",
                line={"dash": "dash", "color": "#d62728"},
                hovertemplate="chance %{y:.0%}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        title={"text": "Agreement with the ground-truth shape", "x": 0},
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.15, "yanchor": "top", "x": 0},
    )
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(type="category")
    return fig
