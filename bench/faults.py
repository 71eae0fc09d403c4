"""A fault campaign against real workers: every fault must end with a message that says what
happened, and no logged step may be lost.

Each scenario trains a small run (every step logged), injects one fault mid-run, recovers,
and counts the run's logged steps at the fault and after recovery (none lost: after ≥ at).

1. SIGKILL the worker: the run is marked interrupted, with the reason.
2. SIGKILL the process that launched it (the app server's place): the worker trains on, the
   run finishes, and a fresh process (a restarted server) reads it whole.
3. Fill the runs dir's disk (a small tmpfs): the run ends failed, saying the disk is full,
   once space is freed.
4. Remount the runs dir read-only: the run ends failed, saying it is read-only, once it is
   writable again.
5. Corrupt runs.db: opening it says it is damaged and how to move it aside (the library and
   the CLI, no traceback); the copy taken before is whole.

Scenarios 3 and 4 mount a tmpfs and need root; elsewhere they are reported as skipped.

    sudo python bench/faults.py
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(os.environ.get("RESNET_VIZ_BENCH_ROOT", Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(ROOT))

from resnet_viz.config import TrainConfig  # noqa: E402
from resnet_viz.errors import StoreError  # noqa: E402
from resnet_viz.store import RunStore  # noqa: E402
from resnet_viz.train import launcher  # noqa: E402

CFG = TrainConfig().with_overrides(
    {"data.train_size": 512, "data.val_size": 128, "batch_size": 64, "epochs": 40,
     "log_every": 1, "snapshots": 0, "name": "fault"}
)  # fmt: skip
results: list[tuple[str, str, str]] = []


def logged(db: Path, run_id: str) -> int:
    """Logged steps of ``run_id``, read straight from SQLite (read-only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (n,) = con.execute(
            "SELECT COUNT(*) FROM scalars WHERE run_id=? AND key='train/loss'", (run_id,)
        ).fetchone()
    finally:
        con.close()
    return n


def wait(predicate, timeout: float = 180, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {predicate}")


def record(name: str, at: int, after: int, message: str) -> None:
    verdict = "none lost" if after >= at else f"LOST {at - after}"
    results.append((name, f"{at} → {after} steps: {verdict}", message))
    print(f"{name}: {at} → {after} logged steps ({verdict})\n    {message}\n", flush=True)


def started(store: RunStore, *, steps: int = 20) -> str:
    run_id = launcher.launch(store, CFG)
    wait(lambda: (r := store.get_run(run_id)) and r.step >= steps)
    return run_id


def kill_worker(tmp: Path) -> None:
    store = RunStore(tmp / "kill")
    run_id = started(store)
    os.kill(store.get_run(run_id).pid, signal.SIGKILL)
    at = logged(store.db_path, run_id)
    wait(lambda: launcher.refresh(store) or not store.get_run(run_id).active)
    run = store.get_run(run_id)
    record("SIGKILL the worker", at, logged(store.db_path, run_id), f"{run.status}: {run.reason}")


def kill_launcher(tmp: Path) -> None:
    runs = tmp / "server"
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from resnet_viz.store import RunStore; from resnet_viz.train import launcher;"
        "from resnet_viz.config import TrainConfig; import json;"
        f"cfg = TrainConfig.from_dict(json.loads({CFG.to_json()!r}));"
        "print(launcher.launch(RunStore(sys.argv[2]), cfg), flush=True); time.sleep(3600)"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code, str(ROOT), str(runs)], stdout=subprocess.PIPE, text=True
    )
    run_id = server.stdout.readline().strip()
    store = RunStore(runs)
    wait(lambda: store.get_run(run_id).step >= 20)
    server.kill()  # SIGKILL
    server.wait()
    at = logged(store.db_path, run_id)
    restarted = RunStore(runs)  # what a restarted server opens
    run = ended(restarted, run_id)
    total = logged(store.db_path, run_id)
    record(
        "SIGKILL the launching process (the server)",
        at,
        total,
        f"{run.status} at step {run.step}/{run.total_steps}; the worker trained on",
    )


