"""Figure builders are pure: check the traces they build, not pixels."""

from __future__ import annotations

import numpy as np

from resnet_viz.figures import Marker, block_bars, grad_heatmap, layer_lines, line_figure, smooth
from resnet_viz.store import LayerSeries

SERIES = LayerSeries(
    ("conv1", "layer1.0.conv1", "fc"),
    np.array([1, 2, 3]),
    np.array([[1.0, 0.1, 10.0], [1.0, 0.0, 100.0], [2.0, 0.01, 1000.0]], dtype=np.float32),
)


def test_smooth_is_a_bias_corrected_ema_that_skips_nan():
    out = smooth(np.array([1.0, np.nan, 3.0]), weight=0.5)
    assert out[0] == 1.0  # bias correction: first value is itself
    assert np.isnan(out[1])
    assert out[2] == (0.25 * 1 + 0.5 * 3) / 0.75


def test_line_figure_has_one_trace_per_line_plus_faint_and_markers():
    fig = line_figure(
        {"val": (np.array([1, 2]), np.array([0.5, 0.6]))},
        title="Accuracy",
        y_title="acc",
        faint={"raw": (np.array([1, 2]), np.array([0.4, 0.7]))},
        markers=[Marker(2, "diverged @ 2")],
    )
    names = [t.name for t in fig.data]
    assert names == ["raw", "val", "diverged"]  # the last: the marker's legend entry
    assert list(fig.data[2].x) == [None] and fig.data[2].line.dash == "dash"
    assert fig.data[0].opacity == 0.3 and fig.data[0].showlegend is False
    assert fig.layout.title.text == "Accuracy"
    assert fig.layout.shapes[0].x0 == 2  # the divergence line
    assert fig.layout.annotations[0].text == "diverged @ 2"
    assert fig.layout.uirevision == "keep"  # live updates keep the user's zoom


def test_grad_heatmap_rows_in_network_order_log_scale():
    fig = grad_heatmap(SERIES)
    (heat,) = fig.data
    assert heat.type == "heatmap"
    assert list(heat.y) == ["conv1", "layer1.0.conv1", "fc"]
    assert fig.layout.yaxis.autorange == "reversed"  # input layer at the top
    z = np.array(heat.z, dtype=float)
    assert z.shape == (3, 3)  # layers × steps
    np.testing.assert_allclose(z[2], [1, 2, 3], rtol=1e-6)  # log10 of fc norms (float32)
    assert np.isnan(z[1, 1])  # a zero gradient is shown as missing, not -inf


def test_layer_lines_picks_the_named_layers_only():
    fig = layer_lines(SERIES, ["fc", "conv1", "not-a-layer"])
    assert [t.name for t in fig.data] == ["fc", "conv1"]
    assert list(fig.data[0].y) == [10.0, 100.0, 1000.0]
    assert fig.layout.yaxis.type == "log"


def test_block_bars():
    fig = block_bars(["layer1.0", "layer2.0"], np.array([0.2, 0.3]), title="r", y_title="ratio")
    assert list(fig.data[0].x) == ["layer1.0", "layer2.0"]
    assert list(fig.data[0].y) == [0.2, 0.3]


def test_event_markers_mark_live_changes_with_their_member():
    from resnet_viz.figures.training import event_markers
    from resnet_viz.store import Event

    events = [
        Event(1, None, 0, 0.0, "info", "Device: cpu", {}),
        Event(2, 1, 40, 0.0, "skip", "…", {"label": "stage2 ×0"}),
        Event(3, None, 50, 0.0, "lr", "…", {"label": "lr ×0.1"}),
        Event(4, 0, 60, 0.0, "diverged", "…", {}),
        Event(5, 0, 70, 0.0, "bn", "…", {"label": "BN frozen"}),
    ]
    cohort = event_markers(events, ["resnet20", "plain20"])
    assert [(m.step, m.label, m.kind) for m in cohort] == [
        (40, "stage2 ×0 · plain20", "skip"),
        (50, "lr ×0.1 · all", "lr"),
        (60, "diverged · resnet20 @ 60", "diverged"),
        (70, "BN frozen · resnet20", "bn"),
    ]
    single = event_markers(events, ["resnet20"])
    assert [m.label for m in single] == ["stage2 ×0", "lr ×0.1", "diverged @ 60", "BN frozen"]
    fig = line_figure({"a": (np.array([1, 2]), np.array([1.0, 2.0]))}, title="", y_title="",
                      markers=cohort)  # fmt: skip
    colours = [s.line.color for s in fig.layout.shapes]
    assert colours == ["#9467bd", "#ff7f0e", "#d62728", "#2ca02c"]


def test_line_styles_by_trace_name():
    x = np.array([1, 2])
    fig = line_figure(
        {"a train": (x, x), "a val": (x, x)},
        title="",
        y_title="",
        styles={"a train": {"color": "#111111"}, "a val": {"color": "#111111", "dash": "dash"}},
    )
    assert [(t.line.color, t.line.dash) for t in fig.data] == [
        ("#111111", None),
        ("#111111", "dash"),
    ]


def test_heatmaps_side_by_side_share_one_colour_scale():
    from resnet_viz.figures.training import log_range

    other = LayerSeries(SERIES.layers, SERIES.steps, SERIES.values * 100)
    lo, hi = log_range(SERIES, other)
    assert (lo, hi) == (np.log10(np.float32(0.01)), np.log10(np.float32(100000.0)))
    heat = grad_heatmap(SERIES, zrange=(lo, hi)).data[0]
    assert (heat.zmin, heat.zmax) == (lo, hi)
    assert grad_heatmap(SERIES).data[0].zmin is None
    empty = LayerSeries(("a",), np.zeros(0, dtype=np.int64), np.zeros((0, 1), np.float32))
    assert log_range(empty) is None
