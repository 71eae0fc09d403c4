"""Looking inside a network: layer activations, residual anatomy, skips toggled at inference.

No streamlit here; ``pages/activations.py`` wires widgets to these functions and to the figure
builders in ``resnet_viz.figures.activations``.
"""

from .anatomy import SHORTCUT_KINDS, Anatomy, BlockStats, block_anatomy, block_stats
from .capture import Capture, Reduce, capture, forward_hooks, reduce_capture, require_eval
from .compare import (
    Inspection,
    compare_skips,
    inspect,
    response_depth,
    skip_scales,
    top_classes,
    with_skips,
)
from .layers import Layer, block_label, pickable_layers

__all__ = [
    "SHORTCUT_KINDS",
    "Anatomy",
    "BlockStats",
    "Capture",
    "Inspection",
    "Layer",
    "Reduce",
    "block_anatomy",
    "block_label",
    "block_stats",
    "capture",
    "compare_skips",
    "forward_hooks",
    "inspect",
    "pickable_layers",
    "reduce_capture",
    "require_eval",
    "response_depth",
    "skip_scales",
    "top_classes",
    "with_skips",
]
