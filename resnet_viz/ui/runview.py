"""Showing one run: status, progress/ETA, curves, gradient heatmaps; live while it trains.

A cohort (several members trained in lockstep) is overlaid on every chart, one colour per
member, its gradient heatmaps side by side on one colour scale; with ``controls=True`` (the
Skip Lab) a live run also gets the live controls: skips, learning rate, BatchNorm mode."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ..config import TrainConfig
from ..figures.lab import block_lines
from ..figures.training import (
    Marker,
    block_bars,
    event_markers,
    grad_heatmap,
    layer_lines,
    line_figure,
    log_range,
    member_colour,
    smooth,
)
from ..store import Event, RunRecord, RunStore, default_runs_dir, thin_indices
from ..train.controls import BN_MODES, Change, member_states
from ..train.launcher import refresh, request_stop

POLL_SECONDS = 1.0
# Points per trace. The browser redraws every chart once a second while a run is live, and on a
# 2-core laptop that redraw competes with training itself: keep it light.
MAX_POINTS = 300
# While a run is live, figures are rebuilt at most this often; in between the 1 s poll re-sends
# the previous figures, which the browser does not redraw. Measured on a 2-core machine with
# Chromium: redrawing the run view every second took about a core from training and doubled
# the default preset's time to 90%. Progress, ETA and metrics still update every second.
CHART_SECONDS_SMALL_CPU = 3.0
CHART_SECONDS = 1.0
# A starting run's view waits up to this long for the first logged step before drawing, so the
# first charts come with this run of the fragment, not the next: Streamlit's run_every timer
# runs in the browser, and on a busy 2-core machine it fired 1.8 s after the previous run.
FIRST_DATA_WAIT = 1.5
PREPARING = "Preparing data and model… charts appear with the first steps."


class _Charts:
    """The run view's figures, rebuilt only when due (see CHART_SECONDS_SMALL_CPU)."""

    def __init__(self, key: str, run: RunRecord, live: bool, events: int = 0) -> None:
        self.cache = st.session_state.setdefault(f"{key}.figures", {})
        if self.cache.get("_run") != run.id:
            self.cache.clear()
            self.cache["_run"] = run.id
        on_gpu = (run.device or "").startswith(("cuda", "mps"))
        period = CHART_SECONDS if on_gpu or (os.cpu_count() or 1) >= 8 else CHART_SECONDS_SMALL_CPU
        now = time.monotonic()
        self.period = period
        # Rebuild when due; at once when the first data arrives after an empty view, and when
        # a new event (a live skip change…) must be marked: the Skip Lab promises it within 2 s.
        first_data = self.cache.get("_step") == 0 and run.step > 0
        new_event = self.cache.get("_events", events) != events
        due = now - self.cache.get("_t", -1e9) >= period
        self.fresh = not live or first_data or new_event or due
        if self.fresh:
            self.cache["_t"], self.cache["_step"] = now, run.step
            self.cache["_events"] = events

    def show(self, where, key: str, build: Callable[[], go.Figure], *, variant: str = "") -> None:
        """Draw the figure for element ``key``; a new ``variant`` (e.g. other chosen layers)
        is built at once rather than at the next due time."""
        slot = f"{key}|{variant}"
        if self.fresh or slot not in self.cache:
            self.cache[slot] = build()
        where.plotly_chart(self.cache[slot], key=key)


SKIP_CHOICES = {"on ×1": 1.0, "scaled ×0.5": 0.5, "off ×0": 0.0}
LR_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
BN_LABELS = {"batch": "batch statistics", "frozen": "frozen running statistics"}

STATUS_ICONS = {
    "queued": ":material/hourglass_empty:",
    "running": ":material/directions_run:",
    "finished": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "diverged": ":material/warning:",
    "failed": ":material/error:",
    "interrupted": ":material/report:",
}


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


def store() -> RunStore:
    """The run store under ``RESNET_VIZ_RUNS_DIR`` (default ``./runs``), shared by sessions."""
    return _store(str(default_runs_dir().resolve()))


