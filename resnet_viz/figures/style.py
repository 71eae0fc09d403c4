"""How a finished figure looks where it is shown: on Streamlit's light or dark theme, at a
laptop or on a projector. Builders draw for the light theme at laptop size; :func:`restyle`
adapts a figure to a :class:`Look` in place, so every builder stays one function of its data.

Streamlit's own plotly theme already follows light/dark for backgrounds, grids and the default
text colour. What it cannot know about are the colours a builder set itself: the near-black
ink (:data:`.colors.INK`) and the translucent white behind marker labels would vanish on a dark
background, so they are swapped for their dark-theme counterparts.

Presentation mode is for a projector at the back of a room: larger type everywhere (titles,
ticks, legends, marker labels, colour bars), thicker lines and larger markers, and text in full
black or white instead of Streamlit's grey.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import plotly.graph_objects as go

from .colors import INK, LABEL_BACKGROUND

DARK = {INK: "#e6e6e6", LABEL_BACKGROUND: "rgba(14,17,23,0.65)"}
PRESENT_FONT = 18  # px: the base size of every text in a figure, against plotly's 12
PRESENT_TITLE = 22
PRESENT_LINE = 3.5  # px: the least width of a line, against plotly's 2
PRESENT_MARKER = 10  # px: the least size of a marker, against plotly's 6
PRESENT_HEIGHT = 1.25  # taller plots: larger type must not squeeze the data
# Marker labels are placed by their builders for a size up to this (figures.training), so they
# grow less than the rest.
PRESENT_MARKER_LABEL = 14
MARKER_LABEL = "marker label"  # the name of those annotations
# A title at PRESENT_TITLE px in the narrowest chart of a row (~270 px) fits this many
# characters; longer ones wrap onto more lines rather than being cut off at the chart's edge.
PRESENT_TITLE_CHARS = 24
PRESENT_LEGEND_Y = -0.38  # of the plot's height: a legend below it starts no higher


@dataclass(frozen=True)
class Look:
    """Where a figure is shown: ``dark`` theme; ``present``: presentation mode."""

    dark: bool = False
    present: bool = False


def _swap(value, table: dict[str, str]):
    return table.get(value, value) if isinstance(value, str) else value


def restyle(fig: go.Figure, look: Look) -> go.Figure:
    """``fig`` adapted to ``look``, in place (and returned). Apply once per built figure."""
    if look == Look():
        return fig
    table = DARK if look.dark else {}
    for trace in fig.data:
        _restyle_trace(trace, table, look.present)
    for ann in fig.layout.annotations or ():
        ann.bgcolor = _swap(ann.bgcolor, table)
        ann.font.color = _swap(ann.font.color, table)
        if look.present and ann.name == MARKER_LABEL:
            ann.font.size = PRESENT_MARKER_LABEL
        elif look.present:
            ann.font.size = max(ann.font.size or 12, 12) * PRESENT_FONT / 12
    for shape in fig.layout.shapes or ():
        shape.line.color = _swap(shape.line.color, table)
        if look.present and shape.type == "line":
            shape.line.width = max(shape.line.width or 2, 2.5)
    if look.present:
        ink = "#ffffff" if look.dark else "#000000"
        # Streamlit's theme sets its own grey on axes and legends: name the colour on each.
        text = {"size": PRESENT_FONT, "color": ink}
        fig.update_layout(
            font=text,
            title_font={"size": PRESENT_TITLE, "color": ink},
            legend_font=text,
            height=round((fig.layout.height or 450) * PRESENT_HEIGHT),
        )
        fig.update_xaxes(tickfont=text, title_font=text)
        fig.update_yaxes(tickfont=text, title_font=text)
        _wrap_title(fig)
        if fig.layout.legend.orientation == "h" and (fig.layout.legend.y or 0) < 0:
            # Below the plot, clear of the larger tick labels and axis title.
            fig.layout.legend.y = min(fig.layout.legend.y, PRESENT_LEGEND_Y)
    return fig


def _wrap_title(fig: go.Figure) -> None:
    title = fig.layout.title.text
    if not title or "<br>" in title or len(title) <= PRESENT_TITLE_CHARS:
        return
    lines = textwrap.wrap(title, PRESENT_TITLE_CHARS)
    fig.layout.title.text = "<br>".join(lines)
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 80
    # Each extra line takes a line's height; the title's larger type takes some more.
    fig.layout.margin.t = top + round(PRESENT_TITLE * 1.4) * (len(lines) - 1) + PRESENT_TITLE
    # Hung from the top of the figure, so extra lines grow down into the margin made for them
    # (centred in the margin, a third line reached into the plot).
    fig.layout.title.update(yref="container", y=1, yanchor="top", pad={"t": 10})


def _restyle_trace(trace, table: dict[str, str], present: bool) -> None:
    line = getattr(trace, "line", None)
    if line is not None and "color" in line:
        line.color = _swap(line.color, table)
        if present and trace.type == "scatter" and line.width != 0:
            line.width = max(line.width or 2, PRESENT_LINE)
    marker = getattr(trace, "marker", None)
    if marker is not None and "color" in marker:
        marker.color = _swap(marker.color, table)
        if present and trace.type == "scatter" and isinstance(marker.size, int | float | None):
            marker.size = max(marker.size or 6, PRESENT_MARKER)
    if "fillcolor" in trace:
        trace.fillcolor = _swap(trace.fillcolor, table)
    if present and getattr(trace, "colorbar", None) is not None:
        trace.colorbar.tickfont.size = PRESENT_FONT