def ended(store: RunStore, run_id: str, timeout: float = 180):
    """The run's record once it is no longer queued or running."""
    return wait(lambda: (r := store.get_run(run_id)) and not r.active and r, timeout=timeout)


@contextmanager
def tmpfs(folder: Path, name: str) -> Iterator[bool]:
    """A small tmpfs mounted on ``folder`` for the scenario ``name`` (False, recorded as
    skipped, where it cannot be mounted: not root), unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        results.append((name, "skipped", "needs root to mount a tmpfs"))
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def full_disk(tmp: Path) -> None:
    runs = tmp / "full"
    with tmpfs(runs, "Fill the disk") as ready:
        if not ready:
            return
        store = RunStore(runs)
        run_id = started(store)
        at = logged(store.db_path, run_id)  # at the fault: counted just before it
        filler = runs / "filler"
        with open(filler, "wb") as f:  # take every free byte
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        time.sleep(8)  # the worker meets the full disk and waits to record its end
        try:
            stuck = store.get_run(run_id).status
        except StoreError as err:  # what the app's pages say meanwhile
            stuck = f"the app says: {err}"
        filler.unlink()
        run = ended(store, run_id, timeout=60)
        record(
            "Fill the disk",
            at,
            logged(store.db_path, run_id),
            f"while full, {stuck}\n    once freed: {run.status}: {run.reason}",
        )


def read_only(tmp: Path) -> None:
    runs = tmp / "ro"
    with tmpfs(runs, "Remount read-only") as ready:
        if not ready:
            return
        store = RunStore(runs)
        run_id = started(store)
        at = logged(store.db_path, run_id)
        remount = subprocess.run(["mount", "-o", "remount,ro", str(runs)], capture_output=True)
        if remount.returncode != 0:  # Linux refuses while files are open for writing
            launcher.request_stop(store, run_id)
            why = remount.stderr.decode().strip().splitlines()[0]
            results.append(("Remount read-only", "skipped", f"mount refused: {why}"))
            ended(store, run_id)
            return
        time.sleep(8)
        try:
            store.create_run(CFG)
            said = "a write was accepted"
        except StoreError as err:
            said = str(err)
        subprocess.run(["mount", "-o", "remount,rw", str(runs)], check=True)
        run = ended(store, run_id, timeout=60)
        record(
            "Remount read-only",
            at,
            logged(store.db_path, run_id),
            f"a new run meanwhile: {said}\n    once writable: {run.status}: {run.reason}",
        )


def corrupt(tmp: Path) -> None:
    runs = tmp / "corrupt"
    store = RunStore(runs)
    run_id = started(store)
    launcher.request_stop(store, run_id)
    ended(store, run_id)
    backup = runs.parent / "corrupt-backup"
    shutil.copytree(runs, backup)
    at = logged(backup / "runs.db", run_id)
    data = bytearray(store.db_path.read_bytes())
    data[:100] = b"\xab" * 100
    store.db_path.write_bytes(bytes(data))
    try:
        RunStore(runs)
        said = "opened as if whole"
    except StoreError as err:
        said = str(err)
    cli = subprocess.run(
        [sys.executable, "-m", "resnet_viz.train", "--runs-dir", str(runs)],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    traceback = "Traceback" in cli.stderr
    record(
        "Corrupt runs.db",
        at,
        logged(backup / "runs.db", run_id),
        f"library: {said}\n    CLI (exit {cli.returncode}, traceback: {traceback}): "
        f"{cli.stderr.strip().splitlines()[-1]}",
    )


def main() -> None:
    os.environ["RESNET_VIZ_PREWARM"] = "0"
    os.environ["RESNET_VIZ_MAX_RUNS"] = "4"  # scenarios do not queue behind each other
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in (kill_worker, kill_launcher, full_disk, read_only, corrupt):
            scenario(Path(tmp))
    print(f"{platform.node()} · {os.cpu_count()} cores")
    for name, counts, _ in results:
        print(f"- {name}: {counts}")


if __name__ == "__main__":
    main()
