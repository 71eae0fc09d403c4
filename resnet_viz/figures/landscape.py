"""Loss-landscape charts (Li et al. 2018): contour maps of each member's surface on one colour
scale, the same as a 3D surface, and the 1D slices through the trained point.

Input is the JSON the run store keeps (``keys.LANDSCAPE``): ``axis`` (the grid's coordinates
along each direction) and ``loss`` (``[i][j]``: i along direction 1, j along direction 2).
Losses far from the minimum run to hundreds while the basin is near 1, so colours and the
slices' axis are in log₁₀ of the loss: on a linear scale every basin would be one flat colour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .axes import log_axis
from .colors import INK, SEQUENTIAL
from .training import _layout, member_colour

Payload = Mapping[str, Any]


def log_range(payloads: Mapping[str, Payload]) -> tuple[float, float]:
    """One log₁₀ colour range for every member's surface, so equal colours mean equal loss."""
    values = np.concatenate([np.asarray(p["loss"], dtype=float).ravel() for p in payloads.values()])
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = math.log10(values.min()), math.log10(values.max())
    return (lo, hi) if hi > lo else (lo, lo + 1)


MAX_INNER_TICKS = 8  # a colour bar is ~300 px tall: more labels than this touch


def log_ticks(lo: float, hi: float) -> dict:
    """Ticks for an axis in log₁₀ loss, labelled in loss: both ends (the lowest loss is the one
    a class looks for) and powers of ten between them (every second or third one when the range
    spans many) that keep clear of an end by a twentieth of the bar."""
    span = hi - lo
    step = max(1, math.ceil(span / MAX_INNER_TICKS))
    clear = max(0.15, span / 20)
    first = math.ceil(lo / step) * step
    inner = [e for e in range(first, math.floor(hi) + 1, step) if min(e - lo, hi - e) > clear]
    vals = [lo, *inner, hi]
    return {"tickvals": vals, "ticktext": [f"{10.0**v:.3g}" for v in vals]}


def _colourbar(lo: float, hi: float) -> dict:
    return {"title": {"text": "loss"}, **log_ticks(lo, hi)}


def _loss_map(
    x: Any,
    y: Any,
    loss: Any,
    zrange: tuple[float, float],
    scale: bool,
    axes: tuple[str, str],
    name: str,
) -> go.Contour:
    """One member's loss on a grid (``loss[i][j]`` at ``x[i]``, ``y[j]``) as a contour map in
    log₁₀ loss on the shared ``zrange``, hover in loss; ``scale``: draw the colour bar."""
    values = np.asarray(loss, dtype=float)
    lo, hi = zrange
    return go.Contour(
        x=x,
        y=y,
        z=np.log10(np.clip(values, 1e-12, None)).T,  # rows of z are y, columns x
        zmin=lo,
        zmax=hi,
        colorscale=SEQUENTIAL,
        ncontours=20,
        contours={"coloring": "heatmap"},
        showscale=scale,
        colorbar=_colourbar(lo, hi),
        customdata=values.T,
        hovertemplate=f"{axes[0]} %{{x:.2f}}, {axes[1]} %{{y:.2f}}: loss %{{customdata:.3g}}"
        f"<extra>{name}</extra>",
        name=name,
    )


def contours(payloads: Mapping[str, Payload], *, height: int = 380) -> go.Figure:
    """One contour map per member, side by side, on one log colour scale; the trained point
    (the centre) marked with a cross."""
    names = list(payloads)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names or [""])
    lo, hi = log_range(payloads) if payloads else (0.0, 1.0)
    for k, name in enumerate(names, start=1):
        p = payloads[name]
        fig.add_trace(
            _loss_map(p["axis"], p["axis"], p["loss"], (lo, hi), k == len(names), ("δ₁", "δ₂"),
                      name),
            row=1, col=k,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[0],
                y=[0],
                mode="markers",
                # White with a dark outline: seen on the dark basin and in the legend alike.
                marker={
                    "symbol": "x",
                    "size": 11,
                    "color": "white",
                    "line": {"width": 1.5, "color": INK},
                },
                name="trained weights",
                showlegend=k == 1,
                hoverinfo="skip",
            ),
            row=1,
            col=k,
        )
        fig.update_xaxes(title_text="direction 1", row=1, col=k)
        fig.update_yaxes(title_text="direction 2" if k == 1 else None, row=1, col=k)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.25, "x": 0},
    )
    return fig


def surface3d(payload: Payload, *, name: str, zrange: tuple[float, float]) -> go.Figure:
    """One member's surface in 3D (height and colour: log₁₀ loss, labelled in loss)."""
    axis = payload["axis"]
    z = np.log10(np.clip(np.asarray(payload["loss"], dtype=float), 1e-12, None)).T
    fig = go.Figure(
        go.Surface(
            x=axis,
            y=axis,
            z=z,
            cmin=zrange[0],
            cmax=zrange[1],
            colorscale=SEQUENTIAL,
            colorbar=_colourbar(*zrange),
            customdata=np.asarray(payload["loss"], dtype=float).T,
            hovertemplate="δ₁ %{x:.2f}, δ₂ %{y:.2f}: loss %{customdata:.3g}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": name, "x": 0, "xanchor": "left"},
        height=420,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        scene={
            "xaxis_title": "direction 1",
            "yaxis_title": "direction 2",
            "zaxis": {"title": "loss", "range": list(zrange), **log_ticks(*zrange)},
        },
    )
    return fig


