"""Presentation mode for projectors, and charts that follow Streamlit's light/dark theme.

Presentation mode (the sidebar's switch, or ``?present=1`` in any link) makes every page
readable from the back of a room: larger type, captions and notes in full black or white rather
than grey, explanations unfolded, and every chart restyled by :func:`figures.style.restyle`
(larger type, thicker lines). It is the session's own: one laptop projecting does not change
what the students' laptops show, and a reload or a shared link keeps it through the URL.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from ..figures.style import Look, restyle

KEY = "look.present"
PARAM = "present"

# Streamlit sizes its text in rem, so a larger root size scales every page alike. Captions and
# help text are grey by design: on a projector that is too faint, so they take the text colour.
PRESENT_CSS = """
<style>
html { font-size: 21px; }
[data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p,
[data-testid="stMarkdownContainer"] small { color: inherit !important; opacity: 1 !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { line-height: 1.55; }
</style>
"""


def presenting() -> bool:
    """Whether this session shows the app in presentation mode."""
    if KEY not in st.session_state:
        st.session_state[KEY] = st.query_params.get(PARAM) == "1"
    return bool(st.session_state[KEY])


def presentation_switch() -> None:
    """The sidebar switch, shown on every page (``app.py`` calls it), and its page style."""
    presenting()  # sets the default from the URL before the widget reads it
    st.sidebar.toggle(
        "Presentation mode",
        key=KEY,
        on_change=_keep_in_url,
        help="For a projector: larger type and lines, high contrast, explanations unfolded. "
        "Only this browser tab changes; add ?present=1 to a link to open it this way.",
    )
    if st.session_state[KEY]:
        st.html(PRESENT_CSS)


def _keep_in_url() -> None:
    """In the URL, so a reload or the link copied from here keeps it (set in the callback:
    the browser's URL follows changes made there)."""
    if st.session_state[KEY]:
        st.query_params[PARAM] = "1"
    elif PARAM in st.query_params:
        del st.query_params[PARAM]


def look() -> Look:
    """The look of this session's charts now."""
    return Look(dark=st.context.theme.type == "dark", present=presenting())


def plot(where, fig: go.Figure, *, key: str, **kwargs) -> None:
    """``where.plotly_chart(fig)`` with the figure restyled for this session's look."""
    where.plotly_chart(restyle(fig, look()), key=key, **kwargs)
