"""Activation figures: feature-map grids, channel statistics, histograms, overlays, the residual
anatomy panel, response strength across depth, and top-5 bars. Pure: arrays in, figures or
arrays out.

Colour scales come from :mod:`.colors`: values that can be negative (convolution and BN outputs,
F(x)) get its diverging scale centred on 0, non-negative ones (after a ReLU) its sequential one;
panels share a scale only when their values are in the same units and are compared directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from ..activations import Anatomy, Capture
from .axes import log_axis, zero_based_axis
from .colors import (  # noqa: F401  (DIVERGING is re-exported)
    DIVERGING,
    SEQUENTIAL,
    blend,
    colour_index,
    colour_table,
    heatmap_scale,
)

GRID_WIDTH_PX = 460  # a feature grid's usual plot width in the page's wide layout


def _image_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_yaxes(
        showticklabels=False, showgrid=False, zeroline=False, ticks="", autorange="reversed"
    )  # row 0 at the top, as in the image


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hovermode="closest",
    )
    return fig


def tile(maps: np.ndarray, cols: int, *, gap: int = 1) -> np.ndarray:
    """k×h×w maps → one (rows·(h+gap)−gap)×(cols·(w+gap)−gap) array, NaN between tiles."""
    k, h, w = maps.shape
    cols = max(1, min(cols, k))
    rows = -(-k // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = maps[i]
    return out


def feature_grid(
    maps: np.ndarray,
    channels: Sequence[int],
    *,
    cols: int | None = None,
    per_channel: bool = False,
    title: str = "Feature maps",
) -> go.Figure:
    """One tile per channel (k×h×w ``maps``, labelled with their ``channels``), in one heatmap.

    With ``per_channel`` each tile is stretched to its own min…max (patterns in weak channels
    become visible, magnitudes are no longer comparable); otherwise all tiles share one scale.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if per_channel:
        lo = maps.min((1, 2), keepdims=True)
        span = maps.max((1, 2), keepdims=True) - lo
        maps = np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.0)
    k, h, w = maps.shape
    cols = max(1, min(cols or math.ceil(math.sqrt(k)), k))  # near-square grid by default
    z = tile(maps, cols)
    fig = go.Figure(_heatmap(z, "per-channel min → max" if per_channel else "activation"))
    label = {
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "top",
        "font": {"size": 10, "color": "white"},
        "bgcolor": "rgba(0,0,0,0.45)",
    }
    fig.update_layout(  # all at once: one add_annotation call each costs ~3 ms
        annotations=[
            {"x": c * (w + 1) - 0.5, "y": r * (h + 1) - 0.5, "text": f"{channel}", **label}
            for (r, c), channel in ((divmod(i, cols), ch) for i, ch in enumerate(channels))
        ]
    )
    _image_axes(fig)
    fig.update_yaxes(scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    # Pixels are square, so the height follows the grid's aspect at a typical plot width.
    aspect = z.shape[0] / z.shape[1]
    return _layout(fig, title, height=int(min(900, max(240, 80 + GRID_WIDTH_PX * aspect))))


def channel_table(cap: Capture, image: int = 0) -> dict[str, np.ndarray]:
    """Per-channel statistics of the full layer output, as columns for a table."""
    return {
        "channel": np.arange(cap.num_channels),
        "mean": cap.mean[image].numpy(),
        "std": cap.std[image].numpy(),
        "min": cap.min[image].numpy(),
        "max": cap.max[image].numpy(),
        "active (> 0)": cap.active[image].numpy(),
    }


def histogram(
    counts: np.ndarray, edges: np.ndarray, *, title: str = "Activations", log_y: bool = True
) -> go.Figure:
    """Pre-binned histogram (bars); log counts by default, since after a ReLU one bin at 0 holds
    most values."""
    counts, edges = np.asarray(counts, dtype=float), np.asarray(edges, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Bar(
            x=centres,
            y=counts,
            width=np.diff(edges),
            marker={"line": {"width": 0}},
            hovertemplate="%{x:.3g}: %{y:,} values<extra></extra>",
        )
    )
    _layout(fig, title, height=300)
    fig.update_xaxes(title_text="activation value")
    if log_y:  # whole decades from a count of 1, ticks at the powers of ten
        fig.update_yaxes(title_text="count (log)", **log_axis(counts[counts > 0], [1.0]))
    else:
        fig.update_yaxes(title_text="count", **zero_based_axis(counts))
    fig.update_layout(bargap=0)
    return fig


def channel_overlay(
    image: np.ndarray, channel_map: np.ndarray, *, alpha: float = 0.55
) -> np.ndarray:
    """``channel_map`` (h×w) upsampled bilinearly to ``image`` (H×W×3 uint8), min–max scaled,
    coloured with Viridis and blended over the image; H×W×3 uint8."""
    image = np.asarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    up = Image.fromarray(np.asarray(channel_map, dtype=np.float32)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    values = np.asarray(up, dtype=np.float32)
    lo, hi = float(values.min()), float(values.max())
    norm = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    colour = colour_table(SEQUENTIAL)[colour_index(norm)].astype(np.float32)
    return blend(image, colour, alpha)


@dataclass(frozen=True)
class LayerFigures:
    """Everything the page shows for one layer of one image."""

    grid: go.Figure
    table: dict[str, np.ndarray]
    histogram: go.Figure
    channel: int  # the channel shown large
    overlay: np.ndarray  # that channel over the image, H×W×3 uint8


def layer_figures(
    cap: Capture,
    image: np.ndarray,
    *,
    channel: int | None = None,
    index: int = 0,
    cols: int | None = None,
    per_channel: bool = False,
    title: str | None = None,
    ranked: bool = True,
) -> LayerFigures:
    """Grid of the kept channels, statistics table, histogram and one channel (default: the
    first kept, i.e. the strongest) over ``image`` (the picture the model saw, H×W×3 uint8), for
    image ``index`` of the captured batch. ``ranked``: the kept channels are the strongest
    (else a page of them in index order, and the title says which)."""
    kept = cap.channels.tolist()
    channel = kept[0] if channel is None or channel not in kept else channel
    maps = cap.maps[index].numpy()
    n = cap.num_channels
    if len(kept) == n or ranked:
        heading = (
            f"{cap.name}: {len(kept)} of {n} channels ({'all' if len(kept) == n else 'strongest'})"
        )
    else:  # a page of them, in index order
        heading = f"{cap.name}: channels {kept[0]}–{kept[-1]} of {n}"
    grid = feature_grid(
        maps,
        kept,
        cols=cols,
        per_channel=per_channel,
        title=title or heading,
    )
    hist = histogram(
        cap.hist_counts[index].numpy(),
        cap.hist_edges[index].numpy(),
        title=f"All {int(np.prod(cap.shape[1:])):,} values of {cap.name}",
    )
    overlay = channel_overlay(image, maps[kept.index(channel)])
    return LayerFigures(grid, channel_table(cap, index), hist, channel, overlay)


def anatomy_figure(anatomy: Anatomy, channel: int | None = None) -> go.Figure:
    """x | F(x) | s·shortcut(x) | ReLU(F(x) + s·shortcut(x)), channel-averaged or one channel.

    F(x), the skip term and the output are added/compared pointwise, so they share one colour
    scale. x shares it too when the shortcut carries x itself (identity or zero-pad) and the panel
    shows the matching channel; after a projection x is in other units and gets its own.
    """
    s, b = anatomy.skip_scale, anatomy.branch_scale
    # Scaling commutes with the channel mean: scale the 2-D maps, not the full tensors.
    x_all, f, sc, out = (
        t.numpy() for t in (anatomy.x, anatomy.residual, anatomy.shortcut, anatomy.output)
    )
    if channel is None:
        x, pieces = x_all.mean(0), [b * f.mean(0), s * sc.mean(0), out.mean(0)]
        x_label, x_shared = "input x (mean of channels)", anatomy.kind != "projection"
    else:
        source = anatomy.input_channel(channel)
        pieces = [b * f[channel], s * sc[channel], out[channel]]
        if source is None:
            x, x_shared = x_all.mean(0), False
            x_label = "input x (mean of channels)"
        else:
            x, x_shared = x_all[source], True
            x_label = f"input x, channel {source}"
    arrays = [x, *pieces]
    titles = [
        x_label,
        "F(x)" if b == 1 else f"{b:g}·F(x)",
        "skip off (s = 0)" if s == 0 else ("shortcut(x)" if s == 1 else f"{s:g}·shortcut(x)"),
        "output = ReLU(sum)",
    ]
    shown = arrays if x_shared else arrays[1:]
    shared = heatmap_scale(np.concatenate([a.ravel() for a in shown]))
    layout = _panels(titles, right=0.93)
    layout["coloraxis"] = _coloraxis(shared, "value", x=0.94)
    if not x_shared:  # x's own scale: a horizontal bar under its panel
        bar = {"orientation": "h", "x": 0.11, "xanchor": "center", "y": -0.12, "len": 0.22}
        layout["coloraxis2"] = _coloraxis(heatmap_scale(arrays[0]), "x", **bar)
    data = [
        go.Heatmap(
            z=z,
            xaxis=f"x{i + 1}",
            yaxis=f"y{i + 1}",
            coloraxis="coloraxis2" if i == 0 and not x_shared else "coloraxis",
            hovertemplate="%{z:.3g}<extra></extra>",
        )
        for i, z in enumerate(arrays)
    ]
    which = "mean over channels" if channel is None else f"channel {channel}"
    title = f"{anatomy.block}: ‖F(x)‖/‖x‖ = {anatomy.ratio:.3f} · {which}"
    return _layout(go.Figure(data, layout), title, height=300)


def _heatmap(z: np.ndarray, label: str) -> go.Heatmap:
    """Tiles ``z`` on their own colour scale (diverging about 0 when any is negative)."""
    scale = heatmap_scale(z)
    return go.Heatmap(
        z=z,
        colorscale=scale["colorscale"],
        zmin=scale["cmin"],
        zmax=scale["cmax"],
        colorbar={"title": {"text": label}},
        hovertemplate="%{z:.3g}<extra></extra>",
    )


def _coloraxis(scale: dict, label: str, **colorbar) -> dict:
    return {
        "colorscale": scale["colorscale"],
        "cmin": scale["cmin"],
        "cmax": scale["cmax"],
        "colorbar": {"title": {"text": label}, **colorbar},
    }


def _panels(titles: Sequence[str], *, right: float = 1.0, gap: float = 0.03) -> dict:
    """Layout for image panels side by side (axes x1/y1 … xn/yn, square pixels, row 0 on top),
    titled like make_subplots does, built in one go: make_subplots alone costs ~30 ms."""
    n = len(titles)
    width = (right - gap * (n - 1)) / n
    layout: dict = {"annotations": []}
    hidden = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
    for i, text in enumerate(titles):
        left = i * (width + gap)
        layout[f"xaxis{i + 1}"] = {
            "domain": [left, left + width],
            "anchor": f"y{i + 1}",
            "constrain": "domain",
            **hidden,
        }
        layout[f"yaxis{i + 1}"] = {
            "anchor": f"x{i + 1}",
            "scaleanchor": f"x{i + 1}",
            "constrain": "domain",
            "autorange": "reversed",
            **hidden,
        }
        layout["annotations"].append(
            {
                "text": text,
                "x": left + width / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
            }
        )
    return layout


def depth_lines(
    names: Sequence[str],
    series: Mapping[str, np.ndarray],
    *,
    title: str,
    y_title: str,
    log_y: bool = False,
) -> go.Figure:
    """One line per entry of ``series`` over the residual blocks (input → output)."""
    fig = go.Figure()
    for label, values in series.items():
        fig.add_trace(
            go.Scatter(
                x=list(names), y=np.asarray(values, dtype=float), name=label, mode="lines+markers"
            )
        )
    _layout(fig, title, height=320)
    fig.update_xaxes(title_text="residual block (input → output)", type="category")
    values = [np.asarray(v, dtype=float) for v in series.values()]
    fig.update_yaxes(title_text=y_title, **(log_axis(*values) if log_y else {}))
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1}
    )
    return fig


