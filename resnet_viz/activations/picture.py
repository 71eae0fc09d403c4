"""The picture a page shows next to a model's activations."""

from __future__ import annotations

import numpy as np
from PIL import Image

VIEW_SIDE = 320  # the picture is drawn at least this big


def view_picture(seen: Image.Image, min_side: int = VIEW_SIDE) -> np.ndarray:
    """``seen``, a square picture as the model sees it, enlarged for display (to ``min_side``
    at least) so that a 32×32 input is not a smudge."""
    side = max(min_side, *seen.size)
    return np.asarray(seen.resize((side, side), Image.Resampling.BICUBIC))
