"""Take runs out of the app: tidy CSV rows, or a TensorBoard log directory.

CSV: one row per value, ``run_id,member,step,key,value`` (``member``: the member's name; a
single model's run has one). Scalars keep their keys (``train/loss``, ``val/acc``, ``lr``…);
per-layer statistics are one row per layer, under ``<kind>/<module name>`` (e.g.
``grad_norm/layer1.0.conv1``).

TensorBoard: one log directory per run and member, ``<dir>/<run name>-<run id>[/<member>]``,
written with TensorBoard's own writer (``torch.utils.tensorboard``): the same scalars and
per-layer values as scalars, and the per-layer gradient norms also as one histogram per
logged step (``grad_norm``), so TensorBoard's Distributions tab shows how they spread.

    python -m resnet_viz.export RUN_ID [RUN_ID …] [--runs-dir DIR] --csv FILE
    python -m resnet_viz.export RUN_ID [--runs-dir DIR] --tensorboard DIR
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from . import keys
from .errors import ResNetVizError, StoreError
from .store import LayerSeries, RunRecord, RunStore, default_runs_dir

COLUMNS = ("run_id", "member", "step", "key", "value")


def _run(store: RunStore, run_id: str) -> RunRecord:
    run = store.get_run(run_id)
    if run is None:
        raise ResNetVizError(f"Run {run_id} is not in the run store ({store.root}).")
    return run


def _member_names(run: RunRecord) -> tuple[str, ...]:
    return run.members or (run.name,)


def _scalars(store: RunStore, run_id: str, member: int) -> Iterator[tuple[str, int, float]]:
    """A member's scalars as ``(key, step, value)``, key by key."""
    for key in sorted(store.scalar_keys(run_id, member)):
        steps, values = store.scalars(run_id, key, member)
        for step, value in zip(steps.tolist(), values.tolist(), strict=True):
            yield key, step, value


def _layer_series(store: RunStore, run_id: str, member: int) -> Iterator[tuple[str, LayerSeries]]:
    """A member's per-layer statistics, kind by kind."""
    for kind in store.layer_kinds(run_id, member):
        yield kind, store.layer_series(run_id, kind, member)


def rows(store: RunStore, run_ids: Iterable[str]) -> Iterator[tuple[str, str, int, str, float]]:
    """Every recorded value of the runs as ``(run_id, member, step, key, value)``: each
    member's scalars by key, then its per-layer statistics layer by layer."""
    for run_id in run_ids:
        for member, name in enumerate(_member_names(_run(store, run_id))):
            for key, step, value in _scalars(store, run_id, member):
                yield run_id, name, step, key, value
            for kind, series in _layer_series(store, run_id, member):
                for j, layer in enumerate(series.layers):
                    for i, step in enumerate(series.steps.tolist()):
                        yield run_id, name, step, f"{kind}/{layer}", float(series.values[i, j])


def write_csv(store: RunStore, run_ids: Sequence[str], out: io.TextIOBase | str | Path) -> int:
    """Write the runs' rows as CSV to a path or an open text file; returns the rows written."""
    if isinstance(out, (str, Path)):
        with open(out, "w", newline="", encoding="utf-8") as f:
            return write_csv(store, run_ids, f)
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    n = 0
    for row in rows(store, run_ids):
        writer.writerow(row)
        n += 1
    return n


def csv_text(store: RunStore, run_ids: Sequence[str]) -> str:
    """The CSV as one string (the Runs page's download)."""
    buf = io.StringIO()
    write_csv(store, run_ids, buf)
    return buf.getvalue()


def safe_name(text: str, fallback: str = "run") -> str:
    """A run or member name as one safe path component (``fallback`` when nothing is left)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or fallback


def write_tensorboard(store: RunStore, run_ids: Sequence[str], out_dir: str | Path) -> list[Path]:
    """Write one TensorBoard log directory per run (and member, for a cohort) under
    ``out_dir``; returns them."""
    from torch.utils.tensorboard import SummaryWriter  # torch and tensorboard, only here

    written = []
    for run_id in run_ids:
        run = _run(store, run_id)
        names = _member_names(run)
        for member, name in enumerate(names):
            folder = Path(out_dir) / f"{safe_name(run.name)}-{run_id}"
            if len(names) > 1:
                folder /= f"{member}-{safe_name(name)}"
            writer = SummaryWriter(log_dir=str(folder))
            try:
                for key, step, value in _scalars(store, run_id, member):
                    writer.add_scalar(key, value, step)
                for kind, series in _layer_series(store, run_id, member):
                    for i, step in enumerate(series.steps.tolist()):
                        row = series.values[i]
                        for j, layer in enumerate(series.layers):
                            writer.add_scalar(f"{kind}/{layer}", float(row[j]), step)
                        if kind == keys.GRAD_NORM and row.size:
                            writer.add_histogram(kind, row, step)
            finally:
                writer.close()
            written.append(folder)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m resnet_viz.export", description="Export runs as CSV or TensorBoard logs."
    )
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    p.add_argument("--runs-dir", default=None, help="the run store (default: ./runs)")
    p.add_argument("--csv", metavar="FILE", help="write tidy rows here ('-': standard output)")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs under DIR")
    args = p.parse_args(argv)
    if not args.csv and not args.tensorboard:
        p.error("say where to: --csv FILE and/or --tensorboard DIR")
    try:
        store = RunStore(args.runs_dir or default_runs_dir())
        if args.csv == "-":
            write_csv(store, args.run_ids, sys.stdout)
        elif args.csv:
            n = write_csv(store, args.run_ids, args.csv)
            print(f"{n:,} rows → {args.csv}", file=sys.stderr)
        if args.tensorboard:
            for folder in write_tensorboard(store, args.run_ids, args.tensorboard):
                print(f"TensorBoard log → {folder}", file=sys.stderr)
    except (ResNetVizError, StoreError, OSError) as err:
        print(f"resnet_viz.export: {err}", file=sys.stderr)
        return 1
    if args.tensorboard:
        print(f"View it: tensorboard --logdir {args.tensorboard}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
