"""Showing one run: status, progress/ETA, curves, gradient heatmap; live while it trains."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import streamlit as st

from ..figures import Marker, block_bars, grad_heatmap, layer_lines, line_figure, smooth
from ..store import RunRecord, RunStore, default_runs_dir
from ..train.launcher import refresh, request_stop

POLL_SECONDS = 1.0
MAX_POINTS = 600  # per chart; the store thins longer series evenly

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
        _render(s, run, key)


@st.fragment(run_every=POLL_SECONDS)
def _live(run_id: str, key: str) -> None:
    s = store()
    refresh(s)
    run = s.get_run(run_id)
    if run is None:
        st.rerun()
    _render(s, run, key)
    if not run.active:
        st.rerun()  # the run ended: redraw the page once, without the timer


def _render(s: RunStore, run: RunRecord, key: str) -> None:
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
    _curves(s, run, markers, key)
    _gradients(s, run, markers, key)
    _blocks(s, run, key)
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


def _curves(s: RunStore, run: RunRecord, markers: list[Marker], key: str) -> None:
    members = _members(s, run)
    multi = len(members) > 1
    loss, loss_raw, acc, acc_raw, lr, thr = {}, {}, {}, {}, {}, {}
    for idx, name in members:
        prefix = f"{name} " if multi else ""
        x, y = s.scalars(run.id, "train/loss", idx, max_points=MAX_POINTS * 4)
        loss_raw[f"{prefix}train (per batch)"] = (x, y)
        loss[f"{prefix}train (smoothed)"] = (x, smooth(y))
        loss[f"{prefix}val"] = s.scalars(run.id, "val/loss", idx)
        x, y = s.scalars(run.id, "train/acc", idx, max_points=MAX_POINTS * 4)
        acc_raw[f"{prefix}train (per batch)"] = (x, y)
        acc[f"{prefix}train (smoothed)"] = (x, smooth(y))
        acc[f"{prefix}val"] = s.scalars(run.id, "val/acc", idx)
        lr[name] = s.scalars(run.id, "lr", idx, max_points=MAX_POINTS)
        thr[name] = s.scalars(run.id, "throughput", idx, max_points=MAX_POINTS)
    c1, c2 = st.columns(2)
    c1.plotly_chart(
        line_figure(loss, title="Loss", y_title="cross-entropy", faint=loss_raw, markers=markers),
        key=f"{key}.loss",
    )
    c2.plotly_chart(
        line_figure(acc, title="Accuracy", y_title="accuracy", faint=acc_raw, markers=markers),
        key=f"{key}.acc",
    )
    c3, c4 = st.columns(2)
    c3.plotly_chart(
        line_figure(lr, title="Learning rate", y_title="lr", height=260), key=f"{key}.lr"
    )
    c4.plotly_chart(
        line_figure(thr, title="Throughput", y_title="images / s", height=260), key=f"{key}.thr"
    )


def _gradients(s: RunStore, run: RunRecord, markers: list[Marker], key: str) -> None:
    st.markdown("#### Per-layer gradient magnitude")
    st.caption(
        "Each row is one convolution or linear layer, input at the top, output at the bottom; "
        "colour is the L2 norm of that layer's weight gradient at each step (log scale, one "
        "batch). A row much darker than its neighbours is a layer that barely learns (vanishing "
        "gradient); a bright stripe across all rows is a gradient spike."
    )
    for idx, name in _members(s, run):
        series = s.layer_series(run.id, "grad_norm", idx, max_points=MAX_POINTS)
        if not len(series.steps):
            st.caption("No gradient statistics yet.")
            continue
        title = f"Gradient L2 norm per layer{' · ' + name if len(run.members) > 1 else ''}"
        st.plotly_chart(grad_heatmap(series, title=title, markers=markers), key=f"{key}.heat.{idx}")
        layers = list(series.layers)
        default = [layers[0], layers[len(layers) // 2], layers[-1]] if len(layers) > 2 else layers
        chosen = st.multiselect(
            "Layers to plot as lines",
            layers,
            default=list(dict.fromkeys(default)),
            key=f"{key}.layers.{run.id}.{idx}",
        )
        if chosen:
            st.plotly_chart(layer_lines(series, chosen, markers=markers), key=f"{key}.lines.{idx}")


def _blocks(s: RunStore, run: RunRecord, key: str) -> None:
    ratio = s.layer_series(run.id, "residual_ratio")
    if not len(ratio.steps):
        return
    with st.expander("Residual blocks at the last evaluation"):
        std = s.layer_series(run.id, "response_std")
        c1, c2 = st.columns(2)
        c1.plotly_chart(
            block_bars(
                ratio.layers, ratio.values[-1], title="‖F(x)‖ / ‖x‖ per block", y_title="ratio"
            ),
            key=f"{key}.ratio",
        )
        c2.plotly_chart(
            block_bars(
                std.layers, std.values[-1], title="Response std of F(x) per block", y_title="std"
            ),
            key=f"{key}.std",
        )
        st.caption(
            "Left: how much each block changes what passes through it, on 64 validation images "
            "(Veit et al. 2016 find most blocks make small refinements, a ratio well below 1). "
            "Right: standard deviation of each block's residual branch after its last BatchNorm, "
            "before the addition — the 'layer responses' of He et al. (2015), Fig. 7, which are "
            "smaller in residual nets than in plain ones. With a skip switched off the block is a "
            "plain layer pair and the ratio compares its output to its input."
        )
