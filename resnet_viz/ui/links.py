"""Shared links that ask for something the page cannot do say so.

A Train link is the setup in its query parameters (``/train?epochs=6&optim.lr=0.05``), bound to
the page's widgets. Streamlit drops a bound value its widget cannot take (``epochs=-1``,
``optim.lr=nan``, ``data.image_size=7``) and the page would open another setup without a word,
so a mistyped class link would start a different run from the one shared. The page reads the
link once per session, before its widgets, and names what it ignored and why, until the
setting is changed by hand.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from ..config import TrainConfig, config_keys
from ..errors import ConfigError
from .text import md

LINK = "link.ignored"  # session state: {key: (text shown, the widget's value when it was seen)}


def remember_link(
    params: Mapping[str, str], limits: Mapping[str, list | tuple[float, float]] | None = None
) -> None:
    """On the session's first run of the page: keep ``params`` (the link's query parameters)
    that name a setting, checked against the configuration and against ``limits`` (by key, a
    widget's choices as a list or its ``(lowest, highest)``); ``report_link`` shows the ones the
    page could not use."""
    if LINK in st.session_state:
        return
    known, problems = set(config_keys()), {}
    for key, raw in params.items():
        if key not in known or key == "model.skip":
            continue
        try:
            value = TrainConfig().with_overrides({key: raw}).flat_values()[key]
        except ConfigError as err:
            problems[key] = f"{key}={raw} ignored: {err}"
            continue
        limit = (limits or {}).get(key)
        if isinstance(limit, list) and value not in limit:
            shown = ", ".join(str(c) for c in limit)
            problems[key] = f"{key}={raw} ignored: this page offers {shown}."
        elif isinstance(limit, tuple) and not limit[0] <= value <= limit[1]:
            low, high = (_number(v) for v in limit)
            problems[key] = f"{key}={raw} ignored: must be from {low} to {high}."
    st.session_state[LINK] = {"pending": problems}


def _number(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


def report_link() -> None:
    """After the widgets exist: one warning naming each ignored setting, shown until that
    setting is changed in the page."""
    state = st.session_state.get(LINK) or {}
    pending = state.pop("pending", None)
    if pending is not None:  # first run: note each widget's value as the link left it
        state["shown"] = {k: (text, st.session_state.get(k)) for k, text in pending.items()}
    shown = state.get("shown", {})
    still = [text for k, (text, seen) in shown.items() if st.session_state.get(k) == seen]
    if still:
        st.warning(
            "**This link asked for settings the page could not use**, so it opened with "
            "defaults for them instead:\n\n" + "\n".join(f"- {md(t)}" for t in still),
            icon=":material/link_off:",
        )
