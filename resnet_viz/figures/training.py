"""Training charts: curves, the per-layer gradient heatmap, per-layer lines, per-block bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..store import LayerSeries

Series = tuple[np.ndarray, np.ndarray]  # (steps, values)

MARKER_COLOURS = {"diverged": "#d62728", "stopped": "#7f7f7f", "skip": "#9467bd", "lr": "#ff7f0e"}


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``step`` with a short label (divergence, a live skip change, …)."""

    step: int
    label: str
    kind: str = "diverged"


def smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Bias-corrected exponential moving average (TensorBoard's smoothing); NaNs pass through
    without poisoning what follows."""
    out = np.full(len(values), np.nan)
    avg, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if not np.isfinite(v):
            continue
        avg = weight * avg + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = avg / norm
    return out


def _layout(fig: go.Figure, title: str, y_title: str, *, log_y: bool = False, height: int = 320):
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        hovermode="closest",  # "x unified" costs the browser noticeably more per redraw
        uirevision="keep",  # keep zoom/pan across live updates
    )
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear")
    return fig


def _add_markers(fig: go.Figure, markers: Sequence[Marker]) -> None:
    for m in markers:
        fig.add_vline(
            x=m.step,
            line={"color": MARKER_COLOURS.get(m.kind, "#333"), "dash": "dash", "width": 1.5},
            annotation_text=m.label,
            annotation_position="top left",
        )


def line_figure(
    lines: Mapping[str, Series],
    *,
    title: str,
    y_title: str,
    log_y: bool = False,
    markers: Sequence[Marker] = (),
    faint: Mapping[str, Series] | None = None,
    right: Mapping[str, Series] | None = None,
    right_title: str = "",
    height: int = 320,
) -> go.Figure:
    """One line per entry of ``lines``; ``faint`` adds thin, pale traces (e.g. raw per-batch
    values under their moving average); ``right`` adds lines on a second y axis."""
    fig = go.Figure()
    for name, (x, y) in (faint or {}).items():
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                opacity=0.3,
                line={"width": 1},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    for name, (x, y) in lines.items():
        mode = "lines+markers" if len(x) < 30 else "lines"
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode=mode))
    for name, (x, y) in (right or {}).items():
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines", yaxis="y2"))
    _add_markers(fig, markers)
    _layout(fig, title, y_title, log_y=log_y, height=height)
    if right:
        fig.update_layout(
            yaxis2={"title": {"text": right_title}, "overlaying": "y", "side": "right"},
            # Two axes make a narrow chart: a legend above would cover the title.
            legend={"orientation": "h", "y": -0.35, "yanchor": "top", "x": 0, "xanchor": "left"},
        )
    return fig


def grad_heatmap(
    series: LayerSeries,
    *,
    title: str = "Gradient L2 norm per layer",
    markers: Sequence[Marker] = (),
) -> go.Figure:
    """Layers × steps, log10 colour scale, first layer at the top (network order)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(np.where(series.values > 0, series.values, np.nan)).T
    fig = go.Figure(
        go.Heatmap(
            x=series.steps,
            y=list(series.layers),
            z=z,
            colorscale="Viridis",
            colorbar={"title": {"text": "log₁₀ ‖g‖"}},
            hovertemplate="step %{x}<br>%{y}<br>log₁₀ ‖g‖ = %{z:.2f}<extra></extra>",
        )
    )
    _add_markers(fig, markers)
    _layout(fig, title, "layer (input → output)", height=max(320, 14 * len(series.layers) + 120))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(hovermode="closest")
    return fig


def layer_lines(
    series: LayerSeries,
    layers: Sequence[str],
    *,
    title: str = "Gradient L2 norm, chosen layers",
    y_title: str = "‖g‖ (log scale)",
    markers: Sequence[Marker] = (),
) -> go.Figure:
    index = {name: i for i, name in enumerate(series.layers)}
    lines = {
        name: (series.steps, series.values[:, index[name]]) for name in layers if name in index
    }
    return line_figure(lines, title=title, y_title=y_title, log_y=True, markers=markers)


def block_bars(names: Sequence[str], values: np.ndarray, *, title: str, y_title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(names), y=values))
    _layout(fig, title, y_title)
    fig.update_xaxes(title_text="residual block (input → output)", type="category")
    return fig
