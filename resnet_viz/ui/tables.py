"""Shares in tables, in one number format: a bar and ``57.7%`` with one decimal. Streamlit's
``percent`` preset drops trailing zeros, so one column read ``57.7%`` above ``80.45%``."""

from __future__ import annotations

import streamlit as st


def percent(share: float | None) -> float | None:
    """A share in [0, 1] as the percentage :func:`percent_bar` draws."""
    return None if share is None else 100.0 * float(share)


def percent_bar(**kwargs) -> st.column_config.ProgressColumn:
    """The column of :func:`percent` values: a bar from 0 to 100 % and one decimal."""
    return st.column_config.ProgressColumn(format="%.1f%%", min_value=0, max_value=100, **kwargs)