def slices(payloads: Mapping[str, Payload], *, colours: Mapping[str, int] | None = None):
    """The loss along each direction through the trained point (the grid's middle row and
    column): solid along direction 1, dotted along direction 2, one colour per member."""
    colours = colours or {}
    fig = go.Figure()
    values = []
    for i, (name, p) in enumerate(payloads.items()):
        colour = member_colour(colours.get(name, i))
        for key, dash, label in (
            ("slice_1", "solid", "direction 1"),
            ("slice_2", "dot", "direction 2"),
        ):
            ys = np.asarray(p[key], dtype=float)
            values.append(ys)
            fig.add_trace(
                go.Scatter(
                    x=p["axis"],
                    y=ys,
                    mode="lines+markers",
                    name=f"{name}, {label}",
                    line={"color": colour, "dash": dash},
                    marker={"size": 5},
                )
            )
    _layout(fig, "Loss along each direction, through the trained weights", "loss (log scale)")
    fig.update_xaxes(title_text="distance along the direction (filter-normalised units)")
    fig.update_yaxes(**log_axis(*values))
    fig.update_layout(legend={"orientation": "h", "y": -0.3, "x": 0}, height=380)
    return fig


def linear_path(payloads: Mapping[str, Payload], *, colours: Mapping[str, int] | None = None):
    """The loss along the straight line from each member's initial weights (α = 0) to its
    trained ones (α = 1), a little beyond both (Goodfellow et al. 2015)."""
    colours = colours or {}
    fig = go.Figure()
    values = []
    for i, (name, p) in enumerate(payloads.items()):
        ys = np.asarray(p["path"]["loss"], dtype=float)
        values.append(ys)
        fig.add_trace(
            go.Scatter(
                x=p["path"]["alpha"],
                y=ys,
                mode="lines",
                name=name,
                line={"color": member_colour(colours.get(name, i))},
            )
        )
    for at, label in ((0, "initial"), (1, "trained")):
        fig.add_vline(x=at, line={"color": "#7f7f7f", "dash": "dot", "width": 1})
        fig.add_annotation(
            x=at, y=1, yref="paper", text=label, showarrow=False, yanchor="bottom",
            font={"size": 11},
        )  # fmt: skip
    _layout(fig, "From the initial weights to the trained ones", "loss (log scale)")
    fig.update_xaxes(title_text="α: weights (1 − α)·initial + α·trained")
    fig.update_yaxes(**log_axis(*values))
    fig.update_layout(legend={"orientation": "h", "y": -0.3, "x": 0}, height=360)
    return fig


def trajectory(payloads: Mapping[str, Payload], *, height: int = 400) -> go.Figure:
    """Each member's training path on its own PCA plane (Li et al. 2018, §7), over the loss in
    that plane on one log colour scale: a marker per kept snapshot (hover: its step), the
    initial weights as a circle, the trained ones as a cross at the origin."""
    names = list(payloads)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names or [""])
    lo, hi = log_range(payloads) if payloads else (0.0, 1.0)
    for k, name in enumerate(names, start=1):
        p = payloads[name]
        fig.add_trace(
            _loss_map(p["x"], p["y"], p["loss"], (lo, hi), k == len(names), ("PC 1", "PC 2"),
                      name),
            row=1, col=k,
        )  # fmt: skip
        xs, ys = zip(*p["points"], strict=True)
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines+markers", customdata=p["steps"],
                line={"color": "white", "width": 2},
                marker={"size": 6, "color": "white", "line": {"width": 1, "color": INK}},
                name="training path", showlegend=k == 1,
                hovertemplate="step %{customdata}<extra></extra>",
            ),
            row=1, col=k,
        )  # fmt: skip
        for at, symbol, label in ((0, "circle", "initial weights"), (-1, "x", "trained weights")):
            fig.add_trace(
                go.Scatter(
                    x=[xs[at]], y=[ys[at]], mode="markers", name=label, showlegend=k == 1,
                    marker={"symbol": symbol, "size": 12, "color": "white",
                            "line": {"width": 1.5, "color": INK}},
                    hoverinfo="skip",
                ),
                row=1, col=k,
            )  # fmt: skip
        one, two = p["explained"]
        fig.update_xaxes(title_text=f"PC 1 · {one:.0%} of the path's variance", row=1, col=k)
        fig.update_yaxes(title_text=f"PC 2 · {two:.0%}", row=1, col=k)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.3, "x": 0},
    )
    return fig
