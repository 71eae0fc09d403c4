"""Showing one run: status, progress/ETA, outcome, then its charts (``runcharts``); live while
it trains, polling the run store from one fragment. With ``controls=True`` (the Skip Lab) a
live cohort also gets its state table and live controls (``livecontrols``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from .. import keys
from ..errors import ResNetVizError, StoreError
from ..figures.training import event_markers
from ..store import Event, RunRecord, RunSnapshot, RunStore
from ..train.launcher import STALE_AFTER_S, max_runs, refresh, request_stop
from . import roles
from .livecontrols import live_controls, member_table
from .resources import store, store_failure
from .runcharts import CHART_SECONDS_SMALL_CPU, Charts, blocks, chart_period, curves, gradients
from .text import md

POLL_SECONDS = 1.0
# The header's scan for runs whose worker died, shared by every tab of this server: dead runs
# are told by a heartbeat 20 s stale, so a scan every 2 s (not one per tab a second) is enough.
REAP_SECONDS = 2.0
# A starting run's view waits up to this long for the first logged step before drawing, so the
# first charts come with this run of the fragment, not the next: Streamlit's run_every timer
# runs in the browser, and on a busy 2-core machine it fired 1.8 s after the previous run.
FIRST_DATA_WAIT = 1.5
# After a live control is sent, the view waits up to this long for the worker's event, so the
# charts drawn in the same run already mark it (the worker applies a change between steps:
# measured 0.03-1.2 s on 2 cores) instead of one poll, or one late browser timer, later.
CONTROL_WAIT = 1.5
T = TypeVar("T")
PREPARING = "Preparing data and model… charts appear with the first steps."
ANALYSING = (
    "Training is done: the worker is analysing the trained nets, so there are no live controls "
    "left to use. The finished view, with its analyses, appears here when it ends."
)

STATUS_ICONS = {
    "queued": ":material/hourglass_empty:",
    "running": ":material/directions_run:",
    "finished": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "diverged": ":material/warning:",
    "failed": ":material/error:",
    "interrupted": ":material/report:",
}


def _fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = round(s)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def show_run(run_id: str, *, key: str, controls: bool = False) -> RunRecord | None:
    """Render ``run_id``; while it is active, poll the store in two fragments: the header
    (status, progress, metrics) every second, and the rest (members, live controls, charts)
    as often as its charts redraw. ``controls``: show the live controls (skips, lr, BatchNorm)
    while it trains. Returns the record as it was when the page script drew it."""
    s = store()
    refresh(s)
    run = s.get_run(run_id)
    if run is None:
        st.warning(f"Run {run_id} is not in the run store ({s.root}); it may have been deleted.")
        return None
    if run.active:
        period = _body_period(run, key)
        st.session_state[f"{key}.body_period"] = period  # before the header compares with it
        st.session_state[f"{key}.page_run"] = True  # the header's first run: part of this one
        _live_top(run_id, key)
        (_live_body_each_second if period == 1 else _live_body_slow)(run_id, key, controls)
    else:
        snap = RunSnapshot(s, run)
        _top(snap, key)
        _body(snap, key, live=False, controls=False)
    return run


def _body_period(run: RunRecord, key: str) -> float:
    """How often the live body redraws: every second until the first step is logged (the
    first charts come at once), then as often as its charts (runcharts.chart_period)."""
    if run.step == 0:
        return 1.0
    return chart_period(run, every_second=st.session_state.get(f"{key}.charts_every_second", False))


# Two fragments, since a fragment's interval is fixed: one draws the page part that must stay
# current (thirty watching tabs cost the server little: bench/classroom_load.py), the other the
# charts, the members table and the live controls, at the charts' own pace.
@st.fragment(run_every=POLL_SECONDS)
def _live_top(run_id: str, key: str) -> None:
    s = store()
    try:
        refresh(s, at_most_every=REAP_SECONDS)
        run = s.get_run(run_id)
        if run is None:
            st.rerun()
        if run.status == "running" and run.step == 0:
            run = _wait_for_first_step(s, run)
        _top(RunSnapshot(s, run), key)
    except StoreError as err:  # a fragment's rerun is not inside app.py's guard
        store_failure(err)
        return
    if st.session_state.pop(f"{key}.page_run", False):
        return  # drawn with the page: the body below is drawn with it
    # The run ended, or the body should redraw at another pace (its first data came): the
    # whole page once.
    if not run.active or _body_period(run, key) != st.session_state.get(f"{key}.body_period"):
        st.rerun()


def _live_body(run_id: str, key: str, controls: bool) -> None:
    s = store()
    try:
        run = s.get_run(run_id)
        if run is None or not run.active:
            return  # the header's fragment redraws the page
        if _body_period(run, key) != st.session_state.get(f"{key}.body_period"):
            st.rerun()  # "Redraw charts every second" was switched: the page at its new pace
        _body(RunSnapshot(s, run), key, live=True, controls=controls)
    except StoreError as err:
        store_failure(err)


@st.fragment(run_every=POLL_SECONDS)
def _live_body_each_second(run_id: str, key: str, controls: bool) -> None:
    _live_body(run_id, key, controls)


@st.fragment(run_every=CHART_SECONDS_SMALL_CPU)
def _live_body_slow(run_id: str, key: str, controls: bool) -> None:
    _live_body(run_id, key, controls)


def _poll(
    value: T, read: Callable[[T], T], ready: Callable[[T], bool], seconds: float, every: float
) -> T:
    """``value``, re-read from the store every ``every`` s until ``ready`` or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = read(value)
    return value


