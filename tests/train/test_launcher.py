"""Tests for the worker launcher's liveness checks (resnet_viz.train.launcher): a run whose
worker is gone is marked interrupted, and what it recorded is kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resnet_viz.config import TrainConfig
from resnet_viz.store import RunStore
from resnet_viz.train import launcher
from resnet_viz.train.launcher import pid_alive, reap_dead

from ..conftest import fill_steps


@pytest.fixture
def store(runs_dir: Path) -> RunStore:
    return RunStore(runs_dir)


def _run(store: RunStore) -> str:
    return store.create_run(TrainConfig())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: the pid names no process now
    return proc.pid


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())


def test_a_zombie_is_not_alive():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        proc_exited = False
        for _ in range(200):  # until it has exited (not reaped: no wait() yet)
            with open(f"/proc/{proc.pid}/stat") as f:
                if f.read().split(") ", 1)[1][:1] == "Z":
                    proc_exited = True
                    break
            time.sleep(0.02)
        assert proc_exited
        assert not pid_alive(proc.pid)
    finally:
        proc.wait()


# ---- reaping dead workers ---------------------------------------------------------------------
def test_reap_dead_marks_a_stale_run_of_a_dead_process(store, monkeypatch):
    run_id = _run(store)
    store.mark_started(run_id, device="cpu", total_steps=10, pid=_dead_pid())
    fill_steps(store, run_id, 4)
    assert reap_dead(store) == []  # heartbeat is fresh
    assert store.get_run(run_id).status == "running"
    monkeypatch.setattr(launcher, "STALE_AFTER_S", 0.0)
    assert reap_dead(store) == [run_id]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and not run.active
    assert "What it recorded is kept" in run.reason
    assert run.ended == run.heartbeat
    assert len(store.scalars(run_id, "train/loss")[0]) == 4  # metrics kept
    assert store.layer_series(run_id, "grad_norm").values.shape == (4, 2)
    assert reap_dead(store) == []  # only once


def test_reap_dead_spares_a_live_process(store, monkeypatch):
    run_id = _run(store)
    store.mark_started(run_id, device="cpu", total_steps=10, pid=os.getpid())
    monkeypatch.setattr(launcher, "STALE_AFTER_S", 0.0)
    assert reap_dead(store) == []
    assert store.get_run(run_id).status == "running"


def test_reap_dead_with_exit_codes_acts_at_once(store):
    run_id, other, done = _run(store), _run(store), _run(store)
    store.mark_started(run_id, device="cpu", total_steps=10, pid=os.getpid())
    store.mark_started(other, device="cpu", total_steps=10, pid=os.getpid())
    store.finish(done, "finished")
    reaped = reap_dead(store, exit_codes={run_id: -9, other: None, done: 1})
    assert reaped == [run_id]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and "-9" in run.reason
    assert store.get_run(other).status == "running"
    assert store.get_run(done).status == "finished"


def test_reap_dead_leaves_finished_runs_alone(store, monkeypatch):
    run_id = _run(store)
    store.mark_started(run_id, device="cpu", total_steps=10, pid=_dead_pid())
    store.finish(run_id, "finished")
    monkeypatch.setattr(launcher, "STALE_AFTER_S", 0.0)
    assert reap_dead(store) == []
    assert store.get_run(run_id).status == "finished"


def test_refresh_scans_the_store_at_most_as_often_as_asked(store, monkeypatch):
    scans = []
    monkeypatch.setattr(launcher, "reap_dead", lambda s, exit_codes: scans.append(1) or [])
    monkeypatch.setattr(launcher, "_refreshed_at", {})
    monkeypatch.setattr(launcher, "exit_codes", dict)  # no worker of this process has ended
    for _ in range(5):
        launcher.refresh(store, at_most_every=60.0)
    assert len(scans) == 1  # thirty tabs a second: one scan
    launcher.refresh(store)  # a page asking for it now (the Runs page)
    assert len(scans) == 2
