"""Recording runs, queueing them, and starting their worker processes (the app and the CLI).

At most :func:`max_runs` runs train at once, whoever started them: every run's worker first
waits in the store's queue (:func:`wait_for_slot`, before it imports torch, so a waiting run
costs a small Python process and no GPU memory) and starts training when its turn comes. The
queue is the store's, so it holds the app, the CLI and any process calling :func:`launch`
together, and outlives a restart of the app.

The worker is ``python -m resnet_viz.train --run-id ID`` in its own process session, so a
crash, an OOM kill or a Streamlit restart in one never takes the other down; a restarted app
re-attaches to the run through the store.

Starting Python and importing torch and torchvision takes seconds, so the Train page asks for a
warm *spare* (:func:`prewarm`): a worker that has done its imports and waits for a run id on
stdin. Start hands the run to it, and training begins at once. When the app exits, the spare's
stdin closes and it exits too. ``RESNET_VIZ_PREWARM=0`` turns spares off.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import keys
from ..config import TrainConfig
from ..errors import ConfigError, StoreError
from ..store import RunStore

# A worker writes a heartbeat at least every few seconds; after this long without one, and with
# its process gone, a run is marked interrupted.
STALE_AFTER_S = 20.0

# How often a queued worker asks for its turn (and beats its heart).
QUEUE_POLL_S = 1.0
CANCELLED = "Cancelled while it waited in the queue; it never trained."

_procs: dict[str, subprocess.Popen] = {}
_spares: dict[str, subprocess.Popen] = {}  # runs dir → a warm worker waiting for a run id
_lock = threading.Lock()
_refreshed_at: dict[Path, float] = {}  # runs dir → when refresh last scanned it


def record_run(store: RunStore, cfg: TrainConfig, *, owner: str | None = None) -> str:
    """Create the queued run record for ``cfg`` (one cohort member per model)."""
    return store.create_run(cfg, owner=owner)


def max_runs() -> int:
    """How many runs may train at once: ``RESNET_VIZ_MAX_RUNS``, else one per GPU, else one.

    GPUs are counted without importing torch (a queued worker must stay small): the devices
    ``CUDA_VISIBLE_DEVICES`` names, or the ``/dev/nvidiaN`` device files.
    """
    text = os.environ.get("RESNET_VIZ_MAX_RUNS", "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"RESNET_VIZ_MAX_RUNS={text!r}: must be a whole number, 1 or more.")
        return value
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    else:
        gpus = len([p for p in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name)])
    return max(1, gpus)


def wait_for_slot(
    store: RunStore,
    run_id: str,
    *,
    limit: int | None = None,
    say: Callable[[str], None] | None = None,
) -> bool:
    """Wait until queued run ``run_id`` may train, and take its slot: True. False when it was
    cancelled (or otherwise ended) while it waited. ``say`` hears each change of place."""
    limit = limit or max_runs()
    last_place, last_reap = None, 0.0
    while True:
        place = store.claim(run_id, limit)
        if place == 0:
            return True
        if place is None:
            return False
        if say is not None and place != last_place:
            ahead = f"{place} run{'s' * (place != 1)} ahead"
            say(f"queued: {ahead}; at most {limit} train at once (RESNET_VIZ_MAX_RUNS)")
        last_place = place
        # Nobody else may be around to notice a dead worker whose slot this run waits for.
        if time.monotonic() - last_reap > STALE_AFTER_S / 2:
            reap_dead(store)
            last_reap = time.monotonic()
        time.sleep(QUEUE_POLL_S)


def _worker_env(data_root: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if data_root is not None:
        env["RESNET_VIZ_DATA_ROOT"] = str(data_root)
    # The package must be importable from the worker whatever its working directory.
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _worker_cmd(store: RunStore, *args: str) -> list[str]:
    return [sys.executable, "-m", "resnet_viz.train", "--runs-dir", str(store.root), *args]


def prewarm(store: RunStore) -> None:
    """Make sure a warm spare worker is waiting for this store's next run, unless a worker
    this app started is still training."""
    if os.environ.get("RESNET_VIZ_PREWARM", "1") == "0":
        return
    key = str(store.root)
    with _lock:
        spare = _spares.get(key)
        if spare is not None and spare.poll() is None:
            return
        # Importing torch takes seconds of CPU. While a worker trains that would come out of
        # its first steps and first charts (measured on 2 cores), so the spare waits: the page
        # run after the training ends asks again.
        if any(p.poll() is None for p in _procs.values()):
            return
        _spares[key] = subprocess.Popen(
            _worker_cmd(store, "--wait-for-run"),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_worker_env(None),
            start_new_session=True,
        )


def _hand_to_spare(store: RunStore, run_id: str) -> subprocess.Popen | None:
    with _lock:
        spare = _spares.pop(str(store.root), None)
    if spare is None or spare.poll() is not None:
        return None
    try:
        spare.stdin.write(f"{run_id}\n".encode())
        spare.stdin.close()
    except OSError:  # it died between the poll and the write
        return None
    return spare


def launch(
    store: RunStore, cfg: TrainConfig, *, data_root: Path | None = None, owner: str | None = None
) -> str:
    """Record ``cfg`` and start its worker, which waits in the queue for its turn (a warm
    spare takes it when a slot is free now); returns the run id."""
    cfg.validate()
    limit = max_runs()
    run_id = record_run(store, cfg, owner=owner)
    # A spare has torch imported (hundreds of MB): only worth it for a run that starts now.
    use_spare = data_root is None and store.free_slots(limit) > 0
    proc = _hand_to_spare(store, run_id) if use_spare else None
    if proc is None:
        with open(store.run_dir(run_id) / keys.WORKER_LOG, "ab") as log:
            proc = subprocess.Popen(
                _worker_cmd(store, "--run-id", run_id),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_worker_env(data_root),
                start_new_session=True,
            )
    store.set_pid(run_id, proc.pid)
    with _lock:
        _procs[run_id] = proc
    return run_id


def exit_codes() -> dict[str, int | None]:
    """Exit codes of workers this process started that have ended (reaps zombies)."""
    with _lock:
        return {rid: p.poll() for rid, p in _procs.items() if p.poll() is not None}


def request_stop(store: RunStore, run_id: str) -> None:
    """Stop a training run at its next step, or cancel a queued one now."""
    if not store.cancel(run_id, CANCELLED):
        store.add_control(run_id, "stop")


def refresh(store: RunStore, *, at_most_every: float = 0.0) -> list[str]:
    """Mark runs whose worker died as interrupted; returns their ids. A store that cannot be
    written (read-only, full) can still be read: the pages go on showing it, and the marking
    waits until it can be written (Start says why it cannot).

    ``at_most_every``: seconds; look in the store only if this process has not done so for
    ``store`` that recently (a worker of this process that exited is still noticed at once).
    Thirty tabs polling a run each second need not each scan for dead runs."""
    codes = {rid: code for rid, code in exit_codes().items() if code not in (None, 0)}
    now = time.monotonic()
    with _lock:
        if not codes and now - _refreshed_at.get(store.root, -math.inf) < at_most_every:
            return []
        _refreshed_at[store.root] = now
    try:
        return reap_dead(store, exit_codes=codes)
    except StoreError:
        return []


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, exited but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (exited, not yet reaped by its parent) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def reap_dead(store: RunStore, *, exit_codes: dict[str, int | None] | None = None) -> list[str]:
    """Mark runs whose worker is gone as interrupted; returns their ids.

    A run counts as dead when its heartbeat is stale and its process is not alive on this
    host (``exit_codes`` lets a launcher that holds the process say so at once).
    """
    exit_codes = exit_codes or {}
    now, host, dead = time.time(), socket.gethostname(), []
    for run in store.active_runs():
        code = exit_codes.get(run.id)
        if code is not None:
            dead.append((run.id, f"The training process exited unexpectedly (code {code})."))
            continue
        if now - (run.heartbeat or run.created) < STALE_AFTER_S:
            continue
        if run.host == host and run.pid and pid_alive(run.pid):
            continue
        dead.append(
            (
                run.id,
                "The training process stopped without saying why (killed, out of memory, or "
                "the machine restarted). What it recorded is kept.",
            )
        )
    return [run_id for run_id, reason in dead if store.mark_interrupted(run_id, reason)]
