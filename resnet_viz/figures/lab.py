"""Skip Lab charts: lesion study, gradient-flow summary, gradient shattering, layer responses.

Pure builders like :mod:`.training`: plain data in (the JSON the run store keeps for each
analysis), a plotly figure out. Members keep their colour from :func:`.training.member_colour`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..experiments.gradflow import GradFlow
from .axes import log_axis, step_axis
from .training import _layout, member_colour

# Legends with one entry per member go under the chart, where they cover no title.
LEGEND_BELOW = {"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0, "xanchor": "left"}


def _count_axis(first: int, last: int) -> dict:
    """Whole numbers from ``first`` to ``last`` (blocks, layers, lags): never 0.5 or −1."""
    axis = step_axis([first, last])
    return {**axis, "range": [axis["range"][0] - 0.3, axis["range"][1] + 0.3]}


def _layers(flows: Mapping[str, GradFlow]) -> int:
    return max((len(f.layers) for f in flows.values()), default=1)


def _colour(index: int | None, i: int) -> str:
    return member_colour(i if index is None else index)


def lesion_bars(
    results: Mapping[str, Mapping[str, Any]], *, colours: Mapping[str, int] | None = None
) -> go.Figure:
    """Accuracy after deleting each single block, one bar group per member, with each member's
    intact accuracy (dashed) and chance (grey). ``results``: member name → lesion payload."""
    colours = colours or {}
    fig = go.Figure()
    chance = None
    order: dict[str, tuple[int, ...]] = {}
    for i, (name, r) in enumerate(results.items()):
        labels = [
            f"{b} ↓" if down else b for b, down in zip(r["blocks"], r["downsampling"], strict=True)
        ]
        order |= {label: _block_key(label) for label in labels}
        colour = _colour(colours.get(name), i)
        fig.add_trace(
            go.Bar(
                x=labels,
                y=r["single"],
                name=f"{name}, one block deleted",
                marker_color=colour,
                hovertemplate="%{x} deleted: %{y:.1%}<extra>" + name + "</extra>",
            )
        )
        fig.add_hline(
            y=r["base_acc"],
            line={"color": colour, "dash": "dash", "width": 1.5},
            annotation_text=f"{name} intact {r['base_acc']:.0%}",
            # Alternate sides: members often end with similar accuracy.
            annotation_position="top right" if i % 2 == 0 else "top left",
        )
        chance = r["chance"]
    if chance is not None:
        _chance_line(fig, chance)
    _layout(fig, "Deleting one block (Veit et al. 2016)", "validation accuracy")
    fig.update_xaxes(
        title_text="deleted block (↓ = downsampling)",
        type="category",
        categoryorder="array",
        categoryarray=sorted(order, key=order.get),  # network order across members' depths
    )
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_layout(barmode="group", hovermode="closest", legend=LEGEND_BELOW, height=400)
    return fig


def _chance_line(fig: go.Figure, chance: float) -> None:
    """Chance accuracy as a dotted line named in the legend: a label on the line sat on the
    bars or the curves' last points, which fall to chance."""
    style = {"color": "#7f7f7f", "dash": "dot", "width": 1.5}
    fig.add_hline(y=chance, line=style)
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="lines", line=style, name=f"chance ({chance:.0%})")
    )


def _block_key(label: str) -> tuple[int, ...]:
    """``layer2.10 ↓`` → (2, 10): sort block names by stage, then position."""
    name = label.split()[0]
    return tuple(int(part) for part in name.removeprefix("layer").split(".") if part.isdigit())


def lesion_curve(
    results: Mapping[str, Mapping[str, Any]], *, colours: Mapping[str, int] | None = None
) -> go.Figure:
    """Accuracy after deleting ``k`` random blocks (mean ± std over the draws), per member."""
    colours = colours or {}
    fig = go.Figure()
    chance = None
    for i, (name, r) in enumerate(results.items()):
        ks = [0, *r["ks"]]
        mean = [r["base_acc"], *r["k_mean"]]
        std = [0.0, *r["k_std"]]
        fig.add_trace(
            go.Scatter(
                x=ks,
                y=mean,
                name=name,
                mode="lines+markers",
                error_y={"type": "data", "array": std, "visible": True},
                line={"color": _colour(colours.get(name), i)},
            )
        )
        chance = r["chance"]
    if chance is not None:
        _chance_line(fig, chance)
    _layout(fig, "Deleting k random blocks", "validation accuracy")
    most = max((max(r["ks"], default=0) for r in results.values()), default=0)
    fig.update_xaxes(title_text="blocks deleted", **_count_axis(0, most))
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_layout(legend=LEGEND_BELOW, height=400)
    return fig


