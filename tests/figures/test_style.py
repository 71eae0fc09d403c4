"""A figure restyled for where it is shown: a dark theme swaps the colours a builder set for
the light one; presentation mode enlarges type and thickens lines, once, whatever it is given."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from resnet_viz.figures.colors import INK, LABEL_BACKGROUND
from resnet_viz.figures.style import (
    DARK,
    MARKER_LABEL,
    PRESENT_FONT,
    PRESENT_LEGEND_Y,
    PRESENT_LINE,
    PRESENT_MARKER,
    PRESENT_MARKER_LABEL,
    PRESENT_TITLE_CHARS,
    Look,
    restyle,
)
from resnet_viz.figures.training import Marker, grad_heatmap, line_figure, member_colour
from resnet_viz.store import LayerSeries


def _cohort() -> go.Figure:
    lines = {f"m{i}": (np.arange(1, 30), np.linspace(2, 1, 29)) for i in range(6)}
    styles = {f"m{i}": {"color": member_colour(i)} for i in range(6)}
    marker = Marker(10, "stage2 ×0", "skip")
    return line_figure(lines, title="Loss", y_title="loss", styles=styles, markers=[marker])


def test_the_default_look_leaves_a_figure_as_built():
    fig = _cohort()
    before = fig.to_json()
    assert restyle(fig, Look()).to_json() == before


def test_a_dark_theme_swaps_ink_and_label_backgrounds():
    fig = restyle(_cohort(), Look(dark=True))
    colours = [t.line.color for t in fig.data]
    assert INK not in colours and DARK[INK] in colours
    labels = [a for a in fig.layout.annotations if a.text == "stage2 ×0"]
    assert labels and labels[0].bgcolor == DARK[LABEL_BACKGROUND]
    assert "#1f77b4" in colours  # the other member colours read on both themes


def test_presentation_enlarges_type_lines_and_markers():
    built = _cohort()
    height = built.layout.height
    fig = restyle(built, Look(present=True))
    assert fig.layout.font.size == PRESENT_FONT and fig.layout.font.color == "#000000"
    assert fig.layout.xaxis.tickfont.size == PRESENT_FONT
    assert fig.layout.height > height
    drawn = [t for t in fig.data if t.x[0] is not None]
    assert all(t.line.width >= PRESENT_LINE for t in drawn)
    labels = [a for a in fig.layout.annotations if a.name == MARKER_LABEL]
    assert labels and all(a.font.size == PRESENT_MARKER_LABEL for a in labels)  # as placed
    assert all(a.font.size >= PRESENT_FONT for a in fig.layout.annotations if a not in labels)
    one = line_figure({"a": (np.array([1]), np.array([0.5]))}, title="t", y_title="y")
    one = restyle(one, Look(present=True))
    assert one.data[0].marker.size >= PRESENT_MARKER  # a single point is a marker
    dark = restyle(_cohort(), Look(dark=True, present=True))
    assert dark.layout.font.color == "#ffffff"


def test_heatmap_colour_bars_get_the_larger_type():
    series = LayerSeries(("conv1", "fc"), np.arange(1, 6), np.ones((5, 2), np.float32))
    fig = restyle(grad_heatmap(series), Look(present=True))
    assert fig.data[0].colorbar.tickfont.size == PRESENT_FONT


def test_presentation_wraps_a_long_title_instead_of_cutting_it_off():
    """At 22 px, "Loss (train smoothed, val dashed; log scale)" ran off its chart's edge."""
    long = line_figure({"a": (np.arange(3), np.ones(3))}, title="Loss (train smoothed, val "
                       "dashed; log scale)", y_title="y")  # fmt: skip
    top = long.layout.margin.t
    fig = restyle(long, Look(present=True))
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) > 1 and all(len(t) <= PRESENT_TITLE_CHARS for t in lines)
    assert " ".join(lines) == "Loss (train smoothed, val dashed; log scale)"
    assert fig.layout.margin.t > top  # room for the extra lines
    short = restyle(line_figure({"a": (np.arange(3), np.ones(3))}, title="Loss", y_title="y"),
                    Look(present=True))  # fmt: skip
    assert short.layout.title.text == "Loss"
    assert fig.layout.legend.y <= PRESENT_LEGEND_Y  # clear of the larger step-axis title
