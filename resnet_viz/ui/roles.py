"""Who may do what in this browser session (classroom mode, :mod:`resnet_viz.classroom`).

Outside classroom mode everyone is the presenter and nothing changes. In a classroom, a session
that opened the presenter link is the presenter; every other session is a viewer, counted by
its laptop's address (its own session where the address is unknown), so a reload or a second
tab is still the same viewer. Pages ask ``*_refusal()`` before drawing a control: ``None``
means go ahead, otherwise the control is drawn disabled with that one line under it.
"""

from __future__ import annotations

import uuid

import streamlit as st

from .. import classroom
from ..store import RunRecord
from .resources import store
from .text import md

PRESENTER = "role.presenter"
SESSION = "role.session"


def in_classroom() -> bool:
    return classroom.classroom_mode()


def presenter() -> bool:
    """Whether this session may do everything. The presenter link's token is taken out of the
    URL once read, so it is neither projected nor in links copied from the address bar."""
    if not in_classroom():
        return True
    if PRESENTER not in st.session_state:
        st.session_state[PRESENTER] = False
    token = st.query_params.get(classroom.TOKEN_PARAM)
    if token is not None:
        if classroom.is_presenter_token(token):
            st.session_state[PRESENTER] = True
        del st.query_params[classroom.TOKEN_PARAM]
    return bool(st.session_state[PRESENTER])


def viewer_id() -> str:
    """Who this viewer is, for the per-viewer limit: their address, else this session."""
    address = getattr(st.context, "ip_address", None)
    if isinstance(address, str) and address:  # None where unknown (and in AppTest, a mock)
        return address
    if SESSION not in st.session_state:
        st.session_state[SESSION] = f"session-{uuid.uuid4().hex[:12]}"
    return st.session_state[SESSION]


def owner() -> str | None:
    """What a run started from this session records as its owner (None for the presenter)."""
    return None if presenter() else viewer_id()


def start_refusal() -> str | None:
    """Why this session may not start a run now."""
    if presenter():
        return None
    return classroom.viewer_start_refusal(store(), viewer_id())


def steer_refusal(run: RunRecord) -> str | None:
    """Why this session may not stop, cancel or steer ``run``."""
    if presenter() or classroom.viewer_may_steer(store(), viewer_id(), run):
        return None
    return classroom.VIEWER_STEER


def delete_refusal() -> str | None:
    return None if presenter() else classroom.VIEWER_DELETE


def compute_refusal() -> str | None:
    """Why this session may not start a heavy computation on the server (loss landscapes,
    sharpness): like starting a run, it takes the machine's cores from everyone."""
    return None if presenter() else classroom.VIEWER_COMPUTE


def refused(reason: str | None, where=st) -> None:
    """The one line a disabled control shows under it."""
    if reason:
        where.caption(f":material/lock: {md(reason)}")


def button(label: str, refusal: str | None, *, where=st, disabled: bool = False, **kwargs) -> bool:
    """``where.button``, disabled with ``refusal`` as the line under it when this session may
    not use it (``disabled``: also for the page's own reasons). Whether it was clicked."""
    clicked = where.button(label, disabled=disabled or bool(refusal), **kwargs)
    refused(refusal, where)
    return clicked


def sidebar() -> None:
    """In a classroom: this session's role, and for the presenter the switch that lets every
    viewer train (in the queue, one run each)."""
    if not in_classroom():
        return
    if not presenter():
        st.sidebar.caption(
            ":material/visibility: Classroom · you are watching. Runs, charts and results are "
            "live; Activations and Explain work on your own pictures."
        )
        return
    st.sidebar.caption(":material/co_present: Classroom · you are the presenter (this tab).")
    s = store()
    st.sidebar.toggle(
        "Let everyone train",
        value=classroom.everyone_trains(s),
        key="role.everyone_trains",
        on_change=lambda: classroom.let_everyone_train(
            s, bool(st.session_state["role.everyone_trains"])
        ),
        help=f"Viewers may start runs too, {classroom.PER_VIEWER} each at a time; every run waits "
        "its turn in the queue (RESNET_VIZ_MAX_RUNS train at once).",
    )
