"""The run view's charts: curves, gradient heatmaps and residual-block panels of one run or a
cohort (one colour per member, heatmaps side by side on one colour scale), rebuilt only when
due so a live view does not slow training down."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from .. import keys
from ..figures.lab import block_lines
from ..figures.style import restyle
from ..figures.training import (
    Marker,
    block_bars,
    grad_heatmap,
    layer_lines,
    line_figure,
    log_range,
    member_colour,
    smooth,
)
from ..store import LayerSeries, RunRecord, RunSnapshot, thin_indices
from .look import look

# Points per trace. The browser redraws every chart while a run is live, and on a 2-core laptop
# that redraw competes with training itself: keep it light.
MAX_POINTS = 300
# While a run is live, figures are rebuilt at most this often; in between the 1 s poll re-sends
# the previous figures, which the browser does not redraw (a CDP profile found no plotly work
# for unchanged figures). Progress, ETA and metrics still update every second. Measured on a
# 2-core machine with headless Chromium (default preset, time to 90% from the UI): rebuilt every
# 3 s, 44-62 s; every second, 46-59 s: as noisy as the difference (docs/benchmarks.md).
CHART_SECONDS_SMALL_CPU = 3.0
CHART_SECONDS = 1.0


def small_cpu(run: RunRecord) -> bool:
    """Whether ``run`` trains on a CPU small enough that the browser's redraws compete with it."""
    on_gpu = (run.device or "").startswith(("cuda", "mps"))
    return not on_gpu and (os.cpu_count() or 1) < 8


def chart_period(run: RunRecord, *, every_second: bool = False) -> float:
    """Seconds between rebuilds of a live run's charts (``every_second``: the view's switch)."""
    return CHART_SECONDS_SMALL_CPU if small_cpu(run) and not every_second else CHART_SECONDS


@dataclass
class _Clock:
    """When the figures of one run (at one redraw period) were last rebuilt."""

    generation: int
    t: float
    step: int
    events: int


class _Shared:
    """Figures shared by every session of this server: thirty tabs watching one run cost one
    build of each chart per redraw period, not thirty (bench/classroom_load.py). A figure is
    keyed by the run, the chart's element key, its variant and its look; each entry remembers
    the generation of the run's clock it was built in."""

    CAPACITY = 512  # figures kept, least recently used dropped first

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clocks: OrderedDict[tuple, _Clock] = OrderedDict()
        self.figures: OrderedDict[tuple, tuple[int, go.Figure]] = OrderedDict()
        self.generations = itertools.count(1)

    def clock(self, key: tuple, *, due: Callable[[_Clock], bool], step: int, events: int) -> _Clock:
        """The run's clock, advanced to a new generation when ``due`` says so (or unknown)."""
        with self.lock:
            clock = self.clocks.get(key)
            if clock is None or due(clock):
                clock = _Clock(next(self.generations), time.monotonic(), step, events)
            self._keep(self.clocks, key, clock)
            return clock

    def figure(self, key: tuple, generation: int, build: Callable[[], go.Figure]) -> go.Figure:
        with self.lock:
            found = self.figures.get(key)
            if found is not None and found[0] == generation:
                self.figures.move_to_end(key)
                return found[1]
        fig = _serialised_once(build())  # outside the lock: other runs' sessions go on
        with self.lock:
            self._keep(self.figures, key, (generation, fig))
        return fig

    def _keep(self, entries: OrderedDict, key: tuple, value: object) -> None:
        """Store ``value`` as the most recently used entry; drop the least recent over
        CAPACITY (the caller holds the lock)."""
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self.CAPACITY:
            entries.popitem(last=False)


_SHARED = _Shared()


def _serialised_once(fig: go.Figure) -> go.Figure:
    """``fig``, whose ``to_dict()`` is computed once. st.plotly_chart calls it on every draw
    (a deep copy of the figure and a base64 encoding of each array: a tenth of the server's
    CPU with thirty tabs on a run); a shared figure is never changed after it is built, and
    Streamlit only reads the dict."""
    spec = fig.to_dict()
    fig.to_dict = lambda: spec  # plotly lets an existing attribute be set on the instance
    return fig


class Charts:
    """The run view's figures, rebuilt only when due (see CHART_SECONDS_SMALL_CPU) and shared
    between the sessions watching the same run."""

    def __init__(
        self, key: str, run: RunRecord, live: bool, events: int = 0, *, every_second: bool = False
    ) -> None:
        """``every_second``: redraw every second even where training shares a small CPU."""
        self.small_cpu = small_cpu(run)
        period = self.period = chart_period(run, every_second=every_second)
        self.run_id = run.id

        # Rebuild when due; at once when the first data arrives after an empty view, and when
        # a new event (a live skip change…) must be marked: the Skip Lab promises it within 2 s.
        # A finished run's figures change only with its record (status, last step, events).
        def due(clock: _Clock) -> bool:
            if not live:
                return False
            first_data = clock.step == 0 and run.step > 0
            return first_data or clock.events != events or time.monotonic() - clock.t >= period

        when = ("live", period) if live else ("final", run.status, run.step, events)
        self.clock = _SHARED.clock((run.id, *when), due=due, step=run.step, events=events)

    @property
    def drawn_at(self) -> int:
        """The run's step when the figures shown were built (the progress line may be ahead)."""
        return self.clock.step

    def show(self, where, key: str, build: Callable[[], go.Figure], *, variant: str = "") -> None:
        """Draw the figure for element ``key``; a new ``variant`` (e.g. other chosen layers)
        is built at once rather than at the next due time."""
        style = look()
        fig = _SHARED.figure(
            (self.run_id, key, variant, style),
            self.clock.generation,
            lambda: restyle(build(), style),
        )
        where.plotly_chart(fig, key=key)


