"""Training charts: curves, the per-layer gradient heatmap, per-layer lines, per-block bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..store import Event, LayerSeries
from .axes import fraction_axis, log_axis, step_axis, zero_based_axis
from .colors import INK, LABEL_BACKGROUND
from .style import MARKER_LABEL

Series = tuple[np.ndarray, np.ndarray]  # (steps, values)

MARKER_COLOURS = {
    "diverged": "#d62728",
    "stopped": "#7f7f7f",
    "skip": "#9467bd",
    "lr": "#ff7f0e",
    "bn": "#2ca02c",
}
RIGHT_AXIS_COLOUR = "#8c8c8c"
# One colour per cohort member, the same on every chart: plotly's default colours minus the
# marker colours above (so a member's curve is never mistaken for an event line), ordered so
# that the first two, the usual pair, differ in hue and not only in shade.
MEMBER_COLOURS = ("#1f77b4", "#e377c2", "#bcbd22", "#8c564b", "#17becf", INK)


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


# What each kind of marker means, for the legend row that explains the line colours.
MARKER_NAMES = {
    "diverged": "diverged",
    "stopped": "stopped",
    "skip": "skip change",
    "lr": "learning-rate change",
    "bn": "BatchNorm change",
}
# Marker labels sit in up to this many rows at the top of a chart; a label that finds no room
# is shown as a small tick whose hover text holds it.
LABEL_ROWS = 3
LABEL_ROW_HEIGHT = 0.09  # of the plot's height
# Of the x axis' span, what one character of a label takes, roughly: charts sit three to a row,
# about 230 px of plot each, and a character of the label font is ~6.5 px at 11 px and ~8 px
# at the 14 px presentation mode gives it (figures.style): room for the larger.
LABEL_CHAR_WIDTH = 0.036


def _add_markers(
    fig: go.Figure, markers: Sequence[Marker], span: tuple[float, float], *, rows: int = LABEL_ROWS
) -> None:
    """A dashed line per marker; its label staggered into one of ``rows`` free rows at the top
    (never piled onto a neighbour's, never past either end of the axis; a label too long for
    either side of its line breaks at " · " onto two rows; ``rows=0``: every label on hover
    only, for charts whose top holds data), and one legend entry per kind of marker shown."""
    lo, hi = span
    width = max(hi - lo, 1e-9)
    taken: list[list[tuple[float, float]]] = [[] for _ in range(rows)]  # (start, end) on x

    def place(text: str, at: float) -> tuple[int, bool, tuple[float, float]] | None:
        """The first row (and side) where ``text`` fits, its lines in consecutive free rows."""
        lines = text.split("<br>")
        needs = max(len(t) for t in lines) * LABEL_CHAR_WIDTH * width
        sides = [(True, (at, at + needs)), (False, (at - needs, at))]
        for row in range(rows - len(lines) + 1):
            for right, extent in sides:
                inside = extent[0] >= lo - 1e-9 and extent[1] <= hi + 1e-9
                free = all(
                    extent[1] < a or extent[0] > b
                    for r in taken[row : row + len(lines)]
                    for a, b in r
                )
                if inside and free:
                    return row, right, extent
        return None

    for m in sorted(markers, key=lambda m: m.step):
        colour = MARKER_COLOURS.get(m.kind, INK)
        fig.add_vline(x=m.step, line={"color": colour, "dash": "dash", "width": 1.5})
        label = {
            "x": m.step,
            "xref": "x",
            "yref": "paper",
            "yanchor": "top",
            "showarrow": False,
            "hovertext": m.label,
            "font": {"size": 11, "color": colour},
            "name": MARKER_LABEL,
        }
        text, spot = m.label, place(m.label, m.step)
        if spot is None and " · " in m.label:
            text = m.label.replace(" · ", "<br>", 1)
            spot = place(text, m.step)
        if spot is None:  # no room: a tick at the top, the label on hover
            fig.add_annotation(**label, y=1, xanchor="center", text="▾")
            continue
        row, right, extent = spot
        for r in taken[row : row + len(text.split("<br>"))]:
            r.append(extent)
        fig.add_annotation(
            **label,
            y=1 - LABEL_ROW_HEIGHT * row,
            xanchor="left" if right else "right",
            align="left" if right else "right",
            text=text,
            bgcolor=LABEL_BACKGROUND,
        )
    for kind in dict.fromkeys(m.kind for m in markers):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=MARKER_NAMES.get(kind, kind),
                line={"color": MARKER_COLOURS.get(kind, INK), "dash": "dash", "width": 1.5},
                hoverinfo="skip",
            )
        )


def _mode(xs) -> str:
    """Few points are drawn as dots too, so that a single one is visible at all."""
    return "lines+markers" if len(xs) < 30 else "lines"


def line_figure(
    lines: Mapping[str, Series],
    *,
    title: str,
    y_title: str,
    y: str = "linear",
    x: str = "step",
    markers: Sequence[Marker] = (),
    faint: Mapping[str, Series] | None = None,
    right: Mapping[str, Series] | None = None,
    right_title: str = "",
    height: int = 320,
    styles: Mapping[str, Mapping] | None = None,
    legend_below: bool = False,
) -> go.Figure:
    """One line per entry of ``lines``; ``faint`` adds thin, pale traces (e.g. raw per-batch
    values under their moving average); ``right`` adds lines on a second y axis (never below
    zero: a rate). ``styles`` gives a trace's line (``{"color": …, "dash": …}``) by name.

    ``y``: ``"linear"`` (plotly's own range), ``"zero"`` (from 0: a loss, a rate), ``"log"``
    (whole decades, ticks at the powers of ten) or ``"fraction"`` (0–100 %). ``x``: ``"step"``
    (integer ticks from the first step drawn to the last) or ``"linear"``."""
    styles = styles or {}
    fig = go.Figure()
    for name, (xs, ys) in (faint or {}).items():
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode="lines",
                opacity=0.3,
                line={"width": 1, **styles.get(name, {})},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    for name, (xs, ys) in lines.items():
        fig.add_trace(
            go.Scatter(x=xs, y=ys, name=name, mode=_mode(xs), line=dict(styles.get(name, {})))
        )
    for name, (xs, ys) in (right or {}).items():
        # Grey and thin: a second axis' line must not be mistaken for, or hide, the first's.
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode=_mode(xs),
                yaxis="y2",
                opacity=0.7,
                line={"color": RIGHT_AXIS_COLOUR, "width": 1, "dash": "dot"},
                marker={"size": 4},
            )
        )
    _layout(fig, title, y_title, height=height)
    drawn = [*lines.values(), *(faint or {}).values(), *(right or {}).values()]
    if x == "step":
        xaxis = step_axis(*(np.asarray(xs) for xs, _ in drawn), *(m.step for m in markers))
        fig.update_xaxes(**xaxis)
        span = tuple(xaxis["range"])
    else:
        found = [float(v) for xs, _ in drawn for v in np.asarray(xs, dtype=float).ravel()]
        span = (min(found), max(found)) if found else (0.0, 1.0)
    _add_markers(fig, markers, span)
    values = [np.asarray(ys, dtype=float) for _, ys in [*lines.values(), *(faint or {}).values()]]
    if y == "log":
        fig.update_yaxes(**log_axis(*values))
    elif y == "fraction":
        fig.update_yaxes(**fraction_axis())
    elif y == "zero":
        fig.update_yaxes(**zero_based_axis(*values))
    if right:
        axis = zero_based_axis(*(np.asarray(ys, dtype=float) for _, ys in right.values()))
        fig.update_layout(
            yaxis2={
                "title": {"text": right_title},
                "overlaying": "y",
                "side": "right",
                "tickmode": "auto",  # its own round ticks, not the left axis' positions
                "nticks": 6,
                "showgrid": False,
                **axis,
            }
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
    _layout(fig, title, "layer (input → output)", height=max(320, 14 * len(series.layers) + 120))
    xaxis = step_axis(series.steps, [m.step for m in markers])
    fig.update_xaxes(**xaxis)
    # Labels would cover the first layers' rows: ticks at the top, the labels on hover (the
    # curves beside the heatmaps carry them written out).
    _add_markers(fig, markers, tuple(xaxis["range"]), rows=0)
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
    return line_figure(lines, title=title, y_title=y_title, y="log", markers=markers)


def block_bars(names: Sequence[str], values: np.ndarray, *, title: str, y_title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(names), y=values))
    _layout(fig, title, y_title)
    fig.update_xaxes(title_text="residual block (input → output)", type="category")
    return fig
