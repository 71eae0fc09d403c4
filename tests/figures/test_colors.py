"""Colour tables, colourising, the overlay blend and the choice of heatmap scale."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_viz.figures import activations, explain
from resnet_viz.figures.colors import (
    COLORMAPS,
    DIVERGING,
    LEVELS,
    SEQUENTIAL,
    blend,
    colour_index,
    colour_table,
    colourise,
    heatmap_scale,
)


def test_the_figure_modules_share_one_set_of_names():
    assert explain.DIVERGING == activations.DIVERGING == DIVERGING
    assert explain.COLORMAPS is COLORMAPS and activations.SEQUENTIAL == SEQUENTIAL
    assert explain.colour_table is colour_table and explain.colourise is colourise


def test_a_table_samples_the_plotly_scale_evenly():
    table = colour_table("Viridis")
    assert table.shape == (LEVELS, 3) and table.dtype == np.uint8
    assert tuple(table[0]) == (68, 1, 84) and tuple(table[-1]) == (253, 231, 37)  # the ends
    assert colour_table("Viridis") is table  # cached
    with pytest.raises(ValueError):
        table[0, 0] = 1  # read-only: one table serves every caller
    for name in (*COLORMAPS, DIVERGING):
        assert len(np.unique(colour_table(name), axis=0)) > 50, name
    with pytest.raises(ValueError, match="Unknown colour map"):
        colour_table("NoSuchMap")


def test_colour_index_rounds_in_the_maps_own_precision():
    assert list(colour_index(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]))) == [0, 0, 128, 255, 255]
    tie = np.float32(0.5 / 255)  # 0.5 exactly in float32, a hair above in float64
    assert colour_index(np.array([tie], dtype=np.float32))[0] == 0  # half to even
    assert colour_index(np.array([tie], dtype=np.float64))[0] == 1


def test_colourise_signed_centres_zero():
    rgb = colourise(np.array([[-1.0, 0.0, 1.0]]), DIVERGING, signed=True)
    table = colour_table(DIVERGING)
    assert (rgb[0] == table[[0, 128, 255]]).all()


def test_blend_weighs_image_and_colour_by_opacity():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    colour = np.full((2, 2, 3), 200, dtype=np.float32)
    assert (blend(image, colour, 0.0) == 100).all() and (blend(image, colour, 1.0) == 200).all()
    out = blend(image, colour, 0.25)
    assert out.dtype == np.uint8 and (out == 125).all()
    assert (blend(image, np.full((2, 2, 3), 101.0), 0.5) == 100).all()  # 100.5: half to even
    assert (blend(image, np.full((2, 2, 3), 400.0), 1.0) == 255).all()  # clipped


def test_heatmap_scale_is_diverging_and_symmetric_only_for_negative_values():
    assert heatmap_scale(np.array([-1.0, 3.0])) == {"colorscale": DIVERGING, "cmin": -3, "cmax": 3}
    assert heatmap_scale(np.array([0.5, 2.0, np.nan])) == {
        "colorscale": SEQUENTIAL,
        "cmin": 0.5,
        "cmax": 2.0,
    }
    flat = heatmap_scale(np.zeros(3))
    assert (flat["cmin"], flat["cmax"]) == (0.0, 1.0)  # a constant map still gets a range
    assert heatmap_scale(np.array([np.nan]))["cmax"] == 1.0