def grad_flow(
    flows: Mapping[str, GradFlow], *, colours: Mapping[str, int] | None = None
) -> go.Figure:
    """Per-layer gradient norm at the start, middle and end of training: one panel per phase,
    one line per member (x: layer position, input → output; log y)."""
    colours = colours or {}
    phases = ("start", "middle", "end")
    fig = make_subplots(
        rows=1,
        cols=3,
        shared_yaxes=True,
        subplot_titles=[p.capitalize() for p in phases],
        horizontal_spacing=0.03,
    )
    for i, (name, flow) in enumerate(flows.items()):
        colour = _colour(colours.get(name), i)
        for col, phase in enumerate(phases, start=1):
            first, last = flow.steps[phase]
            fig.add_trace(
                go.Scatter(
                    x=list(range(len(flow.layers))),
                    y=flow.norms[phase],
                    customdata=list(flow.layers),
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colour},
                    hovertemplate=(
                        f"{name}<br>%{{customdata}}<br>‖g‖ %{{y:.3g}}<br>steps {first}–{last}"
                        "<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
    _layout(fig, "Gradient flow: median ‖g‖ per layer", "‖g‖ (log scale)", height=400)
    fig.update_layout(margin={"t": 70}, legend=LEGEND_BELOW)  # room for the panel titles
    norms = [f.norms[p] for f in flows.values() for p in phases]
    fig.update_yaxes(**log_axis(*norms), title_text=None)
    fig.update_yaxes(title_text="‖g‖ (log scale)", row=1, col=1)  # the shared axis, once
    fig.update_xaxes(title_text="layer (input → output)", **_count_axis(0, _layers(flows) - 1))
    return fig


def shattering_by_depth(sweep: Mapping[str, Sequence[float]]) -> go.Figure:
    """Neighbour-gradient correlation at initialisation against depth, plain vs residual."""
    fig = go.Figure()
    for key, colour in (("plain", "#d62728"), ("residual", "#1f77b4")):
        fig.add_trace(
            go.Scatter(
                x=list(sweep["depth"]),
                y=list(sweep[key]),
                name=f"{key} (BN, at initialisation)",
                mode="lines+markers",
                line={"color": colour},
            )
        )
    _layout(fig, "Shattering: gradient correlation vs depth", "neighbour correlation")
    fig.update_xaxes(title_text="depth (layers)", type="log", tickvals=list(sweep["depth"]))
    fig.update_yaxes(range=[min(0.0, *sweep["plain"], *sweep["residual"]) - 0.05, 1.05])
    return fig


def shattering_lags(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    colours: Mapping[str, int] | None = None,
) -> go.Figure:
    """Correlation of input gradients ``k`` points apart along a line, per trained member:
    brown noise (slow decay) keeps structure, white noise (at once ~0) is shattered."""
    colours = colours or {}
    fig = go.Figure()
    for i, (name, c) in enumerate(curves.items()):
        fig.add_trace(
            go.Scatter(
                x=list(c["lags"]),
                y=list(c["corr"]),
                name=name,
                mode="lines+markers",
                line={"color": _colour(colours.get(name), i)},
            )
        )
    fig.add_hline(y=0, line={"color": "#7f7f7f", "width": 1})
    _layout(fig, "Gradient correlation along a line (trained)", "correlation")
    lags = max((max(c["lags"], default=1) for c in curves.values()), default=1)
    fig.update_xaxes(title_text="points apart", **_count_axis(1, lags))
    return fig


def block_lines(
    values: Mapping[str, tuple[Sequence[str], np.ndarray]],
    *,
    title: str = "Layer responses (He et al. 2015, Fig. 7)",
    y_title: str = "std of F(x)",
    colours: Mapping[str, int] | None = None,
) -> go.Figure:
    """A per-block statistic against the block's position, one line per member; by default the
    std of each block's residual-branch response (after its last BN, before the addition),
    He et al. (2015), Fig. 7."""
    colours = colours or {}
    fig = go.Figure()
    for i, (name, (blocks, vals)) in enumerate(values.items()):
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(blocks) + 1)),
                y=np.asarray(vals, dtype=float),
                customdata=list(blocks),
                name=name,
                mode="lines+markers",
                line={"color": _colour(colours.get(name), i)},
                hovertemplate="%{customdata}: %{y:.3g}<extra>" + name + "</extra>",
            )
        )
    _layout(fig, title, y_title)
    blocks = max((len(b) for b, _ in values.values()), default=1)
    fig.update_xaxes(title_text="block (input → output)", **_count_axis(1, blocks))
    return fig


def generalisation_bars(fits: Mapping[str, tuple[float, float]]) -> go.Figure:
    """Accuracy on the training images and on the validation images, side by side for each
    member (``fits``: name → (train, validation)), with the gap between them written above."""
    names = list(fits)
    train = [fits[n][0] for n in names]
    val = [fits[n][1] for n in names]
    fig = go.Figure()
    for label, ys, style, ink in (
        # Blue and orange: told apart with any colour vision. The labels are dark on the light
        # bar in either theme (not INK, which a dark theme turns light).
        ("training images (eval mode)", train, "#4c78a8", "white"),
        ("validation images", val, "#f5b26b", "#1f1f1f"),
    ):
        fig.add_trace(
            go.Bar(
                x=names, y=ys, name=label, marker={"color": style}, text=[f"{y:.1%}" for y in ys],
                textposition="inside", textfont={"color": ink, "size": 14},
                hovertemplate="%{x}: %{y:.1%}<extra>" + label + "</extra>",
            )
        )  # fmt: skip
    for name, t, v in zip(names, train, val, strict=True):
        fig.add_annotation(
            x=name, y=max(t, v), text=f"gap {100 * (t - v):.1f} points", showarrow=False,
            yanchor="bottom", yshift=4, font={"size": 13},
        )  # fmt: skip
    _layout(fig, "Training vs validation accuracy at the end", "accuracy")
    fig.update_xaxes(title_text=None, type="category")
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1.0])
    fig.update_layout(barmode="group", legend=LEGEND_BELOW)
    return fig
