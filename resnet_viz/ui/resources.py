"""Resources cached for every browser session of the app."""

from __future__ import annotations

import streamlit as st

from ..errors import StoreError
from ..store import RunStore, default_runs_dir
from .text import md


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


def store() -> RunStore:
    """The run store under ``RESNET_VIZ_RUNS_DIR`` (default ``./runs``), shared by sessions.
    Raises StoreError when it cannot be opened (not cached: a fixed store opens next time)."""
    return _store(str(default_runs_dir().resolve()))


def store_notice() -> None:
    """At the top of every page: a damaged store that opened read-only says so."""
    try:
        problem = store().problem
    except StoreError:
        return  # a page that needs the store says why (store_failure)
    if problem:
        st.warning(md(problem), icon=":material/database:")


def store_failure(err: StoreError) -> None:
    """What a page shows instead of a traceback when the run store cannot be used; the pages
    that do not need it (Activations and Explain on the bundled model) keep working."""
    st.error(f"**The run store cannot be used.** {md(err)}", icon=":material/database:")
    st.caption("Activations and Explain still work with the bundled model and your own pictures.")