def describe_config(cfg: dict[str, Any]) -> str:
    """``resnet8 · shapes · skips on · BN · sgd lr 0.1 onecycle · 4 ep × 128``; a cohort names
    its members instead: ``plain20 vs resnet20 · shapes · sgd …``."""
    m, d, o = cfg.get("model", {}), cfg.get("data", {}), cfg.get("optim", {})
    tail = (
        f"{o.get('optimizer')} lr {o.get('lr'):g} {o.get('schedule')} · "
        f"{cfg.get('epochs')} ep × {cfg.get('batch_size')}"
    )
    if cfg.get("cohort"):
        labels = " vs ".join(member.label for member in TrainConfig.from_dict(cfg).members)
        return f"{labels} · {d.get('dataset')} {d.get('image_size', 32)} px · {tail}"
    scales = m.get("skip", [1])
    if all(s == 1 for s in scales):
        skips = "skips on"
    elif all(s == 0 for s in scales):
        skips = "skips off (plain)"
    else:
        skips = "skips " + ",".join(f"{s:g}" for s in scales)
    return (
        f"{m.get('arch')} · {d.get('dataset')} · {skips} · "
        f"{'BN' if m.get('batchnorm', True) else 'no BN'} · {tail}"
    )


def _fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = round(s)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def show_run(run_id: str, *, key: str, controls: bool = False) -> RunRecord | None:
    """Render ``run_id``; while it is active, poll the store once a second in a fragment.
    ``controls``: show the live controls (skips, lr, BatchNorm) while it trains. Returns the
    record as it was when the page script drew it."""
    s = store()
    refresh(s)
    run = s.get_run(run_id)
    if run is None:
        st.warning(f"Run {run_id} is not in the run store ({s.root}); it may have been deleted.")
        return None
    if run.active:
        _live(run_id, key, controls)
    else:
        _render(s, run, key, live=False, controls=False)
    return run


@st.fragment(run_every=POLL_SECONDS)
def _live(run_id: str, key: str, controls: bool) -> None:
    s = store()
    refresh(s)
    run = s.get_run(run_id)
    if run is None:
        st.rerun()
    if run.active and run.step == 0:
        run = _wait_for_first_step(s, run)
    _render(s, run, key, live=run.active, controls=controls)
    if not run.active:
        st.rerun()  # the run ended: redraw the page once, without the timer


def _wait_for_first_step(s: RunStore, run: RunRecord) -> RunRecord:
    """Say the run is preparing, and poll the store until its first step is logged (or
    FIRST_DATA_WAIT passes); the newest record."""
    slot = st.empty()
    slot.info(PREPARING)
    deadline = time.monotonic() + FIRST_DATA_WAIT
    while run.active and run.step == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        run = s.get_run(run.id) or run
    slot.empty()
    return run


def _render(s: RunStore, run: RunRecord, key: str, *, live: bool, controls: bool) -> None:
    _header(s, run, key)
    events = s.events(run.id)
    markers = event_markers(events, [n for _, n in _members(s, run)])
    _explain_outcome(run)
    if len(run.members) > 1:
        member_table(s, run, events)
    if controls and run.active:
        live_controls(s, run, key, events)
    if run.step == 0 and run.active:
        st.info(PREPARING)
    charts = _Charts(key, run, live, len(events))
    if live and charts.period > 1:
        st.caption(
            f"Charts redraw every {charts.period:g} s while training on this CPU, so the browser "
            "does not slow training down; progress and metrics update every second."
        )
    _curves(s, run, markers, key, charts)
    _gradients(s, run, markers, key, charts)
    _blocks(s, run, key, charts)
    _events(events)


def _events(events: list[Event]) -> None:
    with st.expander(f"Events ({len(events)})"):
        for e in events:
            st.markdown(f"- step {e.step} · **{e.kind}** · {e.message}")


def _header(s: RunStore, run: RunRecord, key: str) -> None:
    icon = STATUS_ICONS.get(run.status, "")
    top = st.columns([3, 1])
    top[0].markdown(f"### {icon} {run.name} · `{run.id}`")
    top[0].caption(describe_config(run.config) + (f" · device {run.device}" if run.device else ""))
    stop = run.active and top[1].button(
        "Stop",
        icon=":material/stop:",
        key=f"{key}.stop.{run.id}",
        type="primary",
        width="stretch",
    )
    if stop:
        request_stop(s, run.id)
        st.toast("Stop requested; the worker stops at its next step.", icon=":material/stop:")
    total = run.total_steps or 0
    elapsed = run.duration
    eta = None
    if run.active and run.step and elapsed:
        eta = elapsed / run.step * (total - run.step)
    frac = min(1.0, run.step / total) if total else 0.0
    text = f"{run.status} · step {run.step:,}/{total:,}" + (
        f" · ETA {_fmt_seconds(eta)}" if eta is not None else ""
    )
    st.progress(frac, text=text)
    best, who = _best_val_acc(s, run)
    _, thr = s.scalars(run.id, "throughput")
    cols = st.columns(4)
    cols[0].metric("Status", run.status)
    label = "Best val accuracy" + (f" ({who})" if who else "")
    cols[1].metric(label, f"{best:.1%}" if best is not None else "–")
    cols[2].metric("Throughput", f"{thr[-1]:,.0f} img/s" if len(thr) else "–")
    cols[3].metric("Elapsed", _fmt_seconds(elapsed))


