"""Tests for one redraw's reads of a run (resnet_viz.store.snapshot) and the store queries it
uses: latest/best values by query, tails, every member's layer names at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from resnet_viz import keys
from resnet_viz.config import TrainConfig
from resnet_viz.store import RunSnapshot, RunStore


@pytest.fixture
def store(runs_dir: Path) -> RunStore:
    return RunStore(runs_dir)


@pytest.fixture
def run_id(store: RunStore) -> str:
    run_id = store.create_run(TrainConfig(name="pair").with_overrides({"cohort": "plain8"}))
    for m in (0, 1):
        store.set_layers(run_id, m, {"conv": [f"c{m}"], "block": ["layer1.0"]})
    acc = {0: [0.5, 0.9, 0.7], 1: [0.2, float("nan"), 0.3]}
    store.write_batch(
        run_id,
        step=30,
        scalars=[(m, keys.VAL_ACC, 10 * (i + 1), v) for m in acc for i, v in enumerate(acc[m])]
        + [(0, keys.TRAIN_LOSS, s, float(s)) for s in range(1, 31)],
        layer_stats=[(m, keys.GRAD_NORM, 1, np.ones(1, np.float32)) for m in (0, 1)],
    )
    return run_id


def test_latest_and_best_by_query(store, run_id):
    assert store.latest_and_best(run_id, keys.VAL_ACC, [0, 1, 2]) == {
        0: (0.7, 0.9),
        1: (0.3, 0.3),  # NaN is never the best
        2: (None, None),  # no such member: nothing yet
    }


def test_the_tail_of_a_series(store, run_id):
    steps, values = store.scalars(run_id, keys.TRAIN_LOSS, last=5)
    assert steps.tolist() == [26, 27, 28, 29, 30] and values.tolist() == [26, 27, 28, 29, 30]
    assert len(store.scalars(run_id, keys.TRAIN_LOSS, last=100)[0]) == 30


def test_every_members_layers_in_one_read(store, run_id):
    assert store.layers(run_id) == {
        0: {"conv": ("c0",), "block": ("layer1.0",)},
        1: {"conv": ("c1",), "block": ("layer1.0",)},
    }


def test_a_snapshot_reads_each_thing_once(store, run_id, monkeypatch):
    snap = RunSnapshot(store, store.get_run(run_id))
    opened = []
    read = RunStore._read
    monkeypatch.setattr(RunStore, "_read", lambda self: opened.append(1) or read(self))
    assert snap.members == [(0, "resnet8"), (1, "plain8")] and snap.cohort
    for _ in range(3):
        snap.scalars(keys.TRAIN_LOSS, 0)
        snap.every_layer_series(keys.GRAD_NORM)
        assert snap.best(keys.VAL_ACC) == {0: 0.9, 1: 0.3}
        assert snap.latest(keys.VAL_ACC) == {0: 0.7, 1: 0.3}
        assert snap.conv_layers(1) == ("c1",) and snap.block_layers(0) == ("layer1.0",)
        last = snap.latest_layer_stats(keys.GRAD_NORM)
        assert last[1].layers == ("c1",) and last[1].values.tolist() == [[1.0]]
        snap.events  # noqa: B018
    # one scalar series, two layer series and their last rows (the names come with the layer
    # names, read once), one latest-and-best, the events
    assert len(opened) == 1 + 2 + 1 + 1 + 1 + 1
    assert len(snap.scalars(keys.TRAIN_LOSS, 0)[0]) == 30


def test_a_run_without_members_is_its_own_one(store):
    run = store.get_run(store.create_run(TrainConfig(name="solo")))
    snap = RunSnapshot(store, run)
    assert snap.members == [(0, "resnet8")] and not snap.cohort


def test_distinct_names_number_the_repeats(store):
    assert store.distinct_name("resnet8 · shapes") == "resnet8 · shapes"
    for _ in range(2):
        name = store.distinct_name("resnet8 · shapes")
        store.create_run(TrainConfig(name=name))
    assert store.distinct_name("resnet8 · shapes") == "resnet8 · shapes #3"
    assert store.distinct_name("resnet8 · shapes_%") == "resnet8 · shapes_%"  # no patterns
