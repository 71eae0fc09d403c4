"""Every chart's axes read right with no point yet, one, two and many (resnet_viz.figures.axes
and the builders that use it): integer step axes from the first step, accuracy in 0–100 %,
rates from zero, log axes at the powers of ten, marker labels that never pile up."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from resnet_viz.figures.axes import log_axis, power_label, step_axis, zero_based_axis
from resnet_viz.figures.training import Marker, grad_heatmap, layer_lines, line_figure
from resnet_viz.store import LayerSeries

SIZES = [0, 1, 2, 500]


def _steps(n: int, first: int = 1) -> np.ndarray:
    return np.arange(first, first + n)


def _curve(n: int, *, first: int = 1, start: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    return _steps(n, first), start / (1 + np.arange(n) / 50)


# ---- the helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("steps", "expected"),
    [([], [0, 1]), ([13], [13, 14]), ([1, 2], [1, 2]), (list(range(5, 905)), [5, 904])],
)
def test_step_axis_runs_from_the_first_step_drawn_to_the_last(steps, expected):
    axis = step_axis(np.array(steps))
    assert axis["range"] == expected and axis["tickformat"] == "d"
    if expected[1] - expected[0] <= 10:
        assert axis["dtick"] == 1 and axis["tick0"] == expected[0]  # never 0.5, 1.5
    else:
        assert "dtick" not in axis


def test_zero_based_axis_holds_a_flat_line_at_its_height():
    assert zero_based_axis(np.full(3, 900.0))["range"] == pytest.approx([0, 950])
    assert zero_based_axis(np.array([1163.0]))["range"] == pytest.approx([0, 1300])
    assert zero_based_axis(np.array([]))["range"] == [0, 1.0]
    assert zero_based_axis(np.array([0.0, np.nan]))["range"] == [0, 1.0]


def test_rates_tick_in_plain_digits_on_both_axes():
    """A warm-up learning rate of 4e-4 read "400μ" with plotly's SI suffixes."""
    steps = _steps(3)
    fig = line_figure(
        {"lr": (steps, np.array([1e-4, 2e-4, 4e-4]))},
        title="Learning rate & throughput",
        y_title="lr",
        y="zero",
        right={"images/s": (steps, np.array([400.0, 410.0, 405.0]))},
    )
    assert fig.layout.yaxis.tickformat == ",~g" and fig.layout.yaxis2.tickformat == ",~g"


@pytest.mark.parametrize(
    ("values", "decades"),
    [([], (0, 1)), ([2.5], (0, 1)), ([0.02, 3.0], (-2, 1)), ([1e-7, 0.5, np.inf], (-7, 0))],
)
def test_log_axis_spans_whole_decades_and_ticks_at_powers_of_ten(values, decades):
    axis = log_axis(np.array(values, dtype=float))
    assert axis["type"] == "log" and tuple(axis["range"]) == decades
    exponents = np.log10(axis["tickvals"])
    np.testing.assert_allclose(exponents, np.round(exponents))  # powers of ten only
    assert len(set(axis["ticktext"])) == len(axis["ticktext"])  # no label twice


@pytest.mark.parametrize(
    ("value", "rounded"), [(1221.0, 1300.0), (4.2e-4, 4.2e-4), (0.0101, 0.011), (99.5, 100.0)]
)
def test_round_up_to_two_significant_digits(value, rounded):
    from resnet_viz.figures.axes import round_up

    assert round_up(value) == pytest.approx(rounded)


def test_power_labels_are_unambiguous():
    assert [power_label(e) for e in (-3, -1, 0, 2, 3)] == ["0.001", "0.1", "1", "100", "1000"]
    assert power_label(-6) == "10⁻⁶" and power_label(5) == "10⁵"


def test_many_decades_are_labelled_every_other():
    axis = log_axis(np.array([1e-12, 1.0]))
    assert len(axis["tickvals"]) == 7 and axis["ticktext"][0] == "10⁻¹²"


# ---- the builders, at 0, 1, 2 and many points ---------------------------------------------
@pytest.mark.parametrize("n", SIZES)
def test_loss_curves_start_at_the_first_step_and_at_zero(n):
    fig = line_figure({"train": _curve(n, first=13)}, title="Loss", y_title="loss", y="zero")
    x, y = fig.layout.xaxis, fig.layout.yaxis
    assert x.range[0] == (13 if n else 0) and x.tickformat == "d"
    assert x.range[1] > x.range[0]
    assert y.range[0] == 0 and y.range[1] >= (2.5 if n else 1.0)
    assert not fig.layout.annotations  # no stray label beside a lone point


@pytest.mark.parametrize("n", SIZES)
def test_accuracy_stays_within_0_and_100_percent(n):
    acc = (_steps(n), np.linspace(0.1, 0.99, n))
    fig = line_figure({"val": acc}, title="Accuracy", y_title="accuracy", y="fraction")
    assert tuple(fig.layout.yaxis.range) == (0, 1) and fig.layout.yaxis.tickformat == ".0%"


