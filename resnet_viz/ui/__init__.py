"""The only streamlit-aware part of the library: cached resources and the run view that the
Train and Runs pages share. Pages stay thin: widgets in, this and ``figures`` out."""

from .runview import STATUS_ICONS, describe_config, show_run, store

__all__ = ["STATUS_ICONS", "describe_config", "show_run", "store"]
