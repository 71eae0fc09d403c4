"""Skip Lab figures: traces, not pixels."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_viz.experiments.gradflow import gradient_flow
from resnet_viz.figures.lab import (
    block_lines,
    grad_flow,
    lesion_bars,
    lesion_curve,
    shattering_by_depth,
    shattering_lags,
)
from resnet_viz.figures.training import member_colour
from resnet_viz.store import LayerSeries

LESION = {
    "blocks": ["layer1.0", "layer2.0", "layer2.1"],
    "downsampling": [False, True, False],
    "base_acc": 0.9,
    "single": [0.85, 0.3, 0.88],
    "ks": [1, 2, 3],
    "k_mean": [0.68, 0.4, 0.2],
    "k_std": [0.2, 0.1, 0.0],
    "chance": 0.1,
    "images": 100,
}


def test_lesion_bars_group_members_and_mark_intact_and_chance():
    plain = {**LESION, "base_acc": 0.7, "single": [0.1, 0.1, 0.12]}
    fig = lesion_bars({"resnet": LESION, "plain": plain}, colours={"resnet": 0, "plain": 1})
    assert [t.type for t in fig.data] == ["bar", "bar", "scatter"]
    # Chance is named in the legend, not by a label on its line (which sat on the bars).
    assert fig.data[2].name == "chance (10%)" and fig.data[2].line.dash == "dot"
    labels = [a.text for a in fig.layout.annotations]
    assert labels == ["resnet intact 90%", "plain intact 70%"]
    assert list(fig.data[0].x) == ["layer1.0", "layer2.0 ↓", "layer2.1"]
    assert list(fig.data[1].y) == [0.1, 0.1, 0.12]
    assert fig.data[1].marker.color == member_colour(1)
    assert [s.y0 for s in fig.layout.shapes] == [0.9, 0.7, 0.1]
    assert fig.layout.barmode == "group"


def test_lesion_curve_starts_intact_with_error_bars():
    fig = lesion_curve({"resnet": LESION})
    trace, chance = fig.data
    assert chance.name == "chance (10%)" and not fig.layout.annotations
    assert list(trace.x) == [0, 1, 2, 3] and list(trace.y) == [0.9, 0.68, 0.4, 0.2]
    assert list(trace.error_y.array) == [0.0, 0.2, 0.1, 0.0]


def test_grad_flow_has_three_panels_one_line_per_member():
    values = np.tile(np.array([[1.0, 0.5, 0.1]], np.float32), (30, 1))
    flow = gradient_flow(LayerSeries(("conv1", "mid", "fc"), np.arange(1, 31), values))
    fig = grad_flow({"a": flow, "b": flow})
    assert len(fig.data) == 6
    assert [t.showlegend for t in fig.data] == [True, False, False, True, False, False]
    assert list(fig.data[0].customdata) == ["conv1", "mid", "fc"]
    assert fig.layout.yaxis.type == "log"
    assert [a.text for a in fig.layout.annotations][:3] == ["Start", "Middle", "End"]


def test_shattering_figures():
    sweep = {"depth": [8, 20, 32], "plain": [0.8, 0.4, 0.1], "residual": [0.85, 0.7, 0.6]}
    fig = shattering_by_depth(sweep)
    assert [list(t.y) for t in fig.data] == [[0.8, 0.4, 0.1], [0.85, 0.7, 0.6]]
    assert list(fig.layout.xaxis.tickvals) == [8, 20, 32]
    fig = shattering_lags({"plain20": {"lags": [1, 2], "corr": [0.3, 0.1]}})
    assert list(fig.data[0].x) == [1, 2] and fig.data[0].name == "plain20"


def test_block_lines_one_per_member():
    fig = block_lines({"a": (["l1", "l2"], np.array([1.0, 2.0])), "b": (["l1"], np.array([3.0]))})
    assert [list(t.x) for t in fig.data] == [[1, 2], [1]]
    assert list(fig.data[0].customdata) == ["l1", "l2"]


def test_lesion_bars_keep_network_order_across_depths():
    deep = {**LESION, "blocks": ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer2.10"],
            "downsampling": [False, False, True, False, False], "single": [0.5] * 5}  # fmt: skip
    fig = lesion_bars({"shallow": LESION, "deep": deep})
    assert list(fig.layout.xaxis.categoryarray) == [
        "layer1.0", "layer1.1", "layer2.0 ↓", "layer2.1", "layer2.10",
    ]  # fmt: skip


@pytest.mark.parametrize("members", [0, 1, 2])
def test_generalisation_bars_pair_train_and_validation_with_the_gap_above(members):
    from resnet_viz.figures.lab import generalisation_bars

    fits = {f"m{i}": (1.0, 0.9 - 0.05 * i) for i in range(members)}
    fig = generalisation_bars(fits)
    assert [t.name for t in fig.data] == ["training images (eval mode)", "validation images"]
    assert fig.layout.yaxis.tickformat == ".0%" and fig.layout.yaxis.range == (0, 1.12)
    gaps = [a.text for a in fig.layout.annotations]
    assert gaps == [f"gap {100 * (1 - (0.9 - 0.05 * i)):.1f} points" for i in range(members)]
