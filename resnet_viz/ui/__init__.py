"""The only streamlit-aware part of the library: cached resources and the run view that the
Train and Runs pages share. Pages stay thin: widgets in, this and ``figures`` out."""

from .routing import route_through_app
from .runview import STATUS_ICONS, describe_config, show_run, store

__all__ = ["STATUS_ICONS", "describe_config", "route_through_app", "show_run", "store"]
