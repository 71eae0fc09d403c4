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


def egg_crate(depth: float) -> dict:
    """A bowl with ripples of ``depth``: chaotic, with local minima away from the centre."""
    axis = np.linspace(-1, 1, 9)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    ripples = depth * (np.cos(6 * np.pi * a) + np.cos(6 * np.pi * b))
    return {"loss": (3.0 + (a**2 + b**2) + ripples).tolist()}


def test_a_bowl_has_one_minimum_and_never_bends_down():
    smooth = basin(bowl(1.0))
    assert smooth.minima == 1 and smooth.nonconvex == 0.0
    rough = basin(egg_crate(0.5))
    assert rough.minima > 1 and rough.nonconvex > 0.1
    assert "1 local minimum on the grid" in smooth.describe()


def test_the_twins_reading_says_which_way_this_run_went():
    shows, text = twins_reading(("resnet56", basin(bowl(1.0))), ("plain56", basin(egg_crate(0.5))))
    assert shows and "more chaotic one, as Li et al. (2018) found" in text
    shows, text = twins_reading(("resnet20", basin(egg_crate(0.5))), ("plain20", basin(bowl(1.0))))
    assert not shows and text.count("does not show Li et al.'s effect") == 1


def test_a_plain_net_that_barely_trained_is_said_to_have_learned_less():
    high = {"loss": (np.asarray(bowl(1.0)["loss"]) * 4).tolist()}
    _, text = twins_reading(("resnet56", basin(bowl(1.0))), ("plain56", basin(high)))
    assert "plain56 trained only to loss 4 (against 1)" in text and "× for resnet56" in text
