"""The only streamlit-aware part of the library: cached resources, the run view that the Train,
Runs and Skip Lab pages share, the pickers and page sections of Activations and Explain. Pages
stay thin: widgets in, this and ``figures`` out."""

from . import roles
from .exports import export_buttons
from .generalisation import generalisation
from .look import plot, presentation_switch, presenting
from .resources import store, store_failure, store_notice
from .routing import route_through_app
from .runview import STATUS_ICONS, show_run
from .tables import percent, percent_bar
from .text import md, plain

__all__ = [
    "STATUS_ICONS",
    "export_buttons",
    "generalisation",
    "md",
    "percent",
    "percent_bar",
    "plain",
    "plot",
    "presentation_switch",
    "presenting",
    "roles",
    "route_through_app",
    "show_run",
    "store",
    "store_failure",
    "store_notice",
]
