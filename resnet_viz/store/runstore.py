"""SQLite run store.

Layout under the runs directory::

    runs.db               runs, members, scalars, layer_stats, events, controls, analyses
    <run id>/             model-<member>.safetensors checkpoints and worker.log of that run

Writers: exactly one worker per run (plus the UI for control rows and the launcher for status
fixes of dead workers). Readers: any number of Streamlit sessions, polling. WAL mode lets
readers see committed data while the worker writes; the worker commits once per logging
interval, never per step. Per-layer statistics are stored as one float32 blob per logged step,
not one row per layer. Each write opens its own short-lived connection; reads reuse idle
connections to the same file (a small pool), each used by one thread at a time, so a store
object is safe to share between threads. The names of what is stored live in :mod:`resnet_viz.keys`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..errors import ConfigError, StoreError
from ..keys import (
    CONV_LAYERS,
    KIND_GROUP,
    SNAPSHOT_NAME,
    checkpoint_name,
    initial_checkpoint_name,
    snapshot_name,
)

STATUSES = ("queued", "running", "finished", "stopped", "diverged", "failed", "interrupted")
ACTIVE = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, started REAL, ended REAL,
    heartbeat REAL, status TEXT NOT NULL, reason TEXT, config TEXT NOT NULL, device TEXT,
    host TEXT, pid INTEGER, step INTEGER DEFAULT 0, total_steps INTEGER, summary TEXT,
    owner TEXT, script TEXT
);
CREATE TABLE IF NOT EXISTS members (
    run_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
    layers TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS scalars (
    run_id TEXT NOT NULL, member INTEGER NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS scalars_idx ON scalars (run_id, member, key, step);
CREATE TABLE IF NOT EXISTS layer_stats (
    run_id TEXT NOT NULL, member INTEGER NOT NULL, kind TEXT NOT NULL, step INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS layer_stats_idx ON layer_stats (run_id, member, kind, step);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, member INTEGER,
    step INTEGER NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_idx ON events (run_id, id);
CREATE TABLE IF NOT EXISTS controls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, t REAL NOT NULL,
    kind TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '{}', applied_step INTEGER
);
CREATE INDEX IF NOT EXISTS controls_idx ON controls (run_id, id);
CREATE TABLE IF NOT EXISTS analyses (
    run_id TEXT NOT NULL, member INTEGER NOT NULL, kind TEXT NOT NULL, t REAL NOT NULL,
    payload TEXT NOT NULL, PRIMARY KEY (run_id, member, kind)
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Columns added after the first stores were written: (table, column, declaration).
_ADDED_COLUMNS = (("runs", "owner", "TEXT"), ("runs", "script", "TEXT"))


# Free space below which a failed write is put down to a full disk.
FULL_BELOW_BYTES = 1 << 20

# What create_run names runs (and their folders): 20261203-125551-24483b.
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")


def default_runs_dir() -> Path:
    return Path(os.environ.get("RESNET_VIZ_RUNS_DIR", "runs")).expanduser()


@dataclass(frozen=True)
class RunRecord:
    id: str
    name: str
    status: str
    reason: str | None
    created: float
    started: float | None
    ended: float | None
    heartbeat: float | None
    config: TrainConfig
    device: str | None
    host: str | None
    pid: int | None
    step: int
    total_steps: int | None
    summary: dict[str, Any] | None
    members: tuple[str, ...]
    owner: str | None = None  # who started it, in classroom mode (a viewer's address)
    # Set for a run a user's own training script recorded (resnet_viz.watch): its model's
    # class, the script's command line and the config it passed. ``config`` is then only the
    # defaults with the run's name: the app did not choose how it trains.
    script: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def from_script(self) -> bool:
        return self.script is not None

    def describe(self) -> str:
        """The run's setup in one line: the app's config, or what the script said of itself."""
        if self.script is None:
            return self.config.describe()
        settings = ", ".join(f"{k}={v}" for k, v in (self.script.get("config") or {}).items())
        return f"from a script · {self.script.get('model', 'model')}" + (
            f" · {settings}" if settings else ""
        )

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or self.heartbeat or self.started) - self.started


@dataclass(frozen=True)
class Event:
    id: int
    member: int | None
    step: int
    t: float
    kind: str
    message: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Control:
    id: int
    kind: str
    payload: dict[str, Any]
    t: float = 0.0  # when the UI wrote it: events carry it, so latency can be measured
    applied_step: int | None = None


@dataclass(frozen=True)
class LayerSeries:
    """Per-layer statistic over steps: ``values[i, j]`` is layer ``layers[j]`` at ``steps[i]``."""

    layers: tuple[str, ...]
    steps: np.ndarray  # (T,) int64
    values: np.ndarray  # (T, L) float32


class RunStore:
    """All reads and writes of run records. Cheap to construct; writes open and close their own
    connection, reads borrow one from a small pool."""

    # Idle read connections kept. Opening one (a file open and the WAL pragmas) was the largest
    # single cost of a watching tab's poll: thirty tabs opened ~100 a second
    # (bench/classroom_load.py).
    POOL_SIZE = 8

    def __init__(self, runs_dir: str | Path | None = None) -> None:
        self.root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "runs.db"
        # Set when the store is damaged but SQLite can still read it: it is then opened
        # read-only, every write raises StoreError(problem), and the pages show this text.
        self.problem: str | None = None
        self._damaged_file: tuple[int, int] | None = None
        self._pool: list[sqlite3.Connection] = []
        self._pool_file: tuple[int, ...] | None = None  # what the pooled connections opened
        self._pool_lock = threading.Lock()
        self._refuse_an_emptied_store()
        try:
            # closing(): a Connection's own `with` commits but does not close it. Left to the
            # garbage collector, it kept the database (and SQLite's WAL state in this process)
            # open, so a runs.db damaged meanwhile still read as the old one.
            with closing(self._connect()) as con:
                con.executescript(_SCHEMA)
                for table, column, decl in _ADDED_COLUMNS:
                    have = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
                    if column not in have:
                        con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        except sqlite3.OperationalError:
            raise  # read-only or busy: the first write says so (StoreError)
        except sqlite3.DatabaseError as err:  # not a database, or a malformed one
            self._open_damaged(err)

    def _run_folders(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.is_dir() and RUN_ID.fullmatch(p.name)]

    def _refuse_an_emptied_store(self) -> None:
        """A 0-byte runs.db beside runs' folders was truncated (a full disk, a copy cut
        short): taking it for a new store would silently orphan every run in it."""
        if not self.db_path.exists() or self.db_path.stat().st_size > 0:
            return
        wal = self.db_path.with_name(self.db_path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return  # a new store whose first writes are still in its log
        if folders := self._run_folders():
            raise StoreError(
                f"The run store {self.db_path} is empty (0 bytes), but {len(folders)} runs' "
                f"folders are beside it: the file was truncated (a full disk, or a copy cut "
                "short), so their records are gone from it. Their checkpoints are still in "
                "the folders. Restore runs.db from a backup, or move it and the folders aside "
                "to start a new store."
            )

    def _open_damaged(self, err: sqlite3.DatabaseError) -> None:
        """Open a damaged store read-only if SQLite can still read its runs; else say what is
        wrong and what to do."""
        aside = f"mv {self.db_path} {self.db_path}.damaged"
        try:
            con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30.0)
            try:
                con.execute("SELECT id, status FROM runs").fetchall()
            finally:
                con.close()
        except sqlite3.DatabaseError as again:
            raise StoreError(
                f"The run store {self.db_path} is damaged and cannot be read ({again}). "
                f"Move it aside ({aside}) and the app starts a new store; "
                "`sqlite3 runs.db.damaged .recover` may get its records back."
            ) from err
        self._damaged_file = self._file_id()
        self.problem = (
            f"The run store {self.db_path} is damaged ({err}), so it is open read-only: the "
            "runs it can still read are shown, and nothing new can be recorded. To train "
            f"again, move it aside ({aside}); `sqlite3 runs.db.damaged .recover` may get its "
            "records back."
        )

    # ---- connections ------------------------------------------------------------------------
    def _file_id(self) -> tuple[int, int] | None:
        try:
            st = self.db_path.stat()
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def _still_damaged(self) -> bool:
        """Whether the damaged file this store opened read-only is still the one in place
        (once it is moved aside, the store starts afresh, without a restart of the app)."""
        if self.problem and self._file_id() != self._damaged_file:
            self.problem = None
        return self.problem is not None

    def _connect(self) -> sqlite3.Connection:
        if self._still_damaged():
            return sqlite3.connect(
                f"file:{self.db_path}?mode=ro",
                uri=True,
                timeout=30.0,
                isolation_level=None,
                check_same_thread=False,  # pooled: one thread at a time, not always the same
            )
        fresh = not self.db_path.exists()  # first use, or moved aside while the app runs
        con = sqlite3.connect(
            self.db_path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe in WAL mode
        if fresh:
            con.executescript(_SCHEMA)
        return con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self._still_damaged():
            raise StoreError(self.problem)
        try:
            con = self._connect()
        except sqlite3.OperationalError as err:
            raise self._write_error(err) from err
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except sqlite3.OperationalError as err:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise self._write_error(err) from err
        except sqlite3.DatabaseError as err:  # malformed pages found while writing
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise self._damaged(err) from err
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _write_error(self, err: sqlite3.OperationalError) -> StoreError:
        """What a failed write means for the person who asked for it; nothing already recorded
        is touched (the transaction is rolled back)."""
        text = str(err).lower()
        try:
            # A full disk often reaches SQLite as a plain "disk I/O error" (the WAL's index
            # cannot grow), so ask the disk itself.
            full = shutil.disk_usage(self.root).free < FULL_BELOW_BYTES
        except OSError:
            full = False
        if full or "full" in text:
            what = "is on a full disk, so nothing new can be recorded"
            todo = "Free some space (old runs' checkpoints are the largest files) and try again."
        elif "readonly" in text or "read-only" in text:
            what = "is read-only, so nothing new can be recorded"
            todo = "Make it writable, or point RESNET_VIZ_RUNS_DIR at a folder you can write."
        elif "locked" in text or "busy" in text:
            what = "was busy for 30 s (another process holds it)"
            todo = "Try again in a moment."
        else:
            what = f"could not be written ({err})"
            todo = "Check the disk and the folder's permissions."
        return StoreError(
            f"The run store {self.root} {what}. Runs already recorded are kept. {todo}"
        )

    def _read_error(self, err: sqlite3.OperationalError) -> StoreError:
        """A read that failed: what the same failure of a write would say, since it is the
        same disk (full, read-only, busy), but about reading."""
        text = str(self._write_error(err)).replace(
            ", so nothing new can be recorded", ", and could not even be read just now"
        )
        return StoreError(text.replace("could not be written", "could not be read"))

    def _damaged(self, err: sqlite3.DatabaseError) -> StoreError:
        return StoreError(
            f"The run store {self.db_path} is damaged ({err}); what it holds cannot all be "
            f"read. Move it aside (mv {self.db_path} {self.db_path}.damaged) and the app "
            "starts a new store; `sqlite3 runs.db.damaged .recover` may get its records back."
        )

    def _file_state(self) -> tuple[int, ...] | None:
        """What a pooled connection must still match: the same file, unchanged since (in WAL
        mode the main file changes only at checkpoints, so a rewrite in place shows too)."""
        try:
            st = self.db_path.stat()
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def _borrow(self) -> tuple[sqlite3.Connection, tuple[int, ...] | None]:
        state = None if self._still_damaged() else self._file_state()
        with self._pool_lock:
            stale: list[sqlite3.Connection] = []
            if state != self._pool_file:  # replaced, moved aside, rewritten: open anew
                stale, self._pool, self._pool_file = self._pool, [], state
            con = self._pool.pop() if self._pool and state is not None else None
        for old in stale:
            old.close()
        return (con or self._connect()), state

    def _give_back(self, con: sqlite3.Connection, state: tuple[int, ...] | None) -> None:
        with self._pool_lock:
            if (
                state is not None
                and state == self._pool_file
                and len(self._pool) < self.POOL_SIZE
                and not con.in_transaction
            ):
                self._pool.append(con)
                return
        con.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            con, state = self._borrow()
        except sqlite3.OperationalError as err:  # a full or failing disk, even for reading
            raise self._read_error(err) from err
        try:
            yield con
        except sqlite3.OperationalError as err:
            con.close()
            raise self._read_error(err) from err
        except sqlite3.DatabaseError as err:  # a malformed page met while reading
            con.close()
            raise self._damaged(err) from err
        except BaseException:
            con.close()
            raise
        self._give_back(con, state)

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def checkpoint_path(self, run_id: str, member: int = 0) -> Path:
        """Where member ``member`` of run ``run_id`` keeps its checkpoint (it may not exist)."""
        return self.run_dir(run_id) / checkpoint_name(member)

    def initial_checkpoint_path(self, run_id: str, member: int = 0) -> Path:
        """Where member ``member`` keeps its weights as they were before training."""
        return self.run_dir(run_id) / initial_checkpoint_name(member)

    def snapshot_path(self, run_id: str, member: int, step: int) -> Path:
        """Where member ``member`` keeps its weights after step ``step``."""
        return self.run_dir(run_id) / snapshot_name(member, step)

    def snapshots(self, run_id: str, member: int = 0) -> list[tuple[int, Path]]:
        """Member ``member``'s kept weight snapshots as ``(step, path)``, in step order."""
        found = []
        for path in self.run_dir(run_id).glob("*.safetensors"):
            if (m := SNAPSHOT_NAME.fullmatch(path.name)) and int(m.group(1)) == member:
                found.append((int(m.group(2)), path))
        return sorted(found)

    def has_checkpoint(self, run_id: str, member: int = 0) -> bool:
        return self.checkpoint_path(run_id, member).exists()

    # ---- runs -------------------------------------------------------------------------------
    def create_run(
        self, cfg: TrainConfig, *, owner: str | None = None, script: dict[str, Any] | None = None
    ) -> str:
        """Record a queued run of ``cfg`` and its cohort members; returns the new run id.
        ``owner``: who asked for it, where that matters (a classroom's viewers). ``script``: a
        run a user's script trains (RunRecord.script; JSON-able), with one member named by its
        ``"model"``."""
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        if script is None:
            members = [
                (n, json.dumps(dataclasses.asdict(m)))
                for n, m in zip(cfg.member_names(), cfg.members, strict=True)
            ]
        else:
            members = [(str(script.get("model", "model")), "{}")]
        with self._tx() as con:
            con.execute(
                "INSERT INTO runs (id, name, created, heartbeat, status, config, owner, script) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    cfg.name,
                    now,
                    now,
                    "queued",
                    cfg.to_json(),
                    owner,
                    json.dumps(script) if script is not None else None,
                ),
            )
            con.executemany(
                "INSERT INTO members (run_id, idx, name, config) VALUES (?, ?, ?, ?)",
                [(run_id, i, n, c) for i, (n, c) in enumerate(members)],
            )
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    # ---- the queue: at most ``limit`` runs train at once, the rest wait in creation order ----
    def claim(self, run_id: str, limit: int) -> int | None:
        """Take a training slot for queued run ``run_id`` if it is its turn, and beat its
        heart either way. 0: taken (the run is now ``running``); n > 0: n runs are ahead of it;
        None: it is not queued any more (cancelled, or marked interrupted)."""
        now = time.time()
        with self._tx() as con:
            queued = _queued_ids(con)
            if run_id not in queued:
                return None
            (running,) = con.execute("SELECT COUNT(*) FROM runs WHERE status='running'").fetchone()
            place = queued.index(run_id)
            if place < limit - running:
                con.execute(
                    "UPDATE runs SET status='running', heartbeat=?, host=?, pid=? WHERE id=?",
                    (now, socket.gethostname(), os.getpid(), run_id),
                )
                return 0
            con.execute("UPDATE runs SET heartbeat=? WHERE id=?", (now, run_id))
            return place - max(0, limit - running) + 1

    def queue_position(self, run_id: str) -> int | None:
        """How many runs wait ahead of queued run ``run_id`` (None when it is not queued)."""
        with self._read() as con:
            queued = _queued_ids(con)
        return queued.index(run_id) if run_id in queued else None

    def free_slots(self, limit: int) -> int:
        """Training slots free for the first queued run (``limit`` minus runs training)."""
        with self._read() as con:
            (running,) = con.execute("SELECT COUNT(*) FROM runs WHERE status='running'").fetchone()
        return max(0, limit - running)

    def cancel(self, run_id: str, reason: str) -> bool:
        """End a run that is still queued as ``stopped`` (its waiting worker then exits);
        False when it had already started or ended."""
        now = time.time()
        with self._tx() as con:
            cur = con.execute(
                "UPDATE runs SET status='stopped', reason=?, ended=?, heartbeat=? "
                "WHERE id=? AND status='queued'",
                (reason, now, now, run_id),
            )
            return cur.rowcount > 0

    # ---- settings shared by every session (a classroom's "everyone may train") ---------------
    def setting(self, key: str, default: str | None = None) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def put_setting(self, key: str, value: str) -> None:
        with self._tx() as con:
            con.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def mark_started(
        self, run_id: str, *, device: str, total_steps: int | None, pid: int | None = None
    ) -> None:
        """``total_steps``: None where it is not known (a script's own loop)."""
        now = time.time()
        with self._tx() as con:
            con.execute(
                "UPDATE runs SET status='running', started=?, heartbeat=?, device=?, host=?, "
                "pid=?, total_steps=? WHERE id=?",
                (now, now, device, socket.gethostname(), pid or os.getpid(), total_steps, run_id),
            )

    def beat(self, run_id: str) -> None:
        """Its worker is alive, between writes (a script's long evaluation, say)."""
        with self._tx() as con:
            con.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))

    def set_pid(self, run_id: str, pid: int) -> None:
        with self._tx() as con:
            con.execute(
                "UPDATE runs SET pid=?, host=? WHERE id=?", (pid, socket.gethostname(), run_id)
            )

    def set_layers(self, run_id: str, member: int, groups: dict[str, Sequence[str]]) -> None:
        """Name the columns of per-layer statistics: ``{"conv": [...], "block": [...]}``."""
        with self._tx() as con:
            con.execute(
                "UPDATE members SET layers=? WHERE run_id=? AND idx=?",
                (json.dumps({k: list(v) for k, v in groups.items()}), run_id, member),
            )

    def finish(
        self,
        run_id: str,
        status: str,
        *,
        reason: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        if status not in STATUSES or status in ACTIVE:
            raise ValueError(f"not a final status: {status}")
        now = time.time()
        with self._tx() as con:
            con.execute(
                "UPDATE runs SET status=?, reason=?, ended=?, heartbeat=?, summary=? WHERE id=?",
                (status, reason, now, now, json.dumps(summary) if summary else None, run_id),
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        runs = self._runs("WHERE id=?", (run_id,))
        return runs[0] if runs else None

    def list_runs(self) -> list[RunRecord]:
        return self._runs("ORDER BY created DESC", ())

    def _runs(self, where: str, args: tuple) -> list[RunRecord]:
        with self._read() as con:
            rows = con.execute(
                "SELECT id, name, status, reason, created, started, ended, heartbeat, config, "
                f"device, host, pid, step, total_steps, summary, owner, script FROM runs {where}",
                args,
            ).fetchall()
            # Only the members of these runs: get_run is polled every second by each live view.
            ids = [r[0] for r in rows]
            names: dict[str, list[str]] = {}
            for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
                chunk = ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for rid, name in con.execute(
                    f"SELECT run_id, name FROM members WHERE run_id IN ({marks}) "
                    "ORDER BY run_id, idx",
                    chunk,
                ):
                    names.setdefault(rid, []).append(name)
        return [
            RunRecord(
                id=r[0],
                name=r[1],
                status=r[2],
                reason=r[3],
                created=r[4],
                started=r[5],
                ended=r[6],
                heartbeat=r[7],
                config=_config(r[8], r[1]),
                device=r[9],
                host=r[10],
                pid=r[11],
                step=r[12] or 0,
                total_steps=r[13],
                summary=json.loads(r[14]) if r[14] else None,
                members=tuple(names.get(r[0], ())),
                owner=r[15],
                script=json.loads(r[16]) if r[16] else None,
            )
            for r in rows
        ]

    def distinct_name(self, base: str) -> str:
        """``base``, or ``base #2``, ``base #3``… whichever no recorded run is called yet."""
        with self._read() as con:
            rows = con.execute(
                "SELECT name FROM runs WHERE substr(name, 1, ?) = ?", (len(base), base)
            ).fetchall()
        taken = {r[0] for r in rows}
        name, n = base, 2
        while name in taken:
            name, n = f"{base} #{n}", n + 1
        return name

    def member_layers(
        self, run_id: str, member: int = 0, group: str = CONV_LAYERS
    ) -> tuple[str, ...]:
        with self._read() as con:
            row = con.execute(
                "SELECT layers FROM members WHERE run_id=? AND idx=?", (run_id, member)
            ).fetchone()
        return tuple(json.loads(row[0]).get(group, ())) if row else ()

    def delete_run(self, run_id: str) -> None:
        run = self.get_run(run_id)
        if run is None:
            return
        if run.active:
            raise RuntimeError("Stop the run before deleting it.")
        with self._tx() as con:
            for table in ("scalars", "layer_stats", "events", "controls", "analyses", "members"):
                con.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
            con.execute("DELETE FROM runs WHERE id=?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def active_runs(self) -> list[RunRecord]:
        """Runs queued or running, as recorded (a dead worker's run stays so until the launcher
        marks it interrupted)."""
        return self._runs("WHERE status IN ('queued', 'running') ORDER BY created", ())

    def mark_interrupted(self, run_id: str, reason: str) -> bool:
        """A run whose worker is gone: ``interrupted``, ended at its last heartbeat; what it
        recorded is kept. False when it had already ended."""
        with self._tx() as con:
            cur = con.execute(
                "UPDATE runs SET status='interrupted', reason=?, ended=COALESCE(heartbeat, ?) "
                "WHERE id=? AND status IN ('queued', 'running')",
                (reason, time.time(), run_id),
            )
            return cur.rowcount > 0

    # ---- metrics (one writer: the worker) ----------------------------------------------------
    def write_batch(
        self,
        run_id: str,
        *,
        step: int,
        scalars: Iterable[tuple[int, str, int, float]] = (),
        layer_stats: Iterable[tuple[int, str, int, np.ndarray]] = (),
        events: Iterable[tuple[int | None, int, str, str, dict[str, Any]]] = (),
    ) -> None:
        """Append one logging interval in one transaction, and beat the heart.

        scalars: ``(member, key, step, value)``; layer_stats: ``(member, kind, step, float32
        vector)``; events: ``(member, step, kind, message, payload)``.
        """
        now = time.time()
        with self._tx() as con:
            con.executemany(
                "INSERT INTO scalars (run_id, member, key, step, value) VALUES (?, ?, ?, ?, ?)",
                [(run_id, m, k, s, None if v != v else float(v)) for m, k, s, v in scalars],
            )
            con.executemany(
                "INSERT INTO layer_stats (run_id, member, kind, step, data) VALUES (?, ?, ?, ?, ?)",
                [
                    (run_id, m, k, s, np.asarray(v, dtype="<f4").tobytes())
                    for m, k, s, v in layer_stats
                ],
            )
            con.executemany(
                "INSERT INTO events (run_id, member, step, t, kind, message, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, m, s, now, k, msg, json.dumps(p)) for m, s, k, msg, p in events],
            )
            con.execute("UPDATE runs SET step=?, heartbeat=? WHERE id=?", (step, now, run_id))

    def add_event(
        self,
        run_id: str,
        kind: str,
        message: str,
        *,
        step: int = 0,
        member: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT INTO events (run_id, member, step, t, kind, message, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, member, step, time.time(), kind, message, json.dumps(payload or {})),
            )

    # ---- metrics (readers) -------------------------------------------------------------------
    def scalar_keys(self, run_id: str, member: int = 0) -> list[str]:
        with self._read() as con:
            rows = con.execute(
                "SELECT DISTINCT key FROM scalars WHERE run_id=? AND member=?", (run_id, member)
            ).fetchall()
        return sorted(r[0] for r in rows)

    def scalars(
        self,
        run_id: str,
        key: str,
        member: int = 0,
        *,
        max_points: int | None = None,
        last: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one scalar; only the ``last`` points if given; thinned evenly
        to about ``max_points``."""
        query = (
            "SELECT step, value FROM scalars WHERE run_id=? AND member=? AND key=? ORDER BY step"
        )
        args: tuple = (run_id, member, key)
        if last is not None:
            query = f"SELECT * FROM ({query} DESC LIMIT ?) ORDER BY step"
            args += (last,)
        with self._read() as con:
            rows = con.execute(query, args).fetchall()
        steps = np.array([r[0] for r in rows], dtype=np.int64)
        values = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        if max_points and len(rows) > max_points:
            keep = thin_indices(len(rows), max_points)
            steps, values = steps[keep], values[keep]
        return steps, values

    def latest_and_best(
        self, run_id: str, key: str, members: Iterable[int] = (0,)
    ) -> dict[int, tuple[float | None, float | None]]:
        """``{member: (latest value, largest value)}`` of one scalar, by two indexed lookups a
        member: what a live header shows, without reading whole series. ``None`` where there is
        no value yet, or only NaN."""
        out = {}
        with self._read() as con:
            for m in members:
                where = "FROM scalars WHERE run_id=? AND member=? AND key=?"
                latest = con.execute(
                    f"SELECT value {where} ORDER BY step DESC LIMIT 1", (run_id, m, key)
                ).fetchone()
                (best,) = con.execute(f"SELECT MAX(value) {where}", (run_id, m, key)).fetchone()
                out[m] = (latest[0] if latest else None, best)
        return out

    def layer_kinds(self, run_id: str, member: int = 0) -> list[str]:
        """The per-layer statistics recorded for a member (grad_norm, weight_norm…), sorted."""
        with self._read() as con:
            rows = con.execute(
                "SELECT DISTINCT kind FROM layer_stats WHERE run_id=? AND member=?",
                (run_id, member),
            ).fetchall()
        return sorted(r[0] for r in rows)

    def layers(self, run_id: str) -> dict[int, dict[str, tuple[str, ...]]]:
        """``{member: {group: layer names}}`` for every member of a run, in one query."""
        with self._read() as con:
            rows = con.execute(
                "SELECT idx, layers FROM members WHERE run_id=? ORDER BY idx", (run_id,)
            ).fetchall()
        return {i: {g: tuple(v) for g, v in json.loads(text).items()} for i, text in rows}

    def layer_series(
        self,
        run_id: str,
        kind: str,
        member: int = 0,
        *,
        max_points: int | None = None,
        layers: Sequence[str] | None = None,
    ) -> LayerSeries:
        """Statistic ``kind`` of every layer over the steps, thinned in SQL to about
        ``max_points`` steps; ``layers``: the column names, when the caller has them."""
        if layers is None:
            layers = self.member_layers(run_id, member, KIND_GROUP.get(kind, CONV_LAYERS))
        with self._read() as con:
            n = con.execute(
                "SELECT COUNT(*) FROM layer_stats WHERE run_id=? AND member=? AND kind=?",
                (run_id, member, kind),
            ).fetchone()[0]
            stride = max(1, -(-n // max_points)) if max_points else 1
            # Thin in SQL so a long run does not ship every blob to a chart that can't show them.
            rows = con.execute(
                "SELECT step, data FROM (SELECT step, data, ROW_NUMBER() OVER (ORDER BY step) - 1 "
                "AS rn FROM layer_stats WHERE run_id=? AND member=? AND kind=?) "
                "WHERE rn % ? = 0 OR rn = ? ORDER BY step",
                (run_id, member, kind, stride, n - 1),
            ).fetchall()
        return _series(tuple(layers), rows)

    def latest_layer_stats(
        self,
        run_id: str,
        kind: str,
        members: Iterable[int] = (0,),
        *,
        layers: Mapping[int, Sequence[str]] | None = None,
    ) -> dict[int, LayerSeries]:
        """``{member: its last row of statistic kind}`` (an empty series before the first), by
        one indexed lookup a member: what an "at the last evaluation" panel draws. ``layers``:
        ``{member: column names}`` when the caller has them."""
        group = KIND_GROUP.get(kind, CONV_LAYERS)
        members = list(members)
        if layers is None:
            layers = {m: self.member_layers(run_id, m, group) for m in members}
        with self._read() as con:
            return {
                m: _series(
                    tuple(layers.get(m, ())),
                    con.execute(
                        "SELECT step, data FROM layer_stats WHERE run_id=? AND member=? "
                        "AND kind=? ORDER BY step DESC LIMIT 1",
                        (run_id, m, kind),
                    ).fetchall(),
                )
                for m in members
            }

    def events(self, run_id: str) -> list[Event]:
        with self._read() as con:
            rows = con.execute(
                "SELECT id, member, step, t, kind, message, payload FROM events WHERE run_id=? "
                "ORDER BY id",
                (run_id,),
            ).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    # ---- controls (UI writes, worker polls) --------------------------------------------------
    def add_control(self, run_id: str, kind: str, payload: dict[str, Any] | None = None) -> int:
        with self._tx() as con:
            cur = con.execute(
                "INSERT INTO controls (run_id, t, kind, payload) VALUES (?, ?, ?, ?)",
                (run_id, time.time(), kind, json.dumps(payload or {})),
            )
            return int(cur.lastrowid)

    def pending_controls(self, run_id: str, after_id: int = 0) -> list[Control]:
        with self._read() as con:
            rows = con.execute(
                "SELECT id, kind, payload, t, applied_step FROM controls WHERE run_id=? AND id>? "
                "AND applied_step IS NULL ORDER BY id",
                (run_id, after_id),
            ).fetchall()
        return [Control(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def controls(self, run_id: str) -> list[Control]:
        """Every control row of a run, applied or not, oldest first."""
        with self._read() as con:
            rows = con.execute(
                "SELECT id, kind, payload, t, applied_step FROM controls WHERE run_id=? "
                "ORDER BY id",
                (run_id,),
            ).fetchall()
        return [Control(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def mark_applied(self, control_id: int, step: int) -> None:
        with self._tx() as con:
            con.execute("UPDATE controls SET applied_step=? WHERE id=?", (step, control_id))

    # ---- analyses (after training: lesion study, shattering; JSON per member) ---------------
    def put_analysis(self, run_id: str, member: int, kind: str, payload: dict[str, Any]) -> None:
        """Store (or replace) one analysis of one member."""
        with self._tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO analyses (run_id, member, kind, t, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, member, kind, time.time(), json.dumps(payload)),
            )

    def analyses(self, run_id: str, kind: str) -> dict[int, dict[str, Any]]:
        """``{member: payload}`` of one kind of analysis."""
        with self._read() as con:
            rows = con.execute(
                "SELECT member, payload FROM analyses WHERE run_id=? AND kind=? ORDER BY member",
                (run_id, kind),
            ).fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}


def _queued_ids(con: sqlite3.Connection) -> list[str]:
    """The queued runs' ids in the order they start: creation, then id."""
    return [
        r[0] for r in con.execute("SELECT id FROM runs WHERE status='queued' ORDER BY created, id")
    ]


def _series(layers: tuple[str, ...], rows: list[tuple[int, bytes]]) -> LayerSeries:
    """A LayerSeries from ``(step, float32 blob)`` rows; a blob shorter than ``layers`` is
    padded with zeros, a longer one cut."""
    steps = np.array([r[0] for r in rows], dtype=np.int64)
    width = len(layers)
    values = np.zeros((len(rows), width), dtype=np.float32)
    for i, (_, blob) in enumerate(rows):
        vec = np.frombuffer(blob, dtype="<f4")
        values[i, : min(width, vec.size)] = vec[:width]
    return LayerSeries(layers, steps, values)


@functools.lru_cache(maxsize=1024)  # a config is frozen; each poll of each tab reads its run's
def _config(text: str, name: str) -> TrainConfig:
    try:
        return TrainConfig.from_dict(json.loads(text))
    except (ConfigError, ValueError):
        # A record whose config no longer parses (hand-edited, or from a far older version)
        # still lists and opens; only its setup reads as the defaults.
        return TrainConfig(name=name)


def thin_indices(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices into ``range(n)``, always keeping the last."""
    # At least two: linspace(0, n - 1, 1) is [0] alone, which would drop the last point.
    return np.unique(np.linspace(0, n - 1, max(max_points, 2)).round().astype(np.int64))
