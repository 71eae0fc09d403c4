"""The run store: SQLite (WAL) under the runs directory; the only channel between the training
worker and the UI. See :class:`RunStore`."""

from .runstore import (
    ACTIVE,
    STATUSES,
    Control,
    Event,
    LayerSeries,
    RunRecord,
    RunStore,
    default_runs_dir,
    thin_indices,
)

__all__ = [
    "ACTIVE",
    "STATUSES",
    "Control",
    "Event",
    "LayerSeries",
    "RunRecord",
    "RunStore",
    "default_runs_dir",
    "thin_indices",
]
