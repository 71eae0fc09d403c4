"""The run store: SQLite (WAL) under the runs directory; the only channel between the training
worker and the UI. See :class:`RunStore`; the names runs are recorded under are in
:mod:`resnet_viz.keys`."""

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
from .snapshot import RunSnapshot

__all__ = [
    "ACTIVE",
    "STATUSES",
    "Control",
    "Event",
    "LayerSeries",
    "RunRecord",
    "RunSnapshot",
    "RunStore",
    "default_runs_dir",
    "thin_indices",
]