def compare_grid(
    maps: Sequence[np.ndarray],
    labels: Sequence[str],
    channels: Sequence[int],
    *,
    title: str = "Same layer, two images",
) -> go.Figure:
    """The same ``channels`` for several images (one row each, k×h×w arrays) in one heatmap, on
    one shared scale so that a brighter tile really is a stronger response."""
    maps = [np.asarray(m, dtype=np.float32) for m in maps]
    k, h, w = maps[0].shape
    z = tile(np.concatenate(maps), k)
    fig = go.Figure(_heatmap(z, "activation"))
    fig.update_layout(
        annotations=[
            {
                "x": c * (w + 1) + (w - 1) / 2,
                "y": -0.5,
                "text": f"ch {channel}",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"size": 10},
            }
            for c, channel in enumerate(channels)
        ]
    )
    _image_axes(fig)
    fig.update_yaxes(
        scaleanchor="x",
        constrain="domain",
        showticklabels=True,
        tickvals=[r * (h + 1) + (h - 1) / 2 for r in range(len(maps))],
        ticktext=list(labels),
    )
    fig.update_xaxes(constrain="domain")
    aspect = z.shape[0] / z.shape[1]
    return _layout(fig, title, height=int(min(700, max(200, 110 + GRID_WIDTH_PX * aspect))))


