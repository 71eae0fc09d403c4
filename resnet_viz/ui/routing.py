"""Make every page load go through ``app.py``'s ``st.navigation``.

With a ``pages/`` folder beside the entry script, Streamlit 1.67 starts each server in its
legacy multipage mode and only leaves it once some session runs ``st.navigation``. So when the
first request to a fresh server is a deep link (``/train?epochs=5`` shared by a teacher), the
page script runs on its own: no page config, legacy sidebar (see streamlit/streamlit#10276).
Pages call :func:`route_through_app` first; in that situation it switches the process to
``st.navigation`` routing and reruns, and ``app.py`` then routes the same URL normally.
"""

from __future__ import annotations

import streamlit as st

try:  # internal API; if it moves, pages still work, only a first deep link looks plainer
    from streamlit.runtime.pages_manager import PagesManager
except ImportError:  # pragma: no cover
    PagesManager = None


def route_through_app() -> None:
    if PagesManager is not None and getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
