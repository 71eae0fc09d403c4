"""``python -m resnet_viz.train``: train headless, into the same run store the app reads.

    python -m resnet_viz.train --preset default [--runs-dir DIR] [--set optim.lr=0.05 ...]
    python -m resnet_viz.train --preset degradation      # a Skip Lab cohort, sized for the device

Prints progress (a bar on a terminal, plain lines otherwise) and ends with one JSON line:
run id, status, steps, seconds, per cohort member its final train loss and val accuracy, and
for Skip Lab experiments the verdict (did the published effect reproduce?).
Exit status: 0 finished or stopped, 3 diverged, 1 failed or interrupted, 2 bad arguments.
The app starts this same entry point with ``--run-id`` for a run it has already recorded.
Every run waits in the store's queue first (``RESNET_VIZ_MAX_RUNS`` train at once), before
torch is imported, so a queued worker stays small.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

from .. import keys
from ..errors import ConfigError, StoreError
from ..store import RunStore
from .launcher import record_run, wait_for_slot

EXIT = {"finished": 0, "stopped": 0, "diverged": 3, "failed": 1, "interrupted": 1}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m resnet_viz.train", description=__doc__.split("\n")[0]
    )
    from .presets import ALL_PRESETS

    p.add_argument("--preset", default="default", help=f"one of: {', '.join(ALL_PRESETS)}")
    p.add_argument("--runs-dir", type=Path, default=None, help="run store (default ./runs)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. optim.lr=0.05 (repeatable)",
    )
    p.add_argument("--run-id", default=None, help=argparse.SUPPRESS)  # used by the app
    # A warm spare started by the app: import everything, then wait for a run id on stdin.
    p.add_argument("--wait-for-run", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--export", type=Path, default=None, help="also copy the finished checkpoint to this path"
    )
    return p.parse_args(argv)


class Progress:
    """A one-line bar on a terminal; a plain line every few seconds otherwise (logs, CI)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream, self.tty, self.last = stream, stream.isatty(), 0.0

    def __call__(self, step: int, total: int, info: dict[str, float]) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 5 and step < total:
            return
        self.last = now
        frac = step / total if total else 0.0
        acc = info.get("val_acc", math.nan)
        text = f"step {step}/{total} ({frac:4.0%}) loss {info.get('loss', math.nan):.4f}"
        text += f" val acc {acc:.1%}" if not math.isnan(acc) else ""
        if self.tty:
            bar = "#" * int(30 * frac)
            self.stream.write(f"\r[{bar:<30}] {text}")
            if step >= total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _log_to(path: Path) -> None:
    """Send this process's output to the run's log, as a freshly launched worker's is."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except StoreError as err:  # a store that cannot be opened or written: no traceback
        print(f"error: {err}", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    if args.wait_for_run:
        from ..data import load_dataset
        from .presets import get_preset

        # While idle, draw the default preset's dataset into the store's cache, so even the
        # first run in a new runs directory starts training at once.
        load_dataset(get_preset("default").data, cache_dir=store.root / ".cache")
        args.run_id = sys.stdin.readline().strip()
        if not args.run_id:  # the app went away before using this spare
            return 0
        _log_to(store.run_dir(args.run_id) / keys.WORKER_LOG)
    try:
        if args.run_id:
            run = store.get_run(args.run_id)
            if run is None:
                raise ConfigError(f"No run {args.run_id} in {store.root}.")
            cfg = run.config.validate()
            run_id = args.run_id
        else:
            from .presets import preset_for_device

            cfg = preset_for_device(args.preset, args.overrides)
            if not any(o.partition("=")[0].strip() == "name" for o in args.overrides):
                # As in the app: a single model is named after its setup, a cohort after its
                # experiment; numbered where the name is taken.
                base = cfg.name if cfg.cohort else cfg.setup_name()
                cfg = dataclasses.replace(cfg, name=store.distinct_name(base))
            run_id = record_run(store, cfg)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"run {run_id} → {store.root}", file=sys.stderr)
    if not wait_for_slot(store, run_id, say=lambda text: print(text, file=sys.stderr)):
        run = store.get_run(run_id)
        print(json.dumps({"run_id": run_id, "status": run.status if run else "deleted"}))
        return 0
    from .trainer import Trainer  # torch: only now that this run may train

    summary = Trainer(cfg, store, run_id, progress=Progress()).run()
    if args.export and summary["status"] == "finished":
        args.export.parent.mkdir(parents=True, exist_ok=True)
        src = store.checkpoint_path(run_id, 0)
        tmp = args.export.with_suffix(".tmp")
        tmp.write_bytes(src.read_bytes())
        os.replace(tmp, args.export)
    print(json.dumps(summary))
    return EXIT.get(summary["status"], 1)


if __name__ == "__main__":
    sys.exit(main())
