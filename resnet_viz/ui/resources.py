"""Resources cached for every browser session of the app."""

from __future__ import annotations

import streamlit as st

from ..store import RunStore, default_runs_dir


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


def store() -> RunStore:
    """The run store under ``RESNET_VIZ_RUNS_DIR`` (default ``./runs``), shared by sessions."""
    return _store(str(default_runs_dir().resolve()))
