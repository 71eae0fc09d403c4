"""Recording runs and starting their worker processes (used by the app and the CLI).

The worker is ``python -m resnet_viz.train --run-id ID`` in its own process session, so a
crash, an OOM kill or a Streamlit restart in one never takes the other down; a restarted app
re-attaches to the run through the store.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from pathlib import Path

from ..config import TrainConfig
from ..store import RunStore
from .trainer import member_label

_procs: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def record_run(store: RunStore, cfg: TrainConfig) -> str:
    """Create the queued run record for ``cfg`` (one cohort member per model)."""
    members = [(member_label(cfg.model), dataclasses.asdict(cfg.model))]
    return store.create_run(cfg.name, cfg.to_dict(), members)


def launch(store: RunStore, cfg: TrainConfig, *, data_root: Path | None = None) -> str:
    """Record ``cfg`` and start its worker; returns the run id at once."""
    cfg.validate()
    run_id = record_run(store, cfg)
    log = open(store.run_dir(run_id) / "worker.log", "ab")  # noqa: SIM115 (handed to the child)
    env = dict(os.environ)
    if data_root is not None:
        env["RESNET_VIZ_DATA_ROOT"] = str(data_root)
    # The package must be importable from the worker whatever its working directory.
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    cmd = [
        sys.executable,
        "-m",
        "resnet_viz.train",
        "--run-id",
        run_id,
        "--runs-dir",
        str(store.root),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    log.close()
    store.set_pid(run_id, proc.pid)
    with _lock:
        _procs[run_id] = proc
    return run_id


def exit_codes() -> dict[str, int | None]:
    """Exit codes of workers this process started that have ended (reaps zombies)."""
    with _lock:
        return {rid: p.poll() for rid, p in _procs.items() if p.poll() is not None}


def request_stop(store: RunStore, run_id: str) -> None:
    store.add_control(run_id, "stop")


def refresh(store: RunStore) -> list[str]:
    """Mark runs whose worker died as interrupted; returns their ids."""
    codes = {rid: code for rid, code in exit_codes().items() if code not in (None, 0)}
    return store.reap_dead(exit_codes=codes)
