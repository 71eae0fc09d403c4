"""Gradient-flow summary: windows, medians, first-to-last ratios."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_viz.experiments.gradflow import format_ratio, gradient_flow, ratio_verdict
from resnet_viz.store import LayerSeries


def test_phases_are_medians_over_their_windows():
    steps = np.arange(1, 21)
    first = np.r_[np.full(10, 1e-3), np.full(10, 1.0)]
    values = np.stack([first, np.ones(20), np.full(20, 2.0)], axis=1).astype(np.float32)
    flow = gradient_flow(LayerSeries(("conv1", "mid", "fc"), steps, values))
    assert flow.steps == {"start": (1, 2), "middle": (10, 11), "end": (19, 20)}
    np.testing.assert_allclose(flow.norms["start"], [1e-3, 1, 2], rtol=1e-6)
    np.testing.assert_allclose(flow.norms["end"], [1, 1, 2])
    assert flow.first_to_last("start") == pytest.approx(5e-4)
    assert ratio_verdict(flow.first_to_last("start")) == "vanishing"
    assert ratio_verdict(flow.first_to_last("end")) == "healthy"


def test_verdict_thresholds_and_empty_series():
    assert ratio_verdict(150.0) == "exploding" and ratio_verdict(float("inf")) == "exploding"
    assert ratio_verdict(0.02) == "healthy" and ratio_verdict(0.009) == "vanishing"
    empty = LayerSeries(("a",), np.zeros(0, dtype=np.int64), np.zeros((0, 1), np.float32))
    assert gradient_flow(empty) is None


def test_non_finite_rows_do_not_poison_a_phase():
    values = np.array([[1.0, 1.0], [np.nan, np.inf], [2.0, 1.0]] * 4, dtype=np.float32)
    flow = gradient_flow(LayerSeries(("a", "b"), np.arange(12), values))
    assert all(np.isfinite(flow.norms[p]).all() for p in ("start", "middle", "end"))


def test_a_dead_net_is_dead_not_exploding():
    """No layer gets any gradient (every ReLU off: measured on a plain net without BN) is its
    own verdict; zero only at the last layer, or NaN gradients, still count as exploding."""

    def flow(first, last):
        values = np.tile(np.array([[first, 1.0, last]], np.float32), (10, 1))
        return gradient_flow(LayerSeries(("conv1", "mid", "fc"), np.arange(10), values))

    dead = flow(0.0, 0.0).first_to_last("end")
    assert np.isnan(dead) and ratio_verdict(dead) == "dead" and format_ratio(dead) == "no gradient"
    assert ratio_verdict(flow(1.0, 0.0).first_to_last("end")) == "exploding"
    assert ratio_verdict(flow(np.nan, np.nan).first_to_last("end")) == "exploding"
    assert format_ratio(flow(1e-3, 1.0).first_to_last("end")) == "0.001"
