"""The run queue (resnet_viz.train.launcher + RunStore.claim): at most RESNET_VIZ_MAX_RUNS runs
train at once, whoever launched them; the rest wait in order, can be cancelled, and survive a
restart of the app because the queue is the store's."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest

from resnet_viz.config import TrainConfig
from resnet_viz.errors import ConfigError
from resnet_viz.store import RunStore
from resnet_viz.train import launcher

from ..conftest import wait_for as _wait_for

ROOT = Path(__file__).resolve().parents[2]
wait_for = partial(_wait_for, timeout=120.0, every=0.2)
TINY = ["data.train_size=256", "data.val_size=128", "batch_size=64", "epochs=1"]


@pytest.fixture
def store(runs_dir: Path) -> RunStore:
    return RunStore(runs_dir)


def _queued(store: RunStore, n: int) -> list[str]:
    return [store.create_run(TrainConfig(name=f"run {i}")) for i in range(n)]


# ---- the store's queue -------------------------------------------------------------------------
def test_runs_take_slots_in_the_order_they_were_queued(store):
    a, b, c = _queued(store, 3)
    assert store.claim(b, 1) == 1  # a is ahead of it
    assert store.claim(c, 1) == 2
    assert store.claim(a, 1) == 0
    assert store.get_run(a).status == "running"
    assert store.claim(b, 1) == 1  # first in line now, but the one slot is taken
    assert store.queue_position(b) == 0 and store.queue_position(c) == 1
    store.finish(a, "finished")
    assert store.claim(c, 1) == 1  # b still comes first
    assert store.claim(b, 1) == 0
    assert store.queue_position(b) is None  # not queued any more


def test_two_slots_let_two_runs_train(store):
    a, b, c = _queued(store, 3)
    assert store.free_slots(2) == 2
    assert store.claim(b, 2) == 0  # the second in line gets the second slot at once
    assert store.free_slots(2) == 1
    assert store.claim(c, 2) == 1
    assert store.claim(a, 2) == 0
    assert store.free_slots(2) == 0


def test_a_queued_run_can_be_cancelled_but_a_running_one_is_stopped(store):
    a, b = _queued(store, 2)
    assert store.claim(a, 1) == 0
    launcher.request_stop(store, b)
    run = store.get_run(b)
    assert run.status == "stopped" and run.reason == launcher.CANCELLED and run.ended
    assert store.claim(b, 1) is None  # its waiting worker learns it should exit
    assert store.controls(b) == []
    launcher.request_stop(store, a)  # running: asked to stop at its next step
    assert store.get_run(a).status == "running"
    assert [c.kind for c in store.controls(a)] == ["stop"]


def test_waiting_beats_the_heart_so_a_queued_run_is_not_taken_for_dead(store, monkeypatch):
    a, b = _queued(store, 2)
    store.claim(a, 1)
    before = store.get_run(b).heartbeat
    store.claim(b, 1)
    assert store.get_run(b).heartbeat >= before
    # A queued run whose waiting worker died is marked interrupted like a running one.
    store.set_pid(b, _dead_pid())
    monkeypatch.setattr(launcher, "STALE_AFTER_S", 0.0)
    store.set_pid(a, os.getpid())
    assert launcher.reap_dead(store) == [b]


def test_wait_for_slot_returns_when_the_slot_frees(store, monkeypatch):
    monkeypatch.setattr(launcher, "QUEUE_POLL_S", 0.02)
    a, b = _queued(store, 2)
    assert launcher.wait_for_slot(store, a, limit=1)
    heard: list[str] = []
    done = threading.Event()
    waiter = threading.Thread(
        target=lambda: launcher.wait_for_slot(store, b, limit=1, say=heard.append) and done.set()
    )
    waiter.start()
    wait_for(lambda: heard, timeout=10)
    assert heard == ["queued: 1 run ahead; at most 1 train at once (RESNET_VIZ_MAX_RUNS)"]
    assert not done.is_set()
    store.finish(a, "finished")
    waiter.join(10)
    assert done.is_set() and store.get_run(b).status == "running"


def test_wait_for_slot_ends_when_the_run_is_cancelled(store, monkeypatch):
    monkeypatch.setattr(launcher, "QUEUE_POLL_S", 0.02)
    a, b = _queued(store, 2)
    store.claim(a, 1)
    result: list[bool] = []
    waiter = threading.Thread(
        target=lambda: result.append(launcher.wait_for_slot(store, b, limit=1))
    )
    waiter.start()
    launcher.request_stop(store, b)
    waiter.join(10)
    assert result == [False]


@pytest.mark.parametrize(
    ("env", "visible", "expected"),
    [("3", None, 3), ("", "0,1", 2), ("", "-1", 1), ("", "", 1), (" 2 ", "0", 2)],
)
def test_max_runs(monkeypatch, env, visible, expected):
    monkeypatch.setenv("RESNET_VIZ_MAX_RUNS", env)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert launcher.max_runs() == expected


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_a_bad_max_runs_says_what_it_must_be(monkeypatch, bad):
    monkeypatch.setenv("RESNET_VIZ_MAX_RUNS", bad)
    with pytest.raises(ConfigError, match=r"RESNET_VIZ_MAX_RUNS.*1 or more"):
        launcher.max_runs()


def test_an_older_store_gains_the_new_columns(runs_dir):
    import sqlite3

    runs_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(runs_dir / "runs.db")
    con.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, "
        "started REAL, ended REAL, heartbeat REAL, status TEXT NOT NULL, reason TEXT, "
        "config TEXT NOT NULL, device TEXT, host TEXT, pid INTEGER, step INTEGER DEFAULT 0, "
        "total_steps INTEGER, summary TEXT)"
    )
    con.execute(
        "INSERT INTO runs (id, name, created, status, config) "
        "VALUES ('r', 'old', 1, 'finished', '{}')"
    )
    con.commit()
    con.close()
    store = RunStore(runs_dir)
    assert store.get_run("r").owner is None
    new = store.create_run(TrainConfig(), owner="10.0.0.7")
    assert store.get_run(new).owner == "10.0.0.7"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---- real workers: the app's launch and the CLI share one queue --------------------------------
def test_app_and_cli_runs_queue_together_and_start_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_VIZ_MAX_RUNS", "1")
    monkeypatch.setattr(launcher, "_procs", {})
    store = RunStore(tmp_path / "runs")
    long = TrainConfig().with_overrides([*TINY[:3], "epochs=50", "log_every=1"])
    first = launcher.launch(store, long)
    wait_for(lambda: store.get_run(first).step >= 1)
    second = launcher.launch(store, TrainConfig().with_overrides(TINY))
    cmd = [
        sys.executable,
        "-m",
        "resnet_viz.train",
        "--runs-dir",
        str(store.root),
        *[arg for s in TINY for arg in ("--set", s)],
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    third = wait_for(
        lambda: next((r.id for r in store.list_runs() if r.id not in (first, second)), None)
    )
    wait_for(lambda: store.get_run(third).heartbeat)
    assert [store.get_run(r).status for r in (first, second, third)] == [
        "running",
        "queued",
        "queued",
    ]
    assert store.queue_position(second) == 0 and store.queue_position(third) == 1
    # A queued worker has not imported torch: it is a small process.
    status = Path(f"/proc/{store.get_run(second).pid}/status").read_text()
    rss_kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    assert rss_kb < 150_000
    launcher.request_stop(store, first)
    _, err = cli.communicate(timeout=240)
    assert cli.returncode == 0, err
    runs = {r: store.get_run(r) for r in (first, second, third)}
    assert [runs[r].status for r in (first, second, third)] == ["stopped", "finished", "finished"]
    assert runs[first].ended <= runs[second].started  # one at a time, in order
    assert runs[second].ended <= runs[third].started
    assert "queued: 1 run ahead" in err or "queued: 2 runs ahead" in err
