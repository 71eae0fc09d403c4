"""Loss landscapes around trained weights (Li et al., "Visualizing the Loss Landscape of
Neural Nets", NeurIPS 2018): filter-normalised random directions and the loss on a grid of
points along them, and the sharpness of the minimum (Hessian eigenvalues and trace)."""

from .directions import filter_normalized_direction, same_shapes
from .hessian import (
    Sharpness,
    hutchinson_trace,
    sharpness,
    sharpness_record,
    spectrum,
    top_eigenvalue,
)
from .reading import Basin, basin, twins_reading
from .surface import grid, linear_path, loss_surface, loss_surface_loop

__all__ = [
    "Basin",
    "Sharpness",
    "basin",
    "filter_normalized_direction",
    "grid",
    "hutchinson_trace",
    "linear_path",
    "loss_surface",
    "loss_surface_loop",
    "same_shapes",
    "sharpness",
    "sharpness_record",
    "spectrum",
    "top_eigenvalue",
    "twins_reading",
]
