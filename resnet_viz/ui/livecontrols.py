"""A live cohort's state table and live controls (skips, learning rate, BatchNorm mode): each
control writes a row to the run store; the worker applies it before its next step and records
an event that every chart marks."""

from __future__ import annotations

import streamlit as st

from .. import keys
from ..archs import stage_count
from ..controls import BN_MODES, Change, member_states, recorded_changes
from ..figures.training import smooth
from ..store import RunRecord, RunSnapshot, RunStore
from .tables import percent, percent_bar

SKIP_CHOICES = {"on ×1": 1.0, "scaled ×0.5": 0.5, "off ×0": 0.0}
LR_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
BN_LABELS = {"batch": "batch statistics", "frozen": "frozen running statistics"}


# The smoothed loss of the members table is the last point of smooth() over the whole series;
# with its weight of 0.9, points further back than this weigh less than 1e-20 in it.
SMOOTHED_TAIL = 500


def member_table(snap: RunSnapshot) -> None:
    """One row per cohort member: its live state, smoothed train loss, validation accuracy."""
    members = snap.run.config.members
    states = member_states(
        [m.skip for m in members],
        [stage_count(m.arch) for m in members],
        [c for _, c in recorded_changes(snap.events)],
    )
    diverged = {e.member: e.step for e in snap.events if e.kind == "diverged"}
    best = snap.best(keys.VAL_ACC)
    rows = []
    for (idx, name), state, cfg in zip(snap.members, states, members, strict=False):
        _, loss = snap.scalars(keys.TRAIN_LOSS, idx, last=SMOOTHED_TAIL)
        rows.append(
            {
                "member": name,
                "now": state.describe(batchnorm=cfg.batchnorm)
                + (f" · diverged @ {diverged[idx]}" if idx in diverged else ""),
                "train loss (smoothed)": float(smooth(loss)[-1]) if len(loss) else None,
                "best val acc": percent(best.get(idx)),
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "best val acc": percent_bar(),
            "train loss (smoothed)": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def live_controls(snap: RunSnapshot, key: str) -> int | None:
    """Skip switches, learning rate and BatchNorm mode for a live run: each writes a control
    row; the worker applies it before its next step and records an event that every chart
    marks. Returns the id of the control sent by this run of the page, if any."""
    s, run, members = snap.store, snap.run, snap.members
    names = [n for _, n in members]
    counts = [stage_count(m.arch) for m in run.config.members]
    blocks = list(dict.fromkeys(b for i, _ in members for b in snap.block_layers(i)))
    sent = None
    with st.container(border=True):
        st.markdown(
            "**Live controls** · the worker applies a change before its next step and every chart "
            "marks it (purple: skips, orange: learning rate, green: BatchNorm)."
        )
        if run.config.experiment:
            st.caption(
                "A change here alters the experiment as designed: its verdict at the end judges "
                "what actually ran (the same learning rate or BatchNorm change for every member "
                "keeps a comparison fair), or says it cannot judge, and why."
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
            sent = _send(
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
            sent = _send(s, run, Change("lr", factor, member=member), names)
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
            sent = _send(s, run, Change("bn", mode or "batch", member=member), names)
    return sent


def _send(s: RunStore, run: RunRecord, change: Change, names: list[str]) -> int:
    control_id = s.add_control(run.id, change.kind, change.payload())
    st.toast(f"Sent: {change.describe(names)}.", icon=":material/send:")
    return control_id
