"""The Start row the Train page and the Skip Lab share: the setup in one line, a Start button,
and the launch of a worker for it."""

from __future__ import annotations

import streamlit as st

from ..config import TrainConfig
from ..errors import ResNetVizError
from ..train import launcher
from .resources import store


def start_row(cfg: TrainConfig | None, summary: str, *, label: str, icon: str, key: str) -> None:
    """Show ``summary`` and a Start button (disabled without a valid ``cfg``). On Start, launch
    the run, remember it in ``st.session_state[key]`` and the URL's ``run``, and say so."""
    left, right = st.columns([4, 1], vertical_alignment="center")
    if cfg is not None:
        left.markdown(summary)
    start = right.button(label, icon=icon, type="primary", width="stretch", disabled=cfg is None)
    if not start or cfg is None:
        return
    try:
        run_id = launcher.launch(store(), cfg)
    except ResNetVizError as err:
        st.error(f"Cannot start: {err}")
        return
    launcher.prewarm(store())  # the next Start gets a warm worker too
    st.session_state[key] = run_id
    st.query_params["run"] = run_id
    st.toast(f"Started {cfg.name} ({run_id}).", icon=icon)
