"""One redraw's view of a run: every read of the store made at most once.

A live view redraws every second, and its parts want the same data (the members table and the
loss chart both want each member's loss; every cohort heatmap wants every member's gradients
for their common colour scale). :class:`RunSnapshot` memoises each read for the length of one
redraw, so each series is read once, and latest/best values come from indexed queries instead
of whole series.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from ..keys import BLOCK_LAYERS, CONV_LAYERS, KIND_GROUP
from .runstore import Event, LayerSeries, RunRecord, RunStore

T = TypeVar("T")


class RunSnapshot:
    """Memoised reads of run ``run`` from ``store``; make a new one for each redraw."""

    def __init__(self, store: RunStore, run: RunRecord) -> None:
        self.store, self.run = store, run
        self._memo: dict[tuple, Any] = {}

    def _once(self, key: tuple, read: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = read()
        return self._memo[key]

    @property
    def members(self) -> list[tuple[int, str]]:
        """``(index, name)`` of every member; a run recorded without members is its own one."""
        return list(enumerate(self.run.members)) or [(0, self.run.name)]

    @property
    def cohort(self) -> bool:
        return len(self.run.members) > 1

    @cached_property
    def events(self) -> list[Event]:
        return self.store.events(self.run.id)

    @cached_property
    def layers(self) -> dict[int, dict[str, tuple[str, ...]]]:
        return self.store.layers(self.run.id)

    def _group(self, member: int, group: str) -> tuple[str, ...]:
        return self.layers.get(member, {}).get(group, ())

    def conv_layers(self, member: int) -> tuple[str, ...]:
        return self._group(member, CONV_LAYERS)

    def block_layers(self, member: int) -> tuple[str, ...]:
        return self._group(member, BLOCK_LAYERS)

    def scalars(
        self, key: str, member: int = 0, *, max_points: int | None = None, last: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._once(
            ("scalars", key, member, max_points, last),
            lambda: self.store.scalars(self.run.id, key, member, max_points=max_points, last=last),
        )

    def _names(self, kind: str, member: int) -> tuple[str, ...]:
        return self._group(member, KIND_GROUP.get(kind, CONV_LAYERS))

    def layer_series(self, kind: str, member: int = 0, *, max_points: int | None = None):
        return self._once(
            ("layers", kind, member, max_points),
            lambda: self.store.layer_series(
                self.run.id, kind, member, max_points=max_points, layers=self._names(kind, member)
            ),
        )

    def latest_layer_stats(self, kind: str) -> dict[int, LayerSeries]:
        """``{member: its last row of kind}`` for every member (empty before the first)."""
        members = [i for i, _ in self.members]
        names = {i: self._names(kind, i) for i in members}
        return self._once(
            ("latest layers", kind),
            lambda: self.store.latest_layer_stats(self.run.id, kind, members, layers=names),
        )

    def every_layer_series(
        self, kind: str, *, max_points: int | None = None
    ) -> dict[int, LayerSeries]:
        """``{member: series}`` for every member."""
        return {i: self.layer_series(kind, i, max_points=max_points) for i, _ in self.members}

    def latest(self, key: str) -> dict[int, float | None]:
        """The latest value of ``key`` of every member."""
        return {m: v[0] for m, v in self._latest_and_best(key).items()}

    def best(self, key: str) -> dict[int, float | None]:
        """The largest value of ``key`` of every member."""
        return {m: v[1] for m, v in self._latest_and_best(key).items()}

    def _latest_and_best(self, key: str) -> dict[int, tuple[float | None, float | None]]:
        members = [i for i, _ in self.members]
        return self._once(
            ("latest_and_best", key),
            lambda: self.store.latest_and_best(self.run.id, key, members),
        )
