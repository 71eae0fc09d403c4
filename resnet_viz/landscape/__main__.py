"""Headless loss landscapes of a finished run, written to the run store:

    python -m resnet_viz.landscape RUN_ID [--member NAME ...] [--grid 21] [--span 1]
        [--images 256] [--seed 0] [--runs-dir DIR]

Prints one JSON line: the run, and per member its loss at the trained point and the surface's
lowest and highest loss.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ResNetVizError
from ..store import RunStore, default_runs_dir
from .run import Settings, member_indices, record_landscapes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m resnet_viz.landscape", description=__doc__)
    ap.add_argument("run_id")
    ap.add_argument("--member", action="append", default=[], help="a member's name (repeatable)")
    ap.add_argument("--grid", type=int, default=Settings.steps, help="points per axis")
    ap.add_argument("--span", type=float, default=Settings.span)
    ap.add_argument("--images", type=int, default=Settings.images)
    ap.add_argument("--seed", type=int, default=Settings.seed)
    ap.add_argument("--runs-dir", default=None)
    args = ap.parse_args(argv)
    try:
        store = RunStore(args.runs_dir or default_runs_dir())
        members = member_indices(store, args.run_id, args.member)
        settings = Settings(args.grid, args.span, args.images, args.seed)
        found = record_landscapes(store, args.run_id, members, settings)
    except ResNetVizError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    names = store.get_run(args.run_id).config.member_names()
    middle = args.grid // 2
    summary = {
        "run_id": args.run_id,
        "members": [
            {
                "name": names[m],
                "loss_at_trained": p["loss"][middle][middle],
                "min": min(min(r) for r in p["loss"]),
                "max": max(max(r) for r in p["loss"]),
                **(
                    {"trajectory_explained": p["trajectory"]["explained"]}
                    if "trajectory" in p
                    else {}
                ),
            }
            for m, p in found.items()
        ],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