def channel_scatter(
    means: Sequence[np.ndarray], labels: Sequence[str], *, title: str = "Mean per channel"
) -> go.Figure:
    """Every channel's mean activation for image A (x) against image B (y); points on the
    diagonal respond alike to both images."""
    a, b = (np.asarray(m, dtype=float) for m in means)
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    fig = go.Figure(
        [
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                line={"dash": "dot", "color": "#999"},
                name="equal",
                hoverinfo="skip",
            ),
            go.Scatter(
                x=a,
                y=b,
                mode="markers",
                name="channels",
                text=[f"channel {i}" for i in range(len(a))],
                hovertemplate="%{text}<br>%{x:.3g} vs %{y:.3g}<extra></extra>",
            ),
        ]
    )
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    _layout(fig, f"{title} · correlation {corr:.2f}", height=320)
    fig.update_xaxes(title_text=labels[0])
    fig.update_yaxes(title_text=labels[1])
    fig.update_layout(showlegend=False)
    return fig


def top_bars(predictions: Mapping[str, tuple[Sequence[str], Sequence[float]]]) -> go.Figure:
    """Side-by-side top-k bars, one panel per model (``{"unchanged": (classes, probs), …}``),
    most likely class at the top, probabilities on one 0–1 axis."""
    fig = make_subplots(
        rows=1, cols=len(predictions), subplot_titles=list(predictions), horizontal_spacing=0.15
    )
    for i, (label, (classes, probs)) in enumerate(predictions.items()):
        fig.add_trace(
            go.Bar(
                x=list(probs)[::-1],
                y=list(classes)[::-1],
                orientation="h",
                name=label,
                text=[f"{p:.1%}" for p in list(probs)[::-1]],
                textposition="auto",
                hovertemplate="%{y}: %{x:.1%}<extra></extra>",
            ),
            1,
            i + 1,
        )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(showlegend=False)
    return _layout(fig, "Top-5 prediction", height=280)
