"""Time to 90% validation accuracy with the ``default`` preset, as a user gets it: a fresh
``python -m resnet_viz.train --preset default`` process, wall clock from its launch.

Reads the first evaluation at or above the target from the run store ("elapsed" is recorded at
every evaluation). Goal: ≤ 60 s on a 2-core CPU. Prints the figure and its ratio to the goal.

    python bench/time_to_accuracy.py [--target 0.9] [--repeats 1] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resnet_viz import keys  # noqa: E402 (after the sys.path line)
from resnet_viz.store import RunStore  # noqa: E402

GOAL_S = 60.0


def one_run(runs: Path, target: float) -> tuple[float | None, float, dict]:
    t0 = time.time()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "resnet_viz.train", "--preset", "default"]
    cmd += ["--runs-dir", str(runs)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    total = time.time() - t0
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    store = RunStore(runs)
    run = store.get_run(summary["run_id"])
    _, acc = store.scalars(run.id, keys.VAL_ACC)
    _, elapsed = store.scalars(run.id, keys.ELAPSED)
    hit = next((i for i, a in enumerate(acc) if a >= target), None)
    if hit is None:
        return None, total, summary
    # Trainer time of that evaluation, plus what the process spent before the trainer began
    # (interpreter and torch import, data loading are inside the trainer's clock already).
    before_trainer = (run.created - t0) if run.created else 0.0
    return before_trainer + float(elapsed[hit]), total, summary


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--target", type=float, default=0.9)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--cold", action="store_true", help="no Shapes cache: include generating it")
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            runs = Path(tmp) / (f"cold{i}" if args.cold else "warm")
            if not args.cold and i == 0:
                one_run(runs, args.target)  # fills the Shapes cache, as any earlier run would
            t, total, summary = one_run(runs, args.target)
            best = summary["models"][0]["best_val_acc"]
            if t is None:
                print(
                    f"run {i}: never reached {args.target:.0%} (best {best:.1%}) in {total:.1f} s"
                )
            else:
                print(
                    f"run {i}: {args.target:.0%} after {t:.1f} s (whole run {total:.1f} s, best "
                    f"{best:.1%}); ratio to the {GOAL_S:.0f} s goal {t / GOAL_S:.2f}"
                )


if __name__ == "__main__":
    main()
