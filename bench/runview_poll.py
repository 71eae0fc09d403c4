"""Server CPU per live-view poll: what one run of the run view's fragment costs the Streamlit
server, for a 6-member Skip Lab cohort and, as the baseline measured in the same run, for a
single-model run with the same number of steps.

The store holds a synthetic live run (status ``running``, a fresh heartbeat) of ``--steps``
logged steps: per-batch loss/accuracy/lr and per-layer gradient norms every step, throughput
and weight statistics every 5 steps, an evaluation with block probes every 50. The Skip Lab
page is opened in AppTest on ``?run=ID``; each poll runs the page once, and the fragment's
share (the live view itself) is timed with ``time.thread_time`` around its two parts,
``runview._top`` (the header, every second) and ``runview._body`` (members,
controls and charts, as often as the charts redraw), with the store reads each
made. Two kinds of poll: figures rebuilt
(every 3 s on a small CPU) and figures re-sent from the cache (the polls in between).

    python bench/runview_poll.py [--steps 1000] [--polls 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

# RESNET_VIZ_BENCH_ROOT: measure another checkout (e.g. a worktree of an older commit).
ROOT = os.environ.get("RESNET_VIZ_BENCH_ROOT", str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, ROOT)

import resnet_viz  # noqa: E402, I001  (sets OMP_WAIT_POLICY before torch starts its threads)
import numpy as np  # noqa: E402

MEMBERS = ("plain20", "plain56", "resnet20", "resnet56", "resnet20 skip 0.5", "plain32")


def fill(store, run_id: str, members: int, steps: int) -> None:
    """A live run of ``steps`` logged steps for ``members`` members (names as ResNet-20's).
    The keys are spelled out, not taken from resnet_viz.keys, so that the script also measures
    checkouts from before that module existed."""
    conv = [f"conv{i}" for i in range(20)]
    blocks = [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]
    for m in range(members):
        store.set_layers(run_id, m, {"conv": conv, "block": blocks})
    store.mark_started(run_id, device="cpu", total_steps=steps * 2, pid=os.getpid())
    rng = np.random.default_rng(0)
    for first in range(1, steps + 1, 50):
        scalars, stats = [], []
        for m in range(members):
            for s in range(first, first + 50):
                scalars += [
                    (m, "train/loss", s, 2.3 / (1 + s / 200) + rng.random() * 0.1),
                    (m, "train/acc", s, min(1.0, s / steps)),
                    (m, "lr", s, 0.1),
                ]
                stats.append((m, "grad_norm", s, rng.random(len(conv)).astype(np.float32)))
                if s % 5 == 0:
                    scalars.append((m, "throughput", s, 900.0))
                    for kind in ("weight_norm", "update_ratio"):
                        stats.append((m, kind, s, rng.random(len(conv)).astype(np.float32)))
            last = first + 49
            scalars += [(m, "val/loss", last, 1.0), (m, "val/acc", last, 0.5 + last / steps / 3)]
            for kind in ("residual_ratio", "response_std"):
                stats.append((m, kind, last, rng.random(len(blocks)).astype(np.float32)))
        store.write_batch(run_id, step=first + 49, scalars=scalars, layer_stats=stats)


def measure(run_id: str, polls: int) -> dict[str, float]:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from resnet_viz.store import RunStore
    from resnet_viz.ui import runcharts, runview

    app = Path(resnet_viz.__file__).resolve().parents[1] / "app.py"
    PagesManager.uses_pages_directory = False
    # The live view's two parts, timed apart: the header (every second) and the body (members,
    # controls, charts: as often as the charts redraw). Older checkouts had one part, _live.
    parts = [n for n in ("_top", "_body", "_live") if hasattr(runview, n)]
    originals = {n: getattr(runview, n) for n in parts}
    original_read = RunStore._read
    seen: dict[str, list[tuple[float, int]]] = {n: [] for n in parts}
    opened = [0]

    def read(self):
        opened[0] += 1
        return original_read(self)

    def timed(name):
        def run(*args, **kwargs):
            opened[0], t = 0, time.thread_time()
            originals[name](*args, **kwargs)
            seen[name].append((time.thread_time() - t, opened[0]))

        return run

    for n in parts:
        setattr(runview, n, timed(n))
    RunStore._read = read
    try:
        at = AppTest.from_file(str(app), default_timeout=120)
        at.run()
        at.switch_page("pages/skiplab.py")
        at.query_params["run"] = run_id
        out = {}
        for mode in ("rebuilt", "cached"):
            at.run()  # warm-up (imports, first figures)
            assert not at.exception, at.exception
            for v in seen.values():
                v.clear()
            for _ in range(polls):
                if mode == "rebuilt":  # every figure due again (older checkouts: a period)
                    if hasattr(runcharts, "_SHARED"):
                        runcharts._SHARED.clocks.clear()
                    else:
                        runcharts.CHART_SECONDS_SMALL_CPU = runcharts.CHART_SECONDS = 0.0
                else:
                    runcharts.CHART_SECONDS_SMALL_CPU = runcharts.CHART_SECONDS = 1e9
                at.run()
            for n in parts:
                out[f"{n} {mode} ms"] = statistics.median(c for c, _ in seen[n]) * 1000
                out[f"{n} {mode} reads"] = statistics.median(r for _, r in seen[n])
        return out
    finally:
        for n in parts:
            setattr(runview, n, originals[n])
        RunStore._read = original_read


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--polls", type=int, default=10)
    args = p.parse_args()
    os.environ["RESNET_VIZ_PREWARM"] = "0"
    from resnet_viz.config import TrainConfig, parse_member
    from resnet_viz.store import RunStore
    from resnet_viz.train.launcher import record_run

    members = [parse_member(m) for m in MEMBERS]
    results = {}
    for label, cohort in (("single", members[:1]), ("cohort of 6", members)):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["RESNET_VIZ_RUNS_DIR"] = tmp
            store = RunStore(tmp)
            cfg = TrainConfig(name=label, model=cohort[0], cohort=tuple(cohort[1:]))
            run_id = record_run(store, cfg)
            fill(store, run_id, len(cohort), args.steps)
            results[label] = measure(run_id, args.polls)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{args.steps} logged steps, median of {args.polls} polls (server thread CPU)")
    for label, r in results.items():
        for part in sorted({k.split()[0] for k in r}):
            print(
                f"{label:>12} {part:>11}: rebuilt {r[f'{part} rebuilt ms']:7.1f} ms, "
                f"{r[f'{part} rebuilt reads']:4.0f} reads | cached {r[f'{part} cached ms']:7.1f} "
                f"ms, {r[f'{part} cached reads']:4.0f} reads"
            )
    base, six = results["single"], results["cohort of 6"]
    for part in sorted({k.split()[0] for k in base}):
        print(
            f"ratio cohort/single {part}: rebuilt "
            f"{six[f'{part} rebuilt ms'] / base[f'{part} rebuilt ms']:.2f}×, cached "
            f"{six[f'{part} cached ms'] / base[f'{part} cached ms']:.2f}×"
        )


if __name__ == "__main__":
    main()