def _best_val_acc(s: RunStore, run: RunRecord) -> tuple[float | None, str]:
    """The best validation accuracy so far, and (in a cohort) which member reached it."""
    best, who = None, ""
    for idx, name in _members(s, run):
        _, acc = s.scalars(run.id, "val/acc", idx)
        acc = acc[np.isfinite(acc)]
        if len(acc) and (best is None or acc.max() > best):
            best, who = float(acc.max()), name if len(run.members) > 1 else ""
    return best, who


def _explain_outcome(run: RunRecord) -> None:
    if run.status == "diverged":
        st.error(
            f"**Diverged.** {run.reason}\n\nWhen the loss becomes NaN or explodes, the weights "
            "have left the region where the network computes anything useful; training cannot "
            "recover from there. The dashed red line on the charts marks the step."
        )
    elif run.status in ("failed", "interrupted"):
        st.error(f"**{run.status.capitalize()}.** {run.reason}")
    elif run.status == "stopped":
        st.info(f"**Stopped.** {run.reason} The checkpoint was saved at that step.")


def _members(s: RunStore, run: RunRecord) -> list[tuple[int, str]]:
    return list(enumerate(run.members)) or [(0, run.name)]


def _thinned(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = thin_indices(len(steps), MAX_POINTS) if len(steps) > MAX_POINTS else slice(None)
    return steps[keep], values[keep]


def _curves(s: RunStore, run: RunRecord, markers: list[Marker], key: str, charts: _Charts) -> None:
    members = _members(s, run)
    multi = len(members) > 1

    def curves(metric: str) -> tuple[dict, dict, dict]:
        smoothed, raw, styles = {}, {}, {}
        for idx, name in members:
            # Smooth the full per-batch series, then thin what is drawn.
            x, y = s.scalars(run.id, f"train/{metric}", idx)
            val = s.scalars(run.id, f"val/{metric}", idx)
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

    def loss_figure() -> go.Figure:
        lines, raw, styles = curves("loss")
        return line_figure(
            lines,
            title="Loss" + (" (train smoothed, val dashed; log scale)" if multi else ""),
            y_title="cross-entropy",
            # Members differ by orders of magnitude (a plain net's early val loss can be in the
            # thousands): on a linear axis the others would be flat lines at the bottom.
            log_y=multi,
            faint=raw,
            markers=markers,
            styles=styles,
            legend_below=multi,
        )

    def acc_figure() -> go.Figure:
        lines, raw, styles = curves("acc")
        return line_figure(
            lines,
            title="Accuracy" + (" (train smoothed, val dashed)" if multi else ""),
            y_title="accuracy",
            faint=raw,
            markers=markers,
            styles=styles,
            legend_below=multi,
        )

    def lr_figure() -> go.Figure:
        lr, thr, styles = {}, {}, {}
        for idx, name in members:
            prefix = f"{name} " if multi else ""
            lr[f"{prefix}learning rate"] = s.scalars(run.id, "lr", idx, max_points=MAX_POINTS)
            if multi:
                styles[f"{prefix}learning rate"] = {"color": member_colour(idx)}
        # Throughput is the cohort's (all members step on each batch): one line.
        thr["images/s"] = s.scalars(run.id, "throughput", 0, max_points=MAX_POINTS)
        return line_figure(
            lr,
            title="Learning rate & throughput",
            y_title="lr",
            right=thr,
            right_title="images / s",
            markers=[m for m in markers if m.kind == "lr"],
            styles=styles,
        )

    c1, c2, c3 = st.columns([2, 2, 1.4])
    charts.show(c1, f"{key}.loss", loss_figure)
    charts.show(c2, f"{key}.acc", acc_figure)
    charts.show(c3, f"{key}.lr", lr_figure)


def _gradients(
    s: RunStore, run: RunRecord, markers: list[Marker], key: str, charts: _Charts
) -> None:
    st.markdown("#### Per-layer gradient magnitude")
    st.caption(
        "Each row is one convolution or linear layer, input at the top, output at the bottom; "
        "colour is the L2 norm of that layer's weight gradient at each step (log scale, one "
        "batch). A row much darker than its neighbours is a layer that barely learns (vanishing "
        "gradient); a bright stripe across all rows is a gradient spike."
    )
    members = _members(s, run)
    if len(members) > 1:
        _cohort_heatmaps(s, run, members, markers, key, charts)
        return
    for idx, name in members:
        layers = list(s.member_layers(run.id, idx))
        if not layers or not run.step:
            st.caption("No gradient statistics yet.")
            continue

        def series(idx: int = idx):
            return s.layer_series(run.id, "grad_norm", idx, max_points=MAX_POINTS)

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


def _cohort_heatmaps(
    s: RunStore,
    run: RunRecord,
    members: list[tuple[int, str]],
    markers: list[Marker],
    key: str,
    charts: _Charts,
) -> None:
    """One heatmap per member, side by side (up to three a row), on one colour scale."""
    if not run.step:
        st.caption("No gradient statistics yet.")
        return
    st.caption("Same colour scale for every member: equal colours mean equal gradient norms.")

    def build(idx: int, name: str) -> go.Figure:
        every = {
            i: s.layer_series(run.id, "grad_norm", i, max_points=MAX_POINTS) for i, _ in members
        }
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


def _blocks(s: RunStore, run: RunRecord, key: str, charts: _Charts) -> None:
    if len(run.members) > 1:
        _cohort_blocks(s, run, key, charts)
        return
    ratio = s.layer_series(run.id, "residual_ratio")
    if not len(ratio.steps):
        return
    with st.expander("Residual blocks at the last evaluation"):
        std = s.layer_series(run.id, "response_std")
        c1, c2 = st.columns(2)
        charts.show(
            c1,
            f"{key}.ratio",
            lambda: block_bars(
                ratio.layers, ratio.values[-1], title="‖F(x)‖ / ‖x‖ per block", y_title="ratio"
            ),
        )
        charts.show(
            c2,
            f"{key}.std",
            lambda: block_bars(
                std.layers, std.values[-1], title="Response std of F(x) per block", y_title="std"
            ),
        )
        st.caption(
            "Left: how much each block changes what passes through it, on 64 validation images "
            "(Veit et al. 2016 find most blocks make small refinements, a ratio well below 1). "
            "Right: standard deviation of each block's residual branch after its last BatchNorm, "
            "before the addition — the 'layer responses' of He et al. (2015), Fig. 7, which are "
            "smaller in residual nets than in plain ones. With a skip switched off the block is a "
            "plain layer pair and the ratio compares its output to its input."
        )


def _cohort_blocks(s: RunStore, run: RunRecord, key: str, charts: _Charts) -> None:
    members = _members(s, run)
    ratio = {n: s.layer_series(run.id, "residual_ratio", i) for i, n in members}
    if not any(len(r.steps) for r in ratio.values()):
        return
    colours = {n: i for i, n in members}
    with st.expander("Residual blocks at the last evaluation, every member"):
        std = {n: s.layer_series(run.id, "response_std", i) for i, n in members}
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
                {n: (r.layers, r.values[-1]) for n, r in std.items() if len(r.steps)},
                colours=colours,
            ),
        )
        st.caption(
            "Left: how much each block changes what passes through it (Veit et al. 2016). Right: "
            "std of each block's two-layer response after its last BatchNorm, before the "
            "addition — He et al. (2015), Fig. 7: smaller in residual nets than in plain ones. "
            "In a plain member the 'block' is simply its layer pair."
        )


