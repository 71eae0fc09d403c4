"""``python -m resnet_viz.train``: the headless entry point the app's worker also uses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from resnet_viz.config import TrainConfig
from resnet_viz.store import RunStore
from resnet_viz.train import launcher

from ..conftest import wait_for as _wait_for

ROOT = Path(__file__).resolve().parents[2]
# Workers import torch in a fresh process: on a loaded 2-core CI machine that can take a while.
wait_for = partial(_wait_for, timeout=120.0, every=0.2)
TINY = ["data.train_size=256", "data.val_size=128", "batch_size=64", "epochs=1"]


def cli(*args: str, runs: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "resnet_viz.train", "--runs-dir", str(runs), *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def test_preset_run_prints_progress_and_one_json_line(tmp_path):
    out_model = tmp_path / "exported.safetensors"
    sets = [a for s in TINY for a in ("--set", s)]
    res = cli("--preset", "default", *sets, "--export", str(out_model), runs=tmp_path / "runs")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["steps"] == 4
    assert summary["seconds"] > 0
    (model,) = summary["models"]
    assert model["name"] == "resnet8"
    assert model["final_train_loss"] > 0 and 0 <= model["best_val_acc"] <= 1
    assert "step 4/4" in res.stderr  # plain progress lines when not on a terminal
    assert out_model.exists()
    # The run is in the same store the app reads.
    run = RunStore(tmp_path / "runs").get_run(summary["run_id"])
    assert run.status == "finished" and run.config.epochs == 1
    assert run.name == "resnet8 · shapes"  # named after its setup, not "default"


def test_bad_settings_exit_2_with_a_message(tmp_path):
    res = cli("--set", "optim.lr=fast", runs=tmp_path / "runs")
    assert res.returncode == 2 and "Bad value for optim.lr" in res.stderr
    res = cli("--preset", "nope", runs=tmp_path / "runs")
    assert res.returncode == 2 and "Unknown preset" in res.stderr


def test_divergence_exits_3(tmp_path):
    sets = [
        *TINY,
        "model.batchnorm=false",
        "model.skip=0",
        "optim.lr=10",
        "optim.schedule=constant",
        "log_every=1",
    ]
    res = cli(*[a for s in sets for a in ("--set", s)], runs=tmp_path / "runs")
    assert res.returncode == 3, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["status"] == "diverged"


def test_failure_exits_1(tmp_path):
    sets = [*TINY, "data.dataset=folder", "data.folder=nowhere"]
    res = cli(*[a for s in sets for a in ("--set", s)], runs=tmp_path / "runs")
    assert res.returncode == 1
    assert json.loads(res.stdout.strip().splitlines()[-1])["status"] == "failed"


def test_launched_worker_trains_and_stops_on_request(tmp_path):
    store = RunStore(tmp_path / "runs")
    cfg = TrainConfig().with_overrides([*TINY[:3], "epochs=50", "log_every=1"])
    run_id = launcher.launch(store, cfg)
    wait_for(lambda: store.get_run(run_id).step >= 2)
    launcher.request_stop(store, run_id)
    t0 = time.monotonic()
    run = wait_for(lambda: (r := store.get_run(run_id)).status != "running" and r)
    assert run.status == "stopped"
    assert time.monotonic() - t0 < 5  # Stop acts at the next flush (≤ 0.5 s of steps)
    assert (store.run_dir(run_id) / "model-0.safetensors").exists()
    assert (store.run_dir(run_id) / "worker.log").exists()


def test_killed_worker_leaves_an_interrupted_readable_run(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    cfg = TrainConfig().with_overrides([*TINY[:3], "epochs=50", "log_every=1"])
    run_id = launcher.launch(store, cfg)
    wait_for(lambda: store.get_run(run_id).step >= 2)
    pid = store.get_run(run_id).pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: launcher.exit_codes().get(run_id) is not None, timeout=20)
    assert launcher.refresh(store) == [run_id]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and "exited unexpectedly" in run.reason
    steps, _ = store.scalars(run_id, "train/loss")
    assert len(steps) >= 2  # what it recorded is still there


def test_dead_worker_found_after_a_server_restart(tmp_path, monkeypatch):
    """A fresh process (no Popen handle) still finds a dead worker through pid + heartbeat."""
    store = RunStore(tmp_path / "runs")
    run_id = launcher.record_run(store, TrainConfig())
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.mark_started(run_id, device="cpu", total_steps=10, pid=dead.pid)
    monkeypatch.setattr(launcher, "STALE_AFTER_S", 0.0)
    assert launcher.reap_dead(store) == [run_id]
    assert store.get_run(run_id).status == "interrupted"


def test_sigterm_stops_cleanly(tmp_path):
    store = RunStore(tmp_path / "runs")
    cfg = TrainConfig().with_overrides([*TINY[:3], "epochs=50", "log_every=1"])
    run_id = launcher.launch(store, cfg)
    wait_for(lambda: store.get_run(run_id).step >= 2)
    os.kill(store.get_run(run_id).pid, signal.SIGTERM)
    run = wait_for(lambda: (r := store.get_run(run_id)).status != "running" and r)
    assert run.status == "stopped" and "termination signal" in run.reason


def test_a_warm_spare_takes_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_VIZ_PREWARM", "1")
    monkeypatch.setattr(launcher, "_procs", {})  # workers of earlier tests may still be exiting
    store = RunStore(tmp_path / "runs")
    launcher.prewarm(store)
    spare = launcher._spares[str(store.root)]
    launcher.prewarm(store)  # idempotent while the spare waits
    assert launcher._spares[str(store.root)] is spare
    run_id = launcher.launch(store, TrainConfig().with_overrides(TINY))
    assert store.get_run(run_id).pid == spare.pid
    run = wait_for(lambda: (r := store.get_run(run_id)).status not in ("queued", "running") and r)
    assert run.status == "finished", run.reason
    assert f"run {run_id}" in (store.run_dir(run_id) / "worker.log").read_text()
    assert spare.wait(30) == 0


def test_no_spare_is_started_while_a_worker_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_VIZ_PREWARM", "1")
    monkeypatch.setattr(launcher, "_procs", {})
    store = RunStore(tmp_path / "runs")
    run_id = launcher.launch(store, TrainConfig().with_overrides([*TINY[:3], "epochs=50"]))
    wait_for(lambda: store.get_run(run_id).step >= 1)
    launcher.prewarm(store)  # would take a core from the run's first steps
    assert str(store.root) not in launcher._spares
    launcher.request_stop(store, run_id)
    wait_for(lambda: launcher._procs[run_id].poll() is not None)
    launcher.prewarm(store)
    spare = launcher._spares.pop(str(store.root))
    spare.stdin.close()
    assert spare.wait(60) == 0


def test_a_spare_exits_when_the_app_goes_away(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_VIZ_PREWARM", "1")
    monkeypatch.setattr(launcher, "_procs", {})
    store = RunStore(tmp_path / "runs")
    launcher.prewarm(store)
    spare = launcher._spares.pop(str(store.root))
    spare.stdin.close()  # what the app's exit does to the pipe
    assert spare.wait(60) == 0
    assert store.list_runs() == []


def test_spares_can_be_turned_off(tmp_path):
    store = RunStore(tmp_path / "runs")  # conftest sets RESNET_VIZ_PREWARM=0
    launcher.prewarm(store)
    assert str(store.root) not in launcher._spares


def test_a_lab_preset_runs_headless_and_its_json_lists_every_member(tmp_path):
    sets = [*TINY, "model.arch=resnet8", "cohort=resnet8", "evals_per_epoch=1"]
    res = cli("--preset", "pull-skips", *[a for s in sets for a in ("--set", s)],
              runs=tmp_path / "runs")  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert [m["name"] for m in summary["models"]] == ["resnet8", "resnet8 #2"]
    assert all(m["final_train_loss"] > 0 for m in summary["models"])
    assert summary["verdict"]["reproduced"] in (True, False)
    assert "Pulling the skips of stage 2 in resnet8 #2, from step 2," in summary["verdict"]["text"]
    store = RunStore(tmp_path / "runs")
    events = [(e.step, e.member, e.kind) for e in store.events(summary["run_id"])]
    assert (1, 1, "skip") in events and (3, 1, "skip") in events  # 35% and 65% of 4 steps
    assert (store.run_dir(summary["run_id"]) / "model-1.safetensors").exists()