def _wait_for_first_step(s: RunStore, run: RunRecord) -> RunRecord:
    """Say the run is preparing, and poll the store until its first step is logged (or
    FIRST_DATA_WAIT passes); the newest record."""
    slot = st.empty()
    slot.info(PREPARING)
    run = _poll(
        run,
        lambda r: s.get_run(r.id) or r,
        lambda r: not (r.active and r.step == 0),
        FIRST_DATA_WAIT,
        every=0.1,
    )
    slot.empty()
    return run


def _wait_for_event(s: RunStore, run: RunRecord, control_id: int) -> list[Event]:
    """Poll the store until the worker has recorded the event of ``control_id`` (or
    CONTROL_WAIT passes); the run's newest events."""
    return _poll(
        s.events(run.id),
        lambda _: s.events(run.id),
        lambda events: any(e.payload.get("control_id") == control_id for e in events),
        CONTROL_WAIT,
        every=0.05,
    )


def _top(snap: RunSnapshot, key: str) -> None:
    _header(snap, key)
    _explain_outcome(snap.run)


def _body(snap: RunSnapshot, key: str, *, live: bool, controls: bool) -> None:
    s, run = snap.store, snap.run
    if snap.cohort:
        member_table(snap)
    training = run.active and (not run.total_steps or run.step < run.total_steps)
    if controls and training and run.status == "running" and (why := roles.steer_refusal(run)):
        roles.refused(why)
    elif controls and training and run.status == "running":
        sent = live_controls(snap, key)
        if sent is not None:
            snap.events = _wait_for_event(s, run, sent)
    elif controls and run.active and run.step:
        st.caption(ANALYSING)
    events = snap.events
    markers = event_markers(events, [n for _, n in snap.members])
    if run.status == "queued":  # nothing to chart yet: where it waits, and what for
        st.info(_queue_text(s, run), icon=":material/hourglass_empty:")
        return
    if run.step == 0 and run.active:
        st.info(PREPARING)
    fast = f"{key}.charts_every_second"
    charts = Charts(key, run, live, len(events), every_second=st.session_state.get(fast, False))
    if live and charts.small_cpu:
        c1, c2 = st.columns([1, 2], vertical_alignment="center")
        c1.toggle(
            "Redraw charts every second",
            key=fast,
            help="Each redraw of the charts took the browser about 1.3 s of CPU on a 2-core "
            "machine, CPU that training then lacks; every 3 s leaves more of it to training "
            "(docs/benchmarks.md).",
        )
        every = "second" if charts.period == 1 else f"{charts.period:g} s"
        c2.caption(
            f"Charts show step {charts.drawn_at:,}. They redraw every {every} while training on "
            "this CPU"
            + (", so the browser does not slow training down" if charts.period > 1 else "")
            + "; the progress line and metrics above update every second."
        )
    curves(snap, markers, key, charts)
    gradients(snap, markers, key, charts)
    blocks(snap, key, charts)
    _events(events)


def _queue_text(s: RunStore, run: RunRecord) -> str:
    """Where a queued run stands, and what it waits for."""
    ahead = s.queue_position(run.id) or 0
    try:
        limit = max_runs()
    except ResNetVizError:
        limit = 1
    runs = f"{limit} run{'s' * (limit != 1)} train{'s' * (limit == 1)}"
    waits = "runs wait" if ahead != 1 else "run waits"
    place = "It is next" if ahead == 0 else f"{ahead} {waits} ahead of it"
    return (
        f"**Waiting in the queue.** On this machine {runs} at once (RESNET_VIZ_MAX_RUNS). "
        f"{place}; it starts by itself when a slot frees, and its charts appear here then. "
        "Cancel takes it out of the queue."
    )