@pytest.mark.parametrize("n", SIZES)
def test_rates_and_throughput_never_go_negative(n):
    lr = (_steps(n), np.full(n, 4e-4))
    thr = (_steps(n), np.full(n, 900.0))
    fig = line_figure(
        {"lr": lr}, title="lr", y_title="lr", y="zero", right={"images/s": thr}, right_title="img/s"
    )
    assert fig.layout.yaxis.range[0] == 0 and fig.layout.yaxis2.range[0] == 0
    if n:
        assert fig.layout.yaxis2.range[1] == pytest.approx(950)  # not 898.764…900.264
        assert fig.layout.yaxis.range[1] == pytest.approx(4.2e-4)
        assert fig.layout.yaxis2.tickmode == "auto"  # round ticks of its own
        assert fig.data[-1].line.color != fig.data[0].line.color


@pytest.mark.parametrize("n", SIZES)
def test_log_curves_tick_at_powers_of_ten(n):
    lines = {"a": _curve(n, start=1e-3), "b": _curve(n, start=2.0)}
    fig = line_figure(lines, title="Loss", y_title="loss", y="log")
    y = fig.layout.yaxis
    assert y.type == "log"
    exponents = np.log10(np.array(y.tickvals, dtype=float))
    np.testing.assert_allclose(exponents, np.round(exponents))
    assert len(set(y.ticktext)) == len(y.ticktext)


@pytest.mark.parametrize("n", SIZES)
def test_chosen_layer_lines_use_readable_log_ticks(n):
    series = LayerSeries(
        ("conv1", "fc"), _steps(n), np.tile([[0.002], [0.5]], n).T.astype(np.float32)
    )
    fig = layer_lines(series, ["conv1", "fc"])
    y = fig.layout.yaxis
    assert y.type == "log"
    if n:
        assert list(y.ticktext) == ["0.001", "0.01", "0.1", "1"]
    assert fig.layout.xaxis.range[0] == (1 if n else 0)


@pytest.mark.parametrize("n", SIZES)
def test_heatmap_step_axis_is_integers_from_the_first_step(n):
    series = LayerSeries(("conv1", "fc"), _steps(n, 5), np.ones((n, 2), np.float32))
    fig = grad_heatmap(series, markers=[Marker(6, "stage2 ×0", "skip")] if n > 1 else [])
    assert fig.layout.xaxis.range[0] == (5 if n else 0) and fig.layout.xaxis.tickformat == "d"


def test_markers_never_pile_up():
    """Ten changes a step apart on a 500-step chart: labels stagger into rows, the rest wait
    in hover, and each kind of change gets one legend entry."""
    markers = [Marker(100 + i, f"stage{i % 3 + 1} ×0", "skip") for i in range(10)]
    markers.append(Marker(400, "lr ×0.1", "lr"))
    fig = line_figure({"train": _curve(500)}, title="Loss", y_title="loss", markers=markers)
    shown = [a for a in fig.layout.annotations if a.text != "▾"]
    rows = {round(a.y, 3) for a in shown}
    assert len(rows) <= 3  # at most three rows of labels
    for row in rows:  # within a row, no label starts before the previous one ends
        xs = sorted(a.x for a in shown if round(a.y, 3) == row)
        assert all(b - a >= 5 for a, b in itertools.pairwise(xs))
    assert all(a.hovertext for a in fig.layout.annotations)  # every label readable on hover
    assert any(a.text == "lr ×0.1" for a in shown)  # a marker far away gets its label
    legend = [t.name for t in fig.data if list(t.x) == [None]]
    assert legend == ["skip change", "learning-rate change"]
    assert len(fig.layout.shapes) == 11


def test_a_marker_outside_the_data_widens_the_step_axis_to_it():
    fig = line_figure(
        {"train": _curve(3)}, title="Loss", y_title="loss", markers=[Marker(9, "stopped @ 9")]
    )
    assert list(fig.layout.xaxis.range) == [1, 9]


# ---- Skip Lab and Activations charts ---------------------------------------------------------
def _flow(n_layers: int):
    from resnet_viz.experiments.gradflow import GradFlow

    norms = {
        p: np.geomspace(1e-5, 1e-1, max(n_layers, 1))[:n_layers] for p in ("start", "middle", "end")
    }
    steps = {p: (1, 10) for p in norms}
    return GradFlow(tuple(f"l{i}" for i in range(n_layers)), steps, norms)


@pytest.mark.parametrize("n", [1, 2, 21])
def test_gradient_flow_ticks_at_powers_of_ten_and_whole_layers(n):
    from resnet_viz.figures.lab import grad_flow

    fig = grad_flow({"plain20": _flow(n)})
    for axis in (fig.layout.yaxis, fig.layout.yaxis2, fig.layout.yaxis3):
        assert axis.type == "log" and len(set(axis.ticktext)) == len(axis.ticktext)
    assert fig.layout.xaxis.tickformat == "d" and fig.layout.xaxis.range[0] < 0


