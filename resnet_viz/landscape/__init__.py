"""Loss landscapes around trained weights (Li et al., "Visualizing the Loss Landscape of
Neural Nets", NeurIPS 2018): filter-normalised random directions and the loss on a grid of
points along them, evaluated several points per forward pass."""

from .directions import filter_normalized_direction, same_shapes
from .surface import grid, loss_surface, loss_surface_loop

__all__ = [
    "filter_normalized_direction",
    "grid",
    "loss_surface",
    "loss_surface_loop",
    "same_shapes",
]
