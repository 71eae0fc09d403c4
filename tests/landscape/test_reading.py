"""Readings of a surface: the basin's share of the grid and the loss at its edge, and the
twins' comparison that says plainly when a run does not show Li et al.'s effect."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_viz.landscape import basin, twins_reading


def bowl(width: float) -> dict:
    axis = np.linspace(-1, 1, 5)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    return {"loss": (1.0 + (a**2 + b**2) / width**2).tolist()}


def test_a_wider_bowl_has_more_of_the_grid_in_its_basin():
    wide, narrow = basin(bowl(2.0)), basin(bowl(0.5))
    assert wide.trained == narrow.trained == 1.0
    assert wide.share == 1.0 and narrow.share == pytest.approx(5 / 25)  # centre and 4 neighbours
    assert narrow.edge > wide.edge
    assert "of the grid within 2× the trained loss" in wide.describe()


def test_the_twins_reading_says_which_way_this_run_went():
    shows, text = twins_reading(("resnet56", basin(bowl(2.0))), ("plain56", basin(bowl(0.5))))
    assert shows and "wider basin, as Li et al. (2018) found" in text
    shows, text = twins_reading(("resnet20", basin(bowl(0.5))), ("plain20", basin(bowl(2.0))))
    assert not shows and text.count("does not show Li et al.'s effect") == 1
