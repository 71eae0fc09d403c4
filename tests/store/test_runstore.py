"""Tests for the SQLite run store (resnet_viz.store.runstore)."""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from resnet_viz.config import ModelConfig, TrainConfig
from resnet_viz.store import ACTIVE, STATUSES, RunStore, default_runs_dir

from ..conftest import fill_steps

CONV = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "fc"]
BLOCKS = ["layer1.0", "layer2.0"]


@pytest.fixture
def store(runs_dir: Path) -> RunStore:
    return RunStore(runs_dir)


def _run(store: RunStore, name: str = "run", members: int = 1) -> str:
    """A run of ``members`` ResNet-8s, the odd ones plain: ``resnet8``, ``plain8``, ``resnet8
    #2``…"""
    cohort = tuple(ModelConfig("resnet8", skip=(float(i % 2 == 0),)) for i in range(members))
    return store.create_run(TrainConfig(name=name, model=cohort[0], cohort=cohort[1:], epochs=2))


# ---- runs -------------------------------------------------------------------------------------
def test_default_runs_dir_follows_the_environment(runs_dir):
    assert default_runs_dir() == runs_dir
    assert RunStore().root == runs_dir


def test_create_get_list_round_trip(store):
    run_id = _run(store, "first", members=2)
    run = store.get_run(run_id)
    assert run is not None
    assert run.id == run_id and run.name == "first"
    assert run.status == "queued" and run.active
    assert run.config == TrainConfig(
        name="first",
        model=ModelConfig("resnet8"),
        cohort=(ModelConfig("resnet8", skip=(0.0,)),),
        epochs=2,
    )
    assert run.members == ("resnet8", "plain8")
    assert run.started is None and run.ended is None and run.duration is None
    assert run.step == 0 and run.summary is None and run.reason is None
    assert store.run_dir(run_id).is_dir()
    assert [r.id for r in store.list_runs()] == [run_id]


def test_list_runs_newest_first(store):
    ids = [_run(store, f"r{i}") for i in range(3)]
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert len(set(ids)) == 3


def test_get_unknown_run_is_none(store):
    assert store.get_run("nope") is None


def test_member_configs_are_stored(store):
    run_id = _run(store, members=2)
    with sqlite3.connect(store.db_path) as con:
        rows = con.execute(
            "SELECT idx, name, config FROM members WHERE run_id=? ORDER BY idx", (run_id,)
        ).fetchall()
    assert [(i, n) for i, n, _ in rows] == [(0, "resnet8"), (1, "plain8")]
    assert '"skip": [0.0]' in rows[1][2]


def test_mark_started_and_finish(store):
    run_id = _run(store)
    store.mark_started(run_id, device="cpu", total_steps=100)
    run = store.get_run(run_id)
    assert run.status == "running" and run.active
    assert run.device == "cpu" and run.total_steps == 100
    assert run.pid == os.getpid()
    assert run.started is not None and run.heartbeat is not None
    store.finish(run_id, "finished", summary={"steps": 100, "best": 0.5})
    run = store.get_run(run_id)
    assert run.status == "finished" and not run.active
    assert run.summary == {"steps": 100, "best": 0.5}
    assert run.ended >= run.started
    assert run.duration == pytest.approx(run.ended - run.started)


def test_mark_started_with_explicit_pid(store):
    run_id = _run(store)
    store.mark_started(run_id, device="cuda", total_steps=5, pid=4242)
    assert store.get_run(run_id).pid == 4242
    store.set_pid(run_id, 4343)
    assert store.get_run(run_id).pid == 4343


@pytest.mark.parametrize("status", ["running", "queued", "exploded"])
def test_finish_refuses_a_non_final_status(store, status):
    run_id = _run(store)
    with pytest.raises(ValueError):
        store.finish(run_id, status)
    assert store.get_run(run_id).status == "queued"


def test_finish_with_a_reason(store):
    run_id = _run(store)
    store.finish(run_id, "failed", reason="Out of memory.")
    run = store.get_run(run_id)
    assert (run.status, run.reason) == ("failed", "Out of memory.")
    assert set(ACTIVE) < set(STATUSES)


def test_a_second_store_on_the_same_dir_sees_the_same_runs(store, runs_dir):
    run_id = _run(store, "shared")
    other = RunStore(runs_dir)
    assert [r.id for r in other.list_runs()] == [run_id]
    other.finish(run_id, "stopped")
    assert store.get_run(run_id).status == "stopped"


