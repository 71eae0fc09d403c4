"""Loss-landscape charts: one colour scale for every member, the trained point marked, ticks
labelled in loss (not its logarithm), both slices per member."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resnet_viz.figures.landscape import (
    contours,
    linear_path,
    log_range,
    log_ticks,
    slices,
    surface3d,
    trajectory,
)


def payload(scale: float, steps: int = 5) -> dict:
    axis = np.linspace(-1, 1, steps)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    loss = 1.2 + scale * (a**2 + 2 * b**2)
    mid = steps // 2
    return {
        "axis": axis.tolist(),
        "loss": loss.tolist(),
        "slice_1": loss[:, mid].tolist(),
        "slice_2": loss[mid, :].tolist(),
    }


def test_members_share_one_colour_scale_and_the_trained_point_is_marked():
    named = {"resnet20": payload(1.0), "plain20": payload(50.0)}
    fig = contours(named)
    maps = [t for t in fig.data if t.type == "contour"]
    assert [t.name for t in maps] == ["resnet20", "plain20"]
    lo, hi = log_range(named)
    assert all((t.zmin, t.zmax) == (lo, hi) for t in maps)
    assert lo == pytest.approx(math.log10(1.2)) and hi == pytest.approx(math.log10(151.2))
    assert [t.showscale for t in maps] == [False, True]  # one colour bar for both
    crosses = [t for t in fig.data if t.type == "scatter"]
    assert all(list(t.x) == [0] and list(t.y) == [0] for t in crosses)


def test_ticks_are_losses_at_both_ends_and_the_powers_of_ten_between():
    ticks = log_ticks(math.log10(1.15), math.log10(151.0))
    assert ticks["ticktext"] == ["1.15", "10", "100", "151"]
    crowded = log_ticks(math.log10(1.15), math.log10(1.3))
    assert crowded["ticktext"] == ["1.15", "1.3"]
    # Twenty decades (a plain net far from its minimum): every third power, clear of the ends.
    wide = log_ticks(math.log10(0.345), math.log10(4.07e20))
    assert wide["ticktext"] == ["0.345", "1e+03", "1e+06", "1e+09", "1e+12", "1e+15", "1e+18",
                                "4.07e+20"]  # fmt: skip
    assert log_ticks(math.log10(0.33), math.log10(1.41e10))["ticktext"] == [
        "0.33", "100", "1e+04", "1e+06", "1e+08", "1.41e+10"
    ]  # fmt: skip


def test_slices_draw_both_directions_of_each_member_on_a_log_axis():
    fig = slices({"resnet20": payload(1.0), "plain20": payload(50.0)})
    assert [t.name for t in fig.data] == [
        "resnet20, direction 1",
        "resnet20, direction 2",
        "plain20, direction 1",
        "plain20, direction 2",
    ]
    assert fig.layout.yaxis.type == "log"


def test_a_3d_surface_labels_height_in_loss():
    p = payload(1.0)
    fig = surface3d(p, name="resnet20", zrange=log_range({"a": p}))
    assert fig.layout.scene.zaxis.ticktext[0] == "1.2"


def test_the_linear_path_marks_the_initial_and_trained_weights():
    p = {"path": {"alpha": [-0.25, 0.0, 0.5, 1.0, 1.25], "loss": [3.0, 2.3, 1.0, 0.2, 0.3]}}
    fig = linear_path({"resnet20": p, "plain20": p})
    assert [t.name for t in fig.data] == ["resnet20", "plain20"]
    assert [a.text for a in fig.layout.annotations] == ["initial", "trained"]
    assert [s.x0 for s in fig.layout.shapes] == [0, 1]
    assert fig.layout.yaxis.type == "log"


def walk(scale: float, points: int = 4) -> dict:
    xs = np.linspace(-2, 0, points)
    gx, gy = np.linspace(-2.4, 0.4, 5), np.linspace(-0.6, 0.6, 5)
    loss = 0.1 + scale * (gx[:, None] ** 2 + gy[None, :] ** 2)
    return {
        "x": gx.tolist(), "y": gy.tolist(), "loss": loss.tolist(),
        "points": [[x, 0.1 * x] for x in xs], "steps": [0, 10, 20, 30][:points],
        "explained": [0.9, 0.06],
    }  # fmt: skip


@pytest.mark.parametrize("members", [0, 1, 2])
def test_the_trajectory_marks_start_path_and_end_on_one_scale(members):
    named = {f"m{i}": walk(1 + i) for i in range(members)}
    fig = trajectory(named)
    maps = [t for t in fig.data if t.type == "contour"]
    assert len(maps) == members
    assert len({(t.zmin, t.zmax) for t in maps}) <= 1  # one colour scale for all
    if not members:
        return
    names = [t.name for t in fig.data if t.showlegend]
    assert names == ["training path", "initial weights", "trained weights"]  # once, not per map
    path = next(t for t in fig.data if t.name == "training path")
    assert list(path.customdata) == [0, 10, 20, 30] and path.hovertemplate.startswith("step ")
    start, end = (
        next(t for t in fig.data if t.name == n) for n in ("initial weights", "trained weights")
    )
    assert (start.x[0], end.x[0], end.y[0]) == (-2.0, 0.0, 0.0)
    assert fig.layout.xaxis.title.text == "PC 1 · 90% of the path's variance"
    assert fig.layout.yaxis.title.text == "PC 2 · 6%"
