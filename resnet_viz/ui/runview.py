"""Showing one run: status, progress/ETA, curves, gradient heatmap; live while it trains."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ..figures import Marker, block_bars, grad_heatmap, layer_lines, line_figure, smooth
from ..store import RunRecord, RunStore, default_runs_dir, thin_indices
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


class _Charts:
    """The run view's figures, rebuilt only when due (see CHART_SECONDS_SMALL_CPU)."""

    def __init__(self, key: str, run: RunRecord, live: bool) -> None:
        self.cache = st.session_state.setdefault(f"{key}.figures", {})
        if self.cache.get("_run") != run.id:
            self.cache.clear()
            self.cache["_run"] = run.id
        on_gpu = (run.device or "").startswith(("cuda", "mps"))
        period = CHART_SECONDS if on_gpu or (os.cpu_count() or 1) >= 8 else CHART_SECONDS_SMALL_CPU
        now = time.monotonic()
        self.period = period
        # Rebuild when due, and at once when the first data arrives after an empty view.
        first_data = self.cache.get("_step") == 0 and run.step > 0
        self.fresh = not live or first_data or now - self.cache.get("_t", -1e9) >= period
        if self.fresh:
            self.cache["_t"], self.cache["_step"] = now, run.step

    def show(self, where, key: str, build: Callable[[], go.Figure], *, variant: str = "") -> None:
        """Draw the figure for element ``key``; a new ``variant`` (e.g. other chosen layers)
        is built at once rather than at the next due time."""
        slot = f"{key}|{variant}"
        if self.fresh or slot not in self.cache:
            self.cache[slot] = build()
        where.plotly_chart(self.cache[slot], key=key)


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
    """``resnet8 · shapes · skips on · BN · sgd lr 0.1 onecycle · 4 ep × 128``."""
    m, d, o = cfg.get("model", {}), cfg.get("data", {}), cfg.get("optim", {})
    scales = m.get("skip", [1])
    if all(s == 1 for s in scales):
        skips = "skips on"
    elif all(s == 0 for s in scales):
        skips = "skips off (plain)"
    else:
        skips = "skips " + ",".join(f"{s:g}" for s in scales)
    return (
        f"{m.get('arch')} · {d.get('dataset')} · {skips} · "
        f"{'BN' if m.get('batchnorm', True) else 'no BN'} · {o.get('optimizer')} lr "
        f"{o.get('lr'):g} {o.get('schedule')} · {cfg.get('epochs')} ep × {cfg.get('batch_size')}"
    )


def _fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = round(s)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def show_run(run_id: str, *, key: str) -> None:
    """Render ``run_id``; while it is active, poll the store once a second in a fragment."""
    s = store()
    refresh(s)
    run = s.get_run(run_id)
    if run is None:
        st.warning(f"Run {run_id} is not in the run store ({s.root}); it may have been deleted.")
        return
    if run.active:
        _live(run_id, key)
    else:
        _render(s, run, key, live=False)


@st.fragment(run_every=POLL_SECONDS)
def _live(run_id: str, key: str) -> None:
    s = store()
    refresh(s)
    run = s.get_run(run_id)
    if run is None:
        st.rerun()
    _render(s, run, key, live=run.active)
    if not run.active:
        st.rerun()  # the run ended: redraw the page once, without the timer


def _render(s: RunStore, run: RunRecord, key: str, *, live: bool) -> None:
    _header(s, run, key)
    events = s.events(run.id)
    markers = [
        Marker(e.step, f"{e.kind} @ {e.step}", e.kind)
        for e in events
        if e.kind in ("diverged", "stopped")
    ]
    _explain_outcome(run)
    if run.step == 0 and run.active:
        st.info("Preparing data and model… charts appear with the first steps.")
    charts = _Charts(key, run, live)
    if live and charts.period > 1:
        st.caption(
            f"Charts redraw every {charts.period:g} s while training on this CPU, so the browser "
            "does not slow training down; progress and metrics update every second."
        )
    _curves(s, run, markers, key, charts)
    _gradients(s, run, markers, key, charts)
    _blocks(s, run, key, charts)
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
    best = _best_val_acc(s, run)
    _, thr = s.scalars(run.id, "throughput")
    cols = st.columns(4)
    cols[0].metric("Status", run.status)
    cols[1].metric("Best val accuracy", f"{best:.1%}" if best is not None else "–")
    cols[2].metric("Throughput", f"{thr[-1]:,.0f} img/s" if len(thr) else "–")
    cols[3].metric("Elapsed", _fmt_seconds(elapsed))


def _best_val_acc(s: RunStore, run: RunRecord) -> float | None:
    _, acc = s.scalars(run.id, "val/acc")
    acc = acc[np.isfinite(acc)]
    return float(acc.max()) if len(acc) else None


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

    def curves(metric: str) -> tuple[dict, dict]:
        smoothed, raw = {}, {}
        for idx, name in members:
            prefix = f"{name} " if multi else ""
            # Smooth the full per-batch series, then thin what is drawn.
            x, y = s.scalars(run.id, f"train/{metric}", idx)
            raw[f"{prefix}train (per batch)"] = _thinned(x, y)
            smoothed[f"{prefix}train (smoothed)"] = _thinned(x, smooth(y))
            smoothed[f"{prefix}val"] = s.scalars(run.id, f"val/{metric}", idx)
        return smoothed, raw

    def loss_figure() -> go.Figure:
        lines, raw = curves("loss")
        return line_figure(lines, title="Loss", y_title="cross-entropy", faint=raw, markers=markers)

    def acc_figure() -> go.Figure:
        lines, raw = curves("acc")
        return line_figure(lines, title="Accuracy", y_title="accuracy", faint=raw, markers=markers)

    def lr_figure() -> go.Figure:
        lr, thr = {}, {}
        for idx, name in members:
            prefix = f"{name} " if multi else ""
            lr[f"{prefix}learning rate"] = s.scalars(run.id, "lr", idx, max_points=MAX_POINTS)
            thr[f"{prefix}images/s"] = s.scalars(run.id, "throughput", idx, max_points=MAX_POINTS)
        return line_figure(
            lr,
            title="Learning rate & throughput",
            y_title="lr",
            right=thr,
            right_title="images / s",
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
    for idx, name in _members(s, run):
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


def _blocks(s: RunStore, run: RunRecord, key: str, charts: _Charts) -> None:
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