def test_database_is_in_wal_mode(store):
    with sqlite3.connect(store.db_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


# ---- metrics ----------------------------------------------------------------------------------
def test_write_batch_then_read_back_exactly(store):
    run_id = _run(store)
    store.set_layers(run_id, 0, {"conv": CONV, "block": BLOCKS})
    rng = np.random.default_rng(0)
    grads = rng.random((6, len(CONV)), dtype=np.float32) * 10
    ratios = rng.random((6, len(BLOCKS)), dtype=np.float32)
    for step in range(1, 7):
        store.write_batch(
            run_id,
            step=step,
            scalars=[(0, "train/loss", step, 1.0 / step), (0, "lr", step, 0.1)],
            layer_stats=[
                (0, "grad_norm", step, grads[step - 1]),
                (0, "residual_ratio", step, ratios[step - 1]),
            ],
        )
    assert store.get_run(run_id).step == 6
    assert store.scalar_keys(run_id) == ["lr", "train/loss"]
    steps, values = store.scalars(run_id, "train/loss")
    assert steps.dtype == np.int64 and steps.tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_array_equal(values, [1.0 / s for s in range(1, 7)])  # REAL is a double

    series = store.layer_series(run_id, "grad_norm")
    assert series.layers == tuple(CONV)
    assert series.steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert series.values.dtype == np.float32
    np.testing.assert_array_equal(series.values, grads)  # float32 blobs: bit-exact

    blocks = store.layer_series(run_id, "residual_ratio")
    assert blocks.layers == tuple(BLOCKS)
    np.testing.assert_array_equal(blocks.values, ratios)


def test_layer_kinds_map_to_their_name_groups(store):
    run_id = _run(store)
    store.set_layers(run_id, 0, {"conv": CONV, "block": BLOCKS})
    assert store.member_layers(run_id, 0, "conv") == tuple(CONV)
    assert store.member_layers(run_id, 0, "block") == tuple(BLOCKS)
    for kind in ("grad_norm", "weight_norm", "update_ratio"):
        assert store.layer_series(run_id, kind).layers == tuple(CONV)
    for kind in ("residual_ratio", "response_std"):
        assert store.layer_series(run_id, kind).layers == tuple(BLOCKS)


def test_members_are_kept_apart(store):
    run_id = _run(store, members=2)
    store.set_layers(run_id, 0, {"conv": CONV})
    store.set_layers(run_id, 1, {"conv": CONV[:2]})
    store.write_batch(
        run_id,
        step=1,
        scalars=[(0, "train/loss", 1, 2.0), (1, "train/loss", 1, 3.0)],
        layer_stats=[(0, "grad_norm", 1, np.ones(4)), (1, "grad_norm", 1, np.full(2, 2.0))],
    )
    assert store.scalars(run_id, "train/loss", 1)[1].tolist() == [3.0]
    assert store.scalars(run_id, "train/loss", 0)[1].tolist() == [2.0]
    assert store.layer_series(run_id, "grad_norm", 1).values.tolist() == [[2.0, 2.0]]
    assert store.layer_series(run_id, "grad_norm", 0).values.tolist() == [[1.0] * 4]


def test_non_finite_scalars(store):
    run_id = _run(store)
    store.write_batch(
        run_id,
        step=3,
        scalars=[
            (0, "train/loss", 1, 2.5),
            (0, "train/loss", 2, float("nan")),
            (0, "train/loss", 3, float("inf")),
        ],
    )
    steps, values = store.scalars(run_id, "train/loss")
    assert steps.tolist() == [1, 2, 3]
    assert values[0] == 2.5 and math.isnan(values[1]) and values[2] == math.inf


def test_empty_reads(store):
    run_id = _run(store)
    steps, values = store.scalars(run_id, "train/loss", max_points=10)
    assert steps.shape == (0,) and values.shape == (0,)
    series = store.layer_series(run_id, "grad_norm", max_points=10)
    assert series.layers == () and series.values.shape == (0, 0)


@pytest.mark.parametrize(("n", "max_points"), [(1000, 100), (1000, 7), (101, 100), (50, 2)])
def test_thinning_keeps_first_last_and_about_max_points(store, n, max_points):
    run_id = _run(store)
    fill_steps(store, run_id, n)
    steps, values = store.scalars(run_id, "train/loss", max_points=max_points)
    assert max_points // 2 <= len(steps) <= max_points + 1
    assert steps[0] == 1 and steps[-1] == n
    assert np.all(np.diff(steps) > 0)
    np.testing.assert_array_equal(values, steps.astype(float))  # rows stay paired

    series = store.layer_series(run_id, "grad_norm", max_points=max_points)
    assert max_points // 2 <= len(series.steps) <= max_points + 1
    assert series.steps[0] == 1 and series.steps[-1] == n
    assert np.all(np.diff(series.steps) > 0)
    np.testing.assert_array_equal(series.values[:, 0], series.steps.astype(np.float32))
    np.testing.assert_array_equal(series.values[:, 1], -series.steps.astype(np.float32))


def test_no_thinning_below_max_points(store):
    run_id = _run(store)
    fill_steps(store, run_id, 20)
    assert store.scalars(run_id, "train/loss", max_points=20)[0].tolist() == list(range(1, 21))
    assert store.layer_series(run_id, "grad_norm", max_points=50).steps.tolist() == list(
        range(1, 21)
    )


def test_thinning_to_one_point_keeps_the_last(store):
    run_id = _run(store)
    fill_steps(store, run_id, 10)
    steps, _ = store.scalars(run_id, "train/loss", max_points=1)
    assert steps[-1] == 10


def test_layer_series_tolerates_vectors_of_another_width(store):
    run_id = _run(store)
    store.set_layers(run_id, 0, {"conv": ["a", "b", "c"]})
    store.write_batch(
        run_id,
        step=2,
        layer_stats=[(0, "grad_norm", 1, np.ones(2)), (0, "grad_norm", 2, np.ones(5))],
    )
    series = store.layer_series(run_id, "grad_norm")
    assert series.values.tolist() == [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]


# ---- events and controls ----------------------------------------------------------------------
def test_events(store):
    run_id = _run(store)
    store.add_event(run_id, "info", "Device: cpu")
    store.write_batch(run_id, step=7, events=[(0, 7, "diverged", "boom", {"loss": None})])
    store.add_event(run_id, "checkpoint", "Saved.", step=9, member=0, payload={"path": "x"})
    events = store.events(run_id)
    assert [e.kind for e in events] == ["info", "diverged", "checkpoint"]
    assert [e.step for e in events] == [0, 7, 9]
    assert [e.member for e in events] == [None, 0, 0]
    assert events[1].message == "boom" and events[1].payload == {"loss": None}
    assert events[2].payload == {"path": "x"} and events[0].payload == {}
    assert events[0].id < events[1].id < events[2].id
    assert all(e.t > 0 for e in events)
    assert store.events(_run(store)) == []


def test_controls(store):
    run_id = _run(store)
    other = _run(store)
    a = store.add_control(run_id, "stop")
    b = store.add_control(run_id, "skip", {"mask": [1, 0, 1]})
    store.add_control(other, "stop")
    pending = store.pending_controls(run_id)
    assert [(c.id, c.kind, c.payload) for c in pending] == [
        (a, "stop", {}),
        (b, "skip", {"mask": [1, 0, 1]}),
    ]
    assert [c.id for c in store.pending_controls(run_id, after_id=a)] == [b]
    assert store.pending_controls(run_id, after_id=b) == []
    store.mark_applied(a, 12)
    assert [c.id for c in store.pending_controls(run_id)] == [b]
    store.mark_applied(b, 13)
    assert store.pending_controls(run_id) == []
    assert len(store.pending_controls(other)) == 1


def test_controls_keep_when_they_were_written_and_applied(store):
    run_id = _run(store)
    before = time.time()
    a = store.add_control(run_id, "skip", {"value": 0, "stage": 2})
    (pending,) = store.pending_controls(run_id)
    assert pending.t >= before and pending.applied_step is None
    store.mark_applied(a, 7)
    (control,) = store.controls(run_id)
    assert (control.id, control.applied_step, control.t) == (a, 7, pending.t)
    assert store.controls(_run(store)) == []


def test_member_names_are_numbered_where_labels_repeat(store):
    run_id = _run(store, members=3)
    assert store.get_run(run_id).members == ("resnet8", "plain8", "resnet8 #2")
    assert [m.skip for m in store.get_run(run_id).config.members] == [(1.0,), (0.0,), (1.0,)]


def test_a_record_whose_config_no_longer_parses_still_opens(store):
    run_id = _run(store, "old")
    with sqlite3.connect(store.db_path) as con:
        con.execute("UPDATE runs SET config=? WHERE id=?", ('{"epochs": "many"}', run_id))
    run = store.get_run(run_id)
    assert run.name == "old" and run.config == TrainConfig(name="old")


def test_analyses_per_member_and_kind(store):
    run_id, other = _run(store, members=2), _run(store)
    store.put_analysis(run_id, 0, "lesion", {"single": [0.5, 0.4]})
    store.put_analysis(run_id, 1, "lesion", {"single": [0.1]})
    store.put_analysis(run_id, -1, "shattering_depth", {"depth": [8, 20]})
    store.put_analysis(run_id, 1, "lesion", {"single": [0.2]})  # replaces
    assert store.analyses(run_id, "lesion") == {0: {"single": [0.5, 0.4]}, 1: {"single": [0.2]}}
    assert store.analyses(run_id, "shattering_depth") == {-1: {"depth": [8, 20]}}
    assert store.analyses(other, "lesion") == {}
    store.finish(run_id, "finished")
    store.delete_run(run_id)
    assert store.analyses(run_id, "lesion") == {}


# ---- deleting ---------------------------------------------------------------------------------
def test_delete_run_removes_rows_and_folder(store):
    run_id, keep = _run(store), _run(store)
    for rid in (run_id, keep):
        fill_steps(store, rid, 5)
        store.add_event(rid, "info", "x")
        store.add_control(rid, "stop")
        store.put_analysis(rid, 0, "lesion", {})
        store.finish(rid, "finished")
    (store.run_dir(run_id) / "model-0.safetensors").write_bytes(b"x")
    store.delete_run(run_id)
    assert store.get_run(run_id) is None
    assert not store.run_dir(run_id).exists()
    with sqlite3.connect(store.db_path) as con:
        tables = ("runs", "members", "scalars", "layer_stats", "events", "controls", "analyses")
        for table in tables:
            column = "id" if table == "runs" else "run_id"
            count = con.execute(f"SELECT COUNT(*) FROM {table} WHERE {column}=?", (run_id,))
            assert count.fetchone()[0] == 0, table
    # The other run is untouched.
    assert store.get_run(keep) is not None
    assert len(store.scalars(keep, "train/loss")[0]) == 5
    assert store.run_dir(keep).is_dir()
    store.delete_run("never-existed")  # a no-op


@pytest.mark.parametrize("started", [False, True])
def test_delete_refuses_an_active_run(store, started):
    run_id = _run(store)
    if started:
        store.mark_started(run_id, device="cpu", total_steps=1)
    with pytest.raises(RuntimeError, match="Stop"):
        store.delete_run(run_id)
    assert store.get_run(run_id) is not None
    assert store.run_dir(run_id).is_dir()


def test_active_runs_and_mark_interrupted(store):
    queued, running, done = _run(store), _run(store), _run(store)
    store.mark_started(running, device="cpu", total_steps=10)
    store.finish(done, "finished")
    assert [r.id for r in store.active_runs()] == [queued, running]
    assert store.mark_interrupted(running, "gone") is True
    assert store.mark_interrupted(done, "gone") is False  # an ended run keeps its status
    run = store.get_run(running)
    assert run.status == "interrupted" and run.reason == "gone" and run.ended == run.heartbeat
    assert store.get_run(done).status == "finished"


# ---- concurrency ------------------------------------------------------------------------------
def test_one_writer_and_one_reader_concurrently(runs_dir):
    setup = RunStore(runs_dir)
    run_id = _run(setup)
    setup.set_layers(run_id, 0, {"conv": ["a", "b", "c"]})
    batches = 300
    attempted = 0  # incremented *before* each commit: readers can never see more than this
    done = threading.Event()
    reader_started, halfway, read_at_halfway = (threading.Event() for _ in range(3))
    errors: list[BaseException] = []
    seen: list[tuple[int, int]] = []

    def writer() -> None:
        nonlocal attempted
        store = RunStore(runs_dir)
        try:
            reader_started.wait(30)
            for step in range(1, batches + 1):
                if step == batches // 2 + 1:  # make sure some reads overlap the writing
                    halfway.set()
                    read_at_halfway.wait(30)
                attempted = step
                store.write_batch(
                    run_id,
                    step=step,
                    scalars=[(0, "train/loss", step, float(step))],
                    layer_stats=[(0, "grad_norm", step, np.full(3, step, dtype=np.float32))],
                )
        except BaseException as err:
            errors.append(err)
        finally:
            done.set()

    def reader() -> None:
        store = RunStore(runs_dir)
        try:
            while True:
                finished, was_halfway = done.is_set(), halfway.is_set()
                steps, values = store.scalars(run_id, "train/loss")
                series = store.layer_series(run_id, "grad_norm", max_points=50)
                limit = attempted
                assert len(steps) <= limit
                # Every batch is one transaction: a reader sees a gap-free prefix.
                assert steps.tolist() == list(range(1, len(steps) + 1))
                np.testing.assert_array_equal(values, steps.astype(float))
                if len(series.steps):
                    assert series.steps[-1] <= limit
                    np.testing.assert_array_equal(series.values[:, 0], series.steps)
                seen.append((len(steps), len(series.steps)))
                reader_started.set()
                if was_halfway:  # this read began while the writer was waiting
                    read_at_halfway.set()
                if finished:
                    return
                time.sleep(0.001)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    counts = [s for s, _ in seen]
    assert counts == sorted(counts)  # never goes backwards
    assert batches // 2 in counts  # a read while the writer was paused half-way
    assert counts[0] < batches
    steps, _ = setup.scalars(run_id, "train/loss")
    assert len(steps) == batches and counts[-1] == batches
    assert len(setup.layer_series(run_id, "grad_norm").steps) == batches
    assert setup.get_run(run_id).step == batches


def _read_only(monkeypatch, store):
    """Every connection of the store opened read-only, as on a read-only disk (root ignores
    file permissions, so the tests cannot simply chmod the folder)."""
    from resnet_viz.store import runstore

    real = sqlite3.connect

    def connect(path, *args, **kwargs):
        return real(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(runstore.sqlite3, "connect", connect)


def test_a_write_to_a_read_only_store_says_so_and_keeps_what_was_recorded(monkeypatch, tmp_path):
    from resnet_viz.errors import StoreError

    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(TrainConfig(name="kept"))
    _read_only(monkeypatch, store)
    with pytest.raises(StoreError, match="is read-only, so nothing new can be recorded") as err:
        store.create_run(TrainConfig(name="new"))
    assert "RESNET_VIZ_RUNS_DIR" in str(err.value) and "already recorded are kept" in str(err.value)
    assert [r.name for r in store.list_runs()] == ["kept"] and store.get_run(run_id)


@pytest.mark.parametrize(
    ("message", "says"),
    [("database or disk is full", "full disk"), ("database is locked", "busy"),
     ("disk I/O error", "could not be written (disk I/O error)")],
)  # fmt: skip
def test_other_write_failures_are_named(tmp_path, message, says):
    store = RunStore(tmp_path / "runs")
    assert says in str(store._write_error(sqlite3.OperationalError(message)))


# ---- a damaged or emptied store ---------------------------------------------------------------
def _recorded(root: Path, n: int = 2) -> tuple[RunStore, list[str]]:
    store = RunStore(root)
    ids = [store.create_run(TrainConfig(name=f"run {i}")) for i in range(n)]
    for run_id in ids:
        fill_steps(store, run_id, 50)
    con = sqlite3.connect(store.db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in runs.db itself
    con.close()
    return store, ids


def _damage(store: RunStore, start: int, length: int) -> None:
    data = bytearray(store.db_path.read_bytes())
    data[start : start + length] = b"\xab" * length
    store.db_path.write_bytes(bytes(data))


def test_a_store_that_is_not_a_database_says_so_and_what_to_do(tmp_path):
    from resnet_viz.errors import StoreError

    store, _ = _recorded(tmp_path / "runs")
    _damage(store, 0, 100)  # the header
    with pytest.raises(StoreError, match="is damaged and cannot be read") as err:
        RunStore(tmp_path / "runs")
    assert f"mv {store.db_path} {store.db_path}.damaged" in str(err.value)
    assert ".recover" in str(err.value)


def test_a_malformed_store_raises_store_errors_not_sqlite_ones(tmp_path):
    from resnet_viz.errors import StoreError

    store, _ = _recorded(tmp_path / "runs")
    _damage(store, 4096, 4096)  # the page after the schema: a table's root
    store = RunStore(tmp_path / "runs")
    with pytest.raises(StoreError, match=r"is damaged .*malformed"):
        store.list_runs()
    with pytest.raises(StoreError, match="is damaged"):
        store.create_run(TrainConfig())


def test_a_damaged_store_that_sqlite_can_still_read_opens_read_only(tmp_path, monkeypatch):
    from resnet_viz.errors import StoreError
    from resnet_viz.store import runstore

    _, ids = _recorded(tmp_path / "runs")
    real = runstore.RunStore._connect

    class Damaged:  # the schema step fails, as on a malformed index page
        def __init__(self, con):
            self.con = con

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.con.close()

        def close(self):
            self.con.close()

        def executescript(self, script):
            raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(runstore.RunStore, "_connect", lambda self: Damaged(real(self)))
    store = RunStore(tmp_path / "runs")
    monkeypatch.undo()
    assert store.problem and "open read-only" in store.problem
    assert sorted(r.id for r in store.list_runs()) == sorted(ids)  # what it can read is shown
    assert len(store.scalars(ids[0], "train/loss")[0]) == 50
    with pytest.raises(StoreError, match="open read-only"):
        store.create_run(TrainConfig())
    # Moved aside, the store starts afresh without a restart.
    store.db_path.rename(store.db_path.with_name("runs.db.damaged"))
    assert store.list_runs() == [] and store.problem is None
    assert store.get_run(store.create_run(TrainConfig(name="new"))).name == "new"


def test_an_emptied_store_beside_runs_folders_is_noticed(tmp_path):
    from resnet_viz.errors import StoreError

    store, _ = _recorded(tmp_path / "runs")
    store.db_path.write_bytes(b"")  # truncated
    for f in ("runs.db-wal", "runs.db-shm"):
        (store.root / f).unlink(missing_ok=True)
    with pytest.raises(StoreError, match=r"is empty \(0 bytes\), but 2 runs' folders"):
        RunStore(store.root)
    assert store.db_path.stat().st_size == 0  # not taken for a new store
    # Without run folders a 0-byte file is just a new store.
    other = tmp_path / "other"
    other.mkdir()
    (other / "runs.db").write_bytes(b"")
    assert RunStore(other).list_runs() == []


def test_a_store_deleted_while_the_app_runs_starts_afresh(tmp_path):
    store, _ = _recorded(tmp_path / "runs")
    store.db_path.unlink()
    for f in ("runs.db-wal", "runs.db-shm"):
        (store.root / f).unlink(missing_ok=True)
    assert store.list_runs() == []  # no "no such table"


def test_a_full_disk_is_named_even_when_sqlite_says_disk_io_error(tmp_path, monkeypatch):
    """On a full disk SQLite often reports a plain "disk I/O error", for reads too."""
    from collections import namedtuple

    from resnet_viz.errors import StoreError
    from resnet_viz.store import runstore

    store = RunStore(tmp_path / "runs")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(runstore.shutil, "disk_usage", lambda p: usage(100, 100, 0))
    err = store._write_error(sqlite3.OperationalError("disk I/O error"))
    assert "is on a full disk" in str(err)

    def failing(self):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(runstore.RunStore, "_connect", failing)
    with pytest.raises(StoreError, match="full disk, and could not even be read just now"):
        store.list_runs()
    with pytest.raises(StoreError, match="full disk, so nothing new can be recorded"):
        store.create_run(TrainConfig())


def test_reads_reuse_pooled_connections_until_the_file_changes(tmp_path, monkeypatch):
    import threading

    store, _ = _recorded(tmp_path / "runs")
    opened = []
    real = RunStore._connect
    monkeypatch.setattr(RunStore, "_connect", lambda self: opened.append(1) or real(self))
    for _ in range(5):
        assert len(store.list_runs()) == 2
    assert len(opened) == 1  # one connection, borrowed five times
    # Several threads at once: each borrows its own; all are handed back, at most POOL_SIZE.
    seen, gate = [], threading.Barrier(4)

    def read():
        with store._read() as con:
            gate.wait(5)
            seen.append(con.execute("SELECT count(*) FROM runs").fetchone()[0])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [2] * 4 and 1 < len(opened) <= 4 and len(store._pool) <= RunStore.POOL_SIZE
    # A file put in its place (a restored backup) is read, not the pooled old one.
    other = RunStore(tmp_path / "other")
    other.create_run(TrainConfig(name="restored"))
    con = sqlite3.connect(other.db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for f in ("runs.db-wal", "runs.db-shm"):
        (store.root / f).unlink(missing_ok=True)
    other.db_path.replace(store.db_path)
    assert [r.name for r in store.list_runs()] == ["restored"]