def _thinned(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = thin_indices(len(steps), MAX_POINTS) if len(steps) > MAX_POINTS else slice(None)
    return steps[keep], values[keep]


# The train (per batch) and validation scalar of each curve chart.
METRICS = {"loss": (keys.TRAIN_LOSS, keys.VAL_LOSS), "acc": (keys.TRAIN_ACC, keys.VAL_ACC)}
# Title, what a cohort's title adds, y axis title.
CURVE_TITLES = {
    "loss": ("Loss", " (train smoothed, val dashed; log scale)", "cross-entropy"),
    "acc": ("Accuracy", " (train smoothed, val dashed)", "accuracy"),
}
# The y axis of each curve chart, alone and in a cohort (see figures.line_figure).
CURVE_AXES = {"loss": ("zero", "log"), "acc": ("fraction", "fraction")}


def curves(snap: RunSnapshot, markers: list[Marker], key: str, charts: Charts) -> None:
    members = snap.members
    multi = len(members) > 1

    def curves(metric: str) -> tuple[dict, dict, dict]:
        smoothed, raw, styles = {}, {}, {}
        train, val_key = METRICS[metric]
        for idx, name in members:
            # Smooth the full per-batch series, then thin what is drawn.
            x, y = snap.scalars(train, idx)
            val = snap.scalars(val_key, idx)
            if multi:  # one colour per member; val dashed; no raw traces (too busy)
                colour = member_colour(idx)
                smoothed[f"{name} train"] = _thinned(x, smooth(y))
                smoothed[f"{name} val"] = val
                styles[f"{name} train"] = {"color": colour}
                styles[f"{name} val"] = {"color": colour, "dash": "dash"}
            else:
                raw["train (per batch)"] = _thinned(x, y)
                smoothed["train (smoothed)"] = _thinned(x, smooth(y))
                smoothed["val"] = val
        return smoothed, raw, styles

    def metric_figure(metric: str) -> go.Figure:
        lines, raw, styles = curves(metric)
        title, cohort_note, y_title = CURVE_TITLES[metric]
        return line_figure(
            lines,
            title=title + (cohort_note if multi else ""),
            y_title=y_title,
            # Members' losses differ by orders of magnitude (a plain net's early val loss can
            # be in the thousands): on a linear axis the others would be flat lines.
            y=CURVE_AXES[metric][multi],
            faint=raw,
            markers=markers,
            styles=styles,
            legend_below=multi,
        )

    def lr_figure() -> go.Figure:
        lr, thr, styles = {}, {}, {}
        for idx, name in members:
            prefix = f"{name} " if multi else ""
            lr[f"{prefix}learning rate"] = snap.scalars(keys.LR, idx, max_points=MAX_POINTS)
            if multi:
                styles[f"{prefix}learning rate"] = {"color": member_colour(idx)}
        # Throughput is the cohort's (all members step on each batch): one line. A script
        # does not say its batch size, so its speed is in steps.
        unit, key_ = (
            ("steps/s", keys.STEP_RATE) if snap.run.from_script else ("images/s", keys.THROUGHPUT)
        )
        thr[unit] = snap.scalars(key_, 0, max_points=MAX_POINTS)
        return line_figure(
            lr,
            title="Learning rate & throughput",
            y_title="lr",
            y="zero",
            right=thr,
            right_title=unit.replace("/", " / "),
            markers=[m for m in markers if m.kind == "lr"],
            styles=styles,
        )

    c1, c2, c3 = st.columns([2, 2, 1.4])
    charts.show(c1, f"{key}.loss", lambda: metric_figure("loss"))
    charts.show(c2, f"{key}.acc", lambda: metric_figure("acc"))
    charts.show(c3, f"{key}.lr", lr_figure)


def gradients(snap: RunSnapshot, markers: list[Marker], key: str, charts: Charts) -> None:
    run = snap.run
    st.markdown("#### Per-layer gradient magnitude")
    st.caption(
        "Each row is one convolution or linear layer, input at the top, output at the bottom; "
        "colour is the L2 norm of that layer's weight gradient at each step (log scale, one "
        "batch). A row much darker than its neighbours is a layer that barely learns (vanishing "
        "gradient); a bright stripe across all rows is a gradient spike."
    )
    if snap.cohort:
        _cohort_heatmaps(snap, markers, key, charts)
        return
    for idx, name in snap.members:
        layers = list(snap.conv_layers(idx))
        if not layers or not run.step:
            st.caption("No gradient statistics yet.")
            continue

        def series(idx: int = idx):
            return snap.layer_series(keys.GRAD_NORM, idx, max_points=MAX_POINTS)

        title = f"Gradient L2 norm per layer{' · ' + name if len(run.members) > 1 else ''}"
        charts.show(
            st,
            f"{key}.heat.{idx}",
            lambda t=title: grad_heatmap(series(), title=t, markers=markers),
        )
        default = [layers[0], layers[len(layers) // 2], layers[-1]] if len(layers) > 2 else layers
        chosen = st.multiselect(
            "Layers to plot as lines",
            layers,
            default=list(dict.fromkeys(default)),
            key=f"{key}.layers.{run.id}.{idx}",
        )
        if chosen:
            charts.show(
                st,
                f"{key}.lines.{idx}",
                lambda c=chosen: layer_lines(series(), c, markers=markers),
                variant="|".join(chosen),
            )


def _cohort_heatmaps(snap: RunSnapshot, markers: list[Marker], key: str, charts: Charts) -> None:
    """One heatmap per member, side by side (up to three a row), on one colour scale."""
    members = snap.members
    if not snap.run.step:
        st.caption("No gradient statistics yet.")
        return
    st.caption("Same colour scale for every member: equal colours mean equal gradient norms.")

    def build(idx: int, name: str) -> go.Figure:
        every = snap.every_layer_series(keys.GRAD_NORM, max_points=MAX_POINTS)  # read once
        return grad_heatmap(
            every[idx],
            title=name,
            markers=[m for m in markers if m.kind != "lr"],
            zrange=log_range(*every.values()),
        )

    per_row = 3 if len(members) > 4 else 2
    for start in range(0, len(members), per_row):
        cols = st.columns(per_row)
        for col, (idx, name) in zip(cols, members[start : start + per_row], strict=False):
            charts.show(col, f"{key}.heat.{idx}", lambda i=idx, n=name: build(i, n))


def blocks(snap: RunSnapshot, key: str, charts: Charts) -> None:
    if snap.cohort:
        _cohort_blocks(snap, key, charts)
        return
    ratio = snap.latest_layer_stats(keys.RESIDUAL_RATIO)[0]
    if not len(ratio.steps):
        return
    with st.expander("Residual blocks at the last evaluation"):
        c1, c2 = st.columns(2)
        charts.show(
            c1,
            f"{key}.ratio",
            lambda: block_bars(
                ratio.layers, ratio.values[-1], title="‖F(x)‖ / ‖x‖ per block", y_title="ratio"
            ),
        )

        def std_bars() -> go.Figure:
            std = snap.latest_layer_stats(keys.RESPONSE_STD)[0]
            return block_bars(
                std.layers, std.values[-1], title="Response std of F(x) per block", y_title="std"
            )

        charts.show(c2, f"{key}.std", std_bars)
        st.caption(
            "Left: how much each block changes what passes through it, on 64 validation images "
            "(Veit et al. 2016 find most blocks make small refinements, a ratio well below 1). "
            "Right: standard deviation of each block's residual branch after its last BatchNorm, "
            "before the addition — the 'layer responses' of He et al. (2015), Fig. 7, which are "
            "smaller in residual nets than in plain ones. With a skip switched off the block is a "
            "plain layer pair and the ratio compares its output to its input."
        )


def _cohort_blocks(snap: RunSnapshot, key: str, charts: Charts) -> None:
    members = snap.members

    def last(kind: str) -> dict[str, LayerSeries]:
        every = snap.latest_layer_stats(kind)  # one indexed lookup a member, not the series
        return {n: every[i] for i, n in members}

    ratio = last(keys.RESIDUAL_RATIO)
    if not any(len(r.steps) for r in ratio.values()):
        return
    colours = {n: i for i, n in members}
    with st.expander("Residual blocks at the last evaluation, every member"):
        c1, c2 = st.columns(2)
        charts.show(
            c1,
            f"{key}.ratio",
            lambda: block_lines(
                {n: (r.layers, r.values[-1]) for n, r in ratio.items() if len(r.steps)},
                title="‖F(x)‖ / ‖x‖ per block",
                y_title="ratio",
                colours=colours,
            ),
        )
        charts.show(
            c2,
            f"{key}.std",
            lambda: block_lines(
                {
                    n: (r.layers, r.values[-1])
                    for n, r in last(keys.RESPONSE_STD).items()
                    if len(r.steps)
                },
                colours=colours,
            ),
        )
        st.caption(
            "Left: how much each block changes what passes through it (Veit et al. 2016). Right: "
            "std of each block's two-layer response after its last BatchNorm, before the "
            "addition — He et al. (2015), Fig. 7: smaller in residual nets than in plain ones. "
            "In a plain member the 'block' is simply its layer pair."
        )