def _events(events: list[Event]) -> None:
    with st.expander(f"Events ({len(events)})"):
        for e in events:
            st.markdown(f"- step {e.step} · **{md(e.kind)}** · {md(e.message)}")


def _header(snap: RunSnapshot, key: str) -> None:
    run = snap.run
    icon = STATUS_ICONS.get(run.status, "")
    top = st.columns([3, 1])
    top[0].markdown(f"### {icon} {md(run.name)} · `{run.id}`")
    top[0].caption(md(run.describe()) + (f" · device {run.device}" if run.device else ""))
    if run.script and run.script.get("argv"):
        top[0].caption(
            f"Trained by your script: {md(' '.join(run.script['argv']))}. Stop reaches it "
            "(run.should_stop); the app's live controls do not."
        )
    queued = run.status == "queued"
    stop = run.active and roles.button(
        "Cancel" if queued else "Stop",
        roles.steer_refusal(run),
        where=top[1],
        icon=":material/cancel:" if queued else ":material/stop:",
        key=f"{key}.stop.{run.id}",
        type="primary",
        width="stretch",
    )
    if stop:
        request_stop(snap.store, run.id)
        if queued:
            st.toast("Cancelled: taken out of the queue.", icon=":material/cancel:")
        else:
            said = (
                "Stop requested; your script sees it in run.should_stop within a second."
                if run.from_script
                else "Stop requested; the worker stops at its next step."
            )
            st.toast(said, icon=":material/stop:")
    total = run.total_steps or 0
    elapsed = run.duration
    eta = None
    if run.active and run.step and elapsed:
        eta = elapsed / run.step * (total - run.step)
    frac = min(1.0, run.step / total) if total else 0.0
    text = f"{run.status} · step {run.step:,}/{total:,}" + (
        f" · ETA {_fmt_seconds(eta)}" if eta is not None else ""
    )
    if queued:
        ahead = snap.store.queue_position(run.id) or 0
        text = "queued · next in line" if ahead == 0 else f"queued · {ahead} ahead in line"
    if total or queued:
        st.progress(frac, text=text)
    else:  # a script's loop that did not say how long it is: no bar that never fills
        st.markdown(f"**{run.status}** · step {run.step:,}")
    quiet = time.time() - (run.heartbeat or run.created)
    if run.status == "running" and quiet > STALE_AFTER_S:
        st.warning(
            f"No word from the training process for {_fmt_seconds(quiet)}. It may be busy (a "
            "long analysis), or the run store may have stopped taking writes (a full disk, a "
            "read-only folder); the worker records how the run ended as soon as it can.",
            icon=":material/hourglass_top:",
        )
    best, who = _best_val_acc(snap)
    cols = st.columns(4)
    cols[0].metric("Status", run.status)
    label = "Best val accuracy" + (f" ({who})" if who else "")
    cols[1].metric(label, f"{best:.1%}" if best is not None else "–")
    # The unit in the label: "1,187 img/s" did not fit a quarter of the page in presentation mode.
    if run.from_script:  # a script does not say its batch size: its steps, not its images
        rate = snap.latest(keys.STEP_RATE).get(0)
        cols[2].metric("Steps / s", f"{rate:,.1f}" if rate is not None else "–")
    else:
        throughput = snap.latest(keys.THROUGHPUT).get(0)
        cols[2].metric("Images / s", f"{throughput:,.0f}" if throughput is not None else "–")
    cols[3].metric("Elapsed", _fmt_seconds(elapsed))


def _best_val_acc(snap: RunSnapshot) -> tuple[float | None, str]:
    """The best validation accuracy so far, and (in a cohort) which member reached it."""
    best, who = None, ""
    names = dict(snap.members)
    for idx, acc in snap.best(keys.VAL_ACC).items():
        if acc is not None and (best is None or acc > best):
            best, who = acc, names[idx] if snap.cohort else ""
    return best, who


def _explain_outcome(run: RunRecord) -> None:
    if run.status == "diverged":
        st.error(
            f"**Diverged.** {md(run.reason)}\n\nWhen the loss becomes NaN or explodes, the weights "
            "have left the region where the network computes anything useful; training cannot "
            "recover from there. The dashed red line on the charts marks the step."
        )
    elif run.status in ("failed", "interrupted"):
        st.error(f"**{run.status.capitalize()}.** {md(run.reason)}")
    elif run.status == "stopped":
        kept = "" if run.from_script else " The checkpoint was saved at that step."
        st.info(f"**Stopped.** {md(run.reason)}{kept}")
