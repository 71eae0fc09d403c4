"""The picture shown next to the activations: enlarged, never shrunk, still square."""

from __future__ import annotations

import numpy as np
from PIL import Image

from resnet_viz.activations import VIEW_SIDE, view_picture


def test_a_small_input_is_enlarged_for_display():
    seen = Image.new("RGB", (32, 32), (200, 30, 30))
    shown = view_picture(seen)
    assert shown.shape == (VIEW_SIDE, VIEW_SIDE, 3) and shown.dtype == np.uint8
    assert tuple(shown[VIEW_SIDE // 2, VIEW_SIDE // 2]) == (200, 30, 30)
    assert view_picture(seen, min_side=64).shape == (64, 64, 3)


def test_a_large_input_keeps_its_size():
    seen = Image.new("RGB", (448, 448))
    assert view_picture(seen).shape == (448, 448, 3)