@pytest.mark.parametrize("n", SIZES)
def test_lesion_curve_counts_whole_blocks(n):
    from resnet_viz.figures.lab import lesion_curve

    ks = list(range(1, n + 1))
    r = {"base_acc": 0.9, "ks": ks, "k_mean": [0.5] * n, "k_std": [0.1] * n, "chance": 0.1}
    fig = lesion_curve({"resnet20": r} if n else {})
    assert fig.layout.xaxis.tickformat == "d" and fig.layout.yaxis.tickformat == ".0%"
    if 0 < n <= 10:
        assert fig.layout.xaxis.dtick == 1


@pytest.mark.parametrize("n", SIZES)
def test_shattering_lags_and_block_lines_count_from_one(n):
    from resnet_viz.figures.lab import block_lines, shattering_lags

    lags = shattering_lags({"a": {"lags": list(range(1, n + 1)), "corr": [0.5] * n}} if n else {})
    blocks = block_lines({"a": ([f"b{i}" for i in range(n)], np.ones(n))} if n else {})
    for fig in (lags, blocks):
        assert fig.layout.xaxis.tickformat == "d"
        assert 0 < fig.layout.xaxis.range[0] + 0.3 <= 1  # starts at 1 (with a little margin)


@pytest.mark.parametrize("n", [0, 1, 2, 60])
def test_activation_histogram_log_counts_start_at_one(n):
    from resnet_viz.figures.activations import histogram

    counts = np.geomspace(1, 1e5, n) if n else np.zeros(0)
    fig = histogram(counts, np.linspace(-1, 1, n + 1))
    y = fig.layout.yaxis
    assert y.type == "log" and y.range[0] == 0
    assert y.ticktext[0] == "1" and len(set(y.ticktext)) == len(y.ticktext)


def test_depth_lines_on_a_log_axis_tick_at_powers_of_ten():
    from resnet_viz.figures.activations import depth_lines

    fig = depth_lines(["a", "b"], {"x": np.array([0.02, 3.0])}, title="t", y_title="y", log_y=True)
    assert list(fig.layout.yaxis.ticktext) == ["0.01", "0.1", "1", "10"]


def test_heatmap_markers_keep_their_labels_in_hover():
    """Labels at the top of a heatmap would cover the first layers' rows."""
    series = LayerSeries(("conv1", "fc"), _steps(50), np.ones((50, 2), np.float32))
    fig = grad_heatmap(series, markers=[Marker(10, "stage2 ×0", "skip")])
    (tick,) = fig.layout.annotations
    assert tick.text == "▾" and tick.hovertext == "stage2 ×0"


def test_gradient_flow_titles_its_shared_axis_once():
    from resnet_viz.figures.lab import grad_flow

    fig = grad_flow({"plain20": _flow(5)})
    titles = [fig.layout[f"yaxis{i}"].title.text for i in ("", "2", "3")]
    assert titles == ["‖g‖ (log scale)", None, None]


def test_a_label_near_the_end_of_the_axis_runs_leftwards():
    """A change at the last step drawn (the usual case while a run is live) keeps its label
    inside the chart."""
    fig = line_figure(
        {"train": _curve(8)}, title="Loss", y_title="loss", markers=[Marker(8, "stage2 ×0 · all")]
    )
    (label,) = [a for a in fig.layout.annotations]
    assert label.text == "stage2 ×0 · all" and label.xanchor == "right" and label.x == 8
    early = line_figure(
        {"train": _curve(80)}, title="Loss", y_title="loss", markers=[Marker(2, "stage2 ×0")]
    )
    assert early.layout.annotations[0].xanchor == "left"


def _label_spans(fig):
    """Each written label's (start, end) on x, from the same estimate the builder uses."""
    from resnet_viz.figures.training import LABEL_CHAR_WIDTH

    lo, hi = fig.layout.xaxis.range
    for a in fig.layout.annotations:
        if a.text == "▾":
            continue
        needs = max(len(t) for t in a.text.split("<br>")) * LABEL_CHAR_WIDTH * (hi - lo)
        yield (a.x, a.x + needs) if a.xanchor == "left" else (a.x - needs, a.x)


def test_a_label_fits_on_neither_side_breaks_onto_two_lines_inside_the_chart():
    """A pull at step 46 of 128 labelled "stage2 ×0 · resnet8 #2" ran past the y axis, over
    its tick labels, when it could not fit rightwards."""
    markers = [Marker(46, "stage2 ×0 · resnet8 #2", "skip"), Marker(84, "stage2 ×1 · resnet8 #2")]
    fig = line_figure({"a": _curve(128)}, title="Loss", y_title="loss", markers=markers)
    lo, hi = fig.layout.xaxis.range
    assert all(lo <= a and b <= hi + 1e-9 for a, b in _label_spans(fig))
    assert fig.layout.annotations[0].text == "stage2 ×0<br>resnet8 #2"
