"""Training charts: curves, the per-layer gradient heatmap, per-layer lines, per-block bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..store import Event, LayerSeries

Series = tuple[np.ndarray, np.ndarray]  # (steps, values)

MARKER_COLOURS = {
    "diverged": "#d62728",
    "stopped": "#7f7f7f",
    "skip": "#9467bd",
    "lr": "#ff7f0e",
    "bn": "#2ca02c",
}
# One colour per cohort member, the same on every chart (plotly's default sequence, minus the
# marker colours above so a member's curve is never mistaken for an event line).
MEMBER_COLOURS = ("#1f77b4", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f")


def member_colour(index: int) -> str:
    return MEMBER_COLOURS[index % len(MEMBER_COLOURS)]


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``step`` with a short label (divergence, a live skip change, …)."""

    step: int
    label: str
    kind: str = "diverged"


MARKED = ("diverged", "stopped", "skip", "lr", "bn")


def event_markers(events: Sequence[Event], names: Sequence[str]) -> list[Marker]:
    """The events every chart marks: divergence, stop, and live skip / lr / BatchNorm changes,
    labelled with the member they concern when the run is a cohort."""
    markers = []
    for e in events:
        if e.kind not in MARKED:
            continue
        label = str(e.payload.get("label") or e.kind)
        if len(names) > 1:
            who = names[e.member] if e.member is not None and e.member < len(names) else "all"
            label = f"{label} · {who}"
        markers.append(
            Marker(e.step, f"{label} @ {e.step}" if e.kind in MARKED[:2] else label, e.kind)
        )
    return markers


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
        # Below the plot: a cohort's legend wraps onto several lines, and above the plot it
        # would cover the title. Plotly grows the bottom margin to fit it.
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0},
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
    styles: Mapping[str, Mapping] | None = None,
    legend_below: bool = False,
) -> go.Figure:
    """One line per entry of ``lines``; ``faint`` adds thin, pale traces (e.g. raw per-batch
    values under their moving average); ``right`` adds lines on a second y axis. ``styles``
    gives a trace's line (``{"color": …, "dash": …}``) by name, e.g. one colour per member."""
    styles = styles or {}
    fig = go.Figure()
    for name, (x, y) in (faint or {}).items():
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                opacity=0.3,
                line={"width": 1, **styles.get(name, {})},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    for name, (x, y) in lines.items():
        mode = "lines+markers" if len(x) < 30 else "lines"
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode=mode, line=dict(styles.get(name, {}))))
    for name, (x, y) in (right or {}).items():
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines", yaxis="y2"))
    _add_markers(fig, markers)
    _layout(fig, title, y_title, log_y=log_y, height=height)
    if right:
        fig.update_layout(
            yaxis2={"title": {"text": right_title}, "overlaying": "y", "side": "right"}
        )
    if right or legend_below:
        # Two axes make a narrow chart, and a cohort has many lines: a legend above would
        # cover the title.
        fig.update_layout(
            legend={"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0, "xanchor": "left"},
            height=height + 60,
        )
    return fig


def log_range(*series: LayerSeries) -> tuple[float, float] | None:
    """The log10 range of the positive values of several series: one colour scale for heatmaps
    shown side by side, so equal colours mean equal gradient norms."""
    values = [s.values[np.isfinite(s.values) & (s.values > 0)] for s in series]
    values = [v for v in values if v.size]
    if not values:
        return None
    both = np.log10(np.concatenate(values))
    return float(both.min()), float(both.max())


def grad_heatmap(
    series: LayerSeries,
    *,
    title: str = "Gradient L2 norm per layer",
    markers: Sequence[Marker] = (),
    zrange: tuple[float, float] | None = None,
) -> go.Figure:
    """Layers × steps, log10 colour scale, first layer at the top (network order); ``zrange``
    fixes the colour scale (see :func:`log_range`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(np.where(series.values > 0, series.values, np.nan)).T
    fixed = {"zmin": zrange[0], "zmax": zrange[1]} if zrange else {}
    fig = go.Figure(
        go.Heatmap(
            x=series.steps,
            y=list(series.layers),
            z=z,
            **fixed,
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