# ---- cohort state and live controls --------------------------------------------------------
def _changes(events: list[Event]) -> list[Change]:
    out = []
    for e in events:
        if e.kind in ("skip", "lr", "bn"):
            try:
                out.append(Change.from_control(e.kind, e.payload))
            except ValueError:
                continue
    return out


def _stage_counts(s: RunStore, run: RunRecord) -> list[int]:
    counts = []
    for i, _ in _members(s, run):
        blocks = s.member_layers(run.id, i, "block")
        counts.append(len({b.split(".", 1)[0] for b in blocks}) or 1)
    return counts


def member_table(s: RunStore, run: RunRecord, events: list[Event]) -> None:
    """One row per cohort member: its live state, smoothed train loss, validation accuracy."""
    configs = s.member_configs(run.id)
    skips = [tuple(c.get("skip", [1.0])) for _, c in configs]
    states = member_states(skips, _stage_counts(s, run), _changes(events))
    diverged = {e.member: e.step for e in events if e.kind == "diverged"}
    rows = []
    for (idx, name), state in zip(_members(s, run), states, strict=False):
        _, loss = s.scalars(run.id, "train/loss", idx)
        _, acc = s.scalars(run.id, "val/acc", idx)
        finite = acc[np.isfinite(acc)]
        rows.append(
            {
                "member": name,
                "now": state.describe()
                + (f" · diverged @ {diverged[idx]}" if idx in diverged else ""),
                "train loss (smoothed)": float(smooth(loss)[-1]) if len(loss) else None,
                "best val acc": float(finite.max()) if len(finite) else None,
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "best val acc": st.column_config.ProgressColumn(
                format="percent", min_value=0, max_value=1
            ),
            "train loss (smoothed)": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def live_controls(s: RunStore, run: RunRecord, key: str, events: list[Event]) -> None:
    """Skip switches, learning rate and BatchNorm mode for a live run: each writes a control
    row; the worker applies it before its next step and records an event that every chart
    marks."""
    members = _members(s, run)
    names = [n for _, n in members]
    counts = _stage_counts(s, run)
    blocks = list(dict.fromkeys(b for i, _ in members for b in s.member_layers(run.id, i, "block")))
    with st.container(border=True):
        st.markdown(
            "**Live controls** · the worker applies a change before its next step and every chart "
            "marks it (purple: skips, orange: learning rate, green: BatchNorm)."
        )
        who = st.selectbox(
            "Apply to",
            ["all members", *names],
            key=f"{key}.ctl.who",
            disabled=len(names) == 1,
        )
        member = None if who == "all members" else names.index(who)
        c1, c2, c3 = st.columns([1.2, 1.4, 0.6], vertical_alignment="bottom")
        wheres = ["every block", *[f"stage {i}" for i in range(1, max(counts) + 1)], *blocks]
        where = c1.selectbox("Skip connections of", wheres, index=0, key=f"{key}.ctl.where")
        scale = c2.segmented_control(
            "Shortcut", list(SKIP_CHOICES), default="off ×0", key=f"{key}.ctl.scale"
        )
        if c3.button("Switch skips", key=f"{key}.ctl.skip", icon=":material/alt_route:"):
            stage = int(where[6:]) if where.startswith("stage ") else None
            block = where if where.startswith("layer") else None
            _send(
                s, run, Change("skip", SKIP_CHOICES[scale or "off ×0"], stage, block, member), names
            )
        c1, c2, c3 = st.columns([1.2, 1.4, 0.6], vertical_alignment="bottom")
        factor = c1.select_slider(
            "Learning rate × its schedule",
            LR_FACTORS,
            value=1.0,
            format_func=lambda f: f"×{f:g}",
            key=f"{key}.ctl.lr",
        )
        if c3.button("Set learning rate", key=f"{key}.ctl.lr.apply", icon=":material/speed:"):
            _send(s, run, Change("lr", factor, member=member), names)
        c1, c2, c3 = st.columns([1.2, 1.4, 0.6], vertical_alignment="bottom")
        mode = c1.segmented_control(
            "BatchNorm normalises with",
            list(BN_MODES),
            default="batch",
            format_func=BN_LABELS.get,
            key=f"{key}.ctl.bn",
        )
        c2.caption(
            "Frozen: every BN layer uses its running mean/variance instead of the batch's, as "
            "at test time (its scale and shift still learn): what BN does *during* training is "
            "gone."
        )
        if c3.button("Set BatchNorm", key=f"{key}.ctl.bn.apply", icon=":material/tune:"):
            _send(s, run, Change("bn", mode or "batch", member=member), names)


def _send(s: RunStore, run: RunRecord, change: Change, names: list[str]) -> None:
    payload = change.payload()
    s.add_control(run.id, change.kind, payload)
    st.toast(f"Sent: {change.describe(names)}.", icon=":material/send:")
