"""Looking inside a network: layer activations, residual anatomy, skips toggled at inference.

No streamlit here; ``resnet_viz.ui.activations`` (the Activations page's tabs) wires widgets to
these functions and to the figure builders in ``resnet_viz.figures.activations``.
"""

from .anatomy import SHORTCUT_KINDS, Anatomy, BlockStats, block_anatomy, block_stats
from .capture import Capture, Reduce, capture, forward_hooks, reduce_capture, require_eval
from .compare import (
    DEPTH_MEASURES,
    Inspection,
    chosen_scales,
    compare_skips,
    inspect,
    is_plain,
    off_label,
    per_block,
    response_depth,
    runs_before,
    skip_scales,
    stage_blocks,
    switched_off,
    top_classes,
    with_skips,
)
from .layers import Layer, block_label, first_block, pickable_layers
from .picture import VIEW_SIDE, view_picture

__all__ = [
    "DEPTH_MEASURES",
    "SHORTCUT_KINDS",
    "VIEW_SIDE",
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
    "chosen_scales",
    "compare_skips",
    "first_block",
    "forward_hooks",
    "inspect",
    "is_plain",
    "off_label",
    "per_block",
    "pickable_layers",
    "reduce_capture",
    "require_eval",
    "response_depth",
    "runs_before",
    "skip_scales",
    "stage_blocks",
    "switched_off",
    "top_classes",
    "view_picture",
    "with_skips",
]
