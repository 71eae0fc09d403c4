"""Figure builders: pure functions from arrays to plotly figures. They never display anything;
pages hand the figures to ``st.plotly_chart``."""

from .training import (
    Marker,
    block_bars,
    grad_heatmap,
    layer_lines,
    line_figure,
    smooth,
)

__all__ = [
    "Marker",
    "block_bars",
    "grad_heatmap",
    "layer_lines",
    "line_figure",
    "smooth",
]
