"""Starting runs from the pages: the Start row the Train page and the Skip Lab share (the setup
in one line, a Start button), and the Train page's offer to train a run again with its twin."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ..config import TrainConfig
from ..devices import pick_device
from ..errors import ResNetVizError
from ..train import launcher
from ..train.estimate import estimate
from . import roles
from .resources import store
from .text import md


def _launch(cfg: TrainConfig) -> str | None:
    """Record ``cfg`` and start its worker; the run id, or ``None`` after saying why not."""
    if refusal := roles.start_refusal():  # asked again: two quick clicks, two tabs
        st.warning(md(refusal))
        return None
    try:
        run_id = launcher.launch(store(), cfg, owner=roles.owner())
    except ResNetVizError as err:
        st.error(f"Cannot start: {md(err)}")
        return None
    launcher.prewarm(store())  # the next Start gets a warm worker too
    return run_id


def start_row(
    build: Callable[[], TrainConfig],
    summary: Callable[[TrainConfig], str],
    *,
    what: str,
    label: str,
    icon: str,
    key: str,
    cohort: bool = False,
) -> tuple[TrainConfig | None, str | None]:
    """Build the setup from the page's widgets (if it cannot run, say why, naming it ``what``),
    show its ``summary`` and a Start button (disabled without a valid setup). On Start, launch
    the run, remember it in ``st.session_state[key]`` and the URL's ``run``, and say so.
    Returns the setup and the run to show: the one started here, or the URL's; with neither,
    offers to open a live run of the page's kind (``cohort``: the Skip Lab's)."""
    try:
        cfg: TrainConfig | None = build()
    except ResNetVizError as err:
        cfg = None
        st.error(f"This {what} cannot run: {md(err)}")
    left, right = st.columns([3, 1], vertical_alignment="center")
    if cfg is not None:
        left.markdown(summary(cfg))
    start = roles.button(
        label,
        roles.start_refusal(),
        where=right,
        disabled=cfg is None,
        icon=icon,
        type="primary",
        width="stretch",
    )
    if start and cfg is not None and (run_id := _launch(cfg)) is not None:
        _open(key, run_id)
        st.toast(f"Started {md(cfg.name)} ({run_id}).", icon=icon)
    shown = st.session_state.get(key) or st.query_params.get("run")
    if cfg is not None and shown is None and (took := _estimate(cfg)) is not None:
        left.caption(f"Takes {took}.")
    if shown is None:
        _offer_live_run(key, cohort=cohort)
    return cfg, shown


@st.cache_data(ttl=30, show_spinner=False, max_entries=64)
def _estimate(cfg: TrainConfig) -> str | None:
    """How long ``cfg`` will take here, in words (re-read every 30 s, as runs finish)."""
    device = pick_device(cfg.device)[0].type
    found = estimate(cfg, store().list_runs(), device)
    return None if found is None else found.describe()


def _open(key: str, run_id: str) -> None:
    """Show ``run_id`` on this page: in the session, and in the URL, so a reload, a second tab
    or a shared link opens the same run."""
    st.session_state[key] = run_id
    st.query_params["run"] = run_id


def _offer_live_run(key: str, *, cohort: bool) -> None:
    """A page opened fresh while a run of its kind trains (a cohort for the Skip Lab, a single
    model for Train) offers to open the newest such run."""
    live = [r for r in store().active_runs() if (len(r.members) > 1) == cohort]
    if not live:
        return
    run = live[-1]  # the newest
    left, right = st.columns([3, 1], vertical_alignment="center")
    total = f"/{run.total_steps:,}" if run.total_steps else ""
    left.info(
        f"**{md(run.name)}** is training now: {run.describe()} · {run.status} · step "
        f"{run.step:,}{total}.",
        icon=":material/directions_run:",
    )
    right.button(
        "Open it",
        key=f"{key}.open_live",
        icon=":material/open_in_new:",
        width="stretch",
        on_click=_open,
        args=(key, run.id),
    )


def twin_button(run_id: str) -> None:
    """Offer a single-model run's setup again as a two-member cohort with its plain (or
    residual) twin; on a click, start it and open it in the Skip Lab."""
    record = store().get_run(run_id)
    if record is None or len(record.members) != 1 or record.from_script:
        return  # a script's run: the app does not know how it trained, so no twin to offer
    try:
        cohort = record.config.with_twin()
    except ResNetVizError:
        return  # a record from an older version that no longer validates: nothing to offer
    twin = cohort.cohort[0]
    kind = "plain" if twin.plain else "residual"
    refusal = roles.start_refusal()
    clicked = st.button(
        f"Train again with its {kind} twin ({twin.label})",
        icon=":material/compare_arrows:",
        key="train.twin",
        disabled=bool(refusal),
        help=refusal  # the Start row above already says it in full
        or "Starts a cohort in the Skip Lab: this setup and its twin in lockstep, same batches "
        "and the same initial weights, with live skip controls and a lesion study afterwards.",
    )
    if clicked and (new_id := _launch(cohort)) is not None:
        st.session_state["lab.run_id"] = new_id
        st.switch_page("pages/skiplab.py", query_params={"run": new_id})
