"""Run the Skip Lab presets as a user would (``python -m resnet_viz.train --preset NAME`` in a
fresh process, sized for this machine) and print, per preset, every member's figures and
whether the published effect reproduced, with the machine named.

    python bench/skiplab_presets.py [--presets degradation no-bn ...] [--set key=value ...]

Figures per member: final train loss (mean over the last 10% of steps, as the verdicts use),
best and final validation accuracy, step of divergence; then the verdict and the wall time.
The acceptance checks of issue #5 are printed as well:

- degradation: deep plain > shallow plain (train loss); deep residual ≤ shallow residual + tol.
- no-bn: the deep plain net's gradients vanish/explode or it diverges; residual twin ≥ 80% val.
- lesion (on the degradation run): deleting one non-downsampling block of the deepest residual
  net costs ≤ 10 points on average; deleting any single layer pair of the shallow plain net
  leaves it within 15 points of chance.
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
from resnet_viz.config import TrainConfig  # noqa: E402
from resnet_viz.experiments import final_loss  # noqa: E402
from resnet_viz.experiments.lesion import LesionResult  # noqa: E402
from resnet_viz.store import RunStore  # noqa: E402
from resnet_viz.train.presets import LAB_PRESETS  # noqa: E402


def machine() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPU cores"
    except ImportError:  # pragma: no cover
        pass
    cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {os.cpu_count()} cores, no GPU"


def run_preset(name: str, runs: Path, overrides: list[str]) -> tuple[dict, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "resnet_viz.train", "--preset", name, "--runs-dir", str(runs)]
    cmd += [a for s in overrides for a in ("--set", s)]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.time() - t0
    if not out.stdout.strip():
        raise RuntimeError(f"{name} printed nothing; stderr:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), seconds


def lesion_check(store: RunStore, run_id: str, cfg: TrainConfig) -> str:
    lesions = store.analyses(run_id, keys.LESION)
    res = [(i, m) for i, m in enumerate(cfg.members) if m.residual]
    plain = [(i, m) for i, m in enumerate(cfg.members) if m.plain]
    if not lesions or not res or not plain:
        return "lesion: not computed"
    depth = lambda p: p[1].depth  # noqa: E731
    deep_res, shallow_plain = max(res, key=depth), min(plain, key=depth)
    r = LesionResult.from_dict(lesions[deep_res[0]])
    p = LesionResult.from_dict(lesions[shallow_plain[0]])
    drop = 100 * r.mean_single_drop()
    worst = 100 * (max(p.single) - p.chance)
    ok = drop <= 10 and worst <= 15
    lines = [
        f"lesion: {deep_res[1].label} intact {r.base_acc:.1%}, one non-downsampling block "
        f"deleted costs {drop:.1f} points on average (goal ≤ 10)",
        f"        {shallow_plain[1].label} intact {p.base_acc:.1%}, best single deletion leaves "
        f"{max(p.single):.1%}, {worst:.1f} points above chance (goal ≤ 15)",
        f"        → {'REPRODUCED' if ok else 'did NOT reproduce'}",
    ]
    for i, m in enumerate(cfg.members):
        if i in lesions and i not in (deep_res[0], shallow_plain[0]):
            other = LesionResult.from_dict(lesions[i])
            lines.append(
                f"        ({m.label}: intact {other.base_acc:.1%}, one block deleted costs "
                f"{100 * other.mean_single_drop():.1f} points on average)"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--presets", nargs="*", default=list(LAB_PRESETS))
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--runs-dir", type=Path, default=None, help="keep the runs here")
    args = p.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs_dir or Path(tmp)
        store = RunStore(runs)
        for name in args.presets:
            summary, seconds = run_preset(name, runs, args.overrides)
            run = store.get_run(summary["run_id"])
            cfg = run.config
            setup = (
                f"{cfg.data.image_size} px, {cfg.data.train_size} images × {cfg.epochs} epochs, "
                f"batch {cfg.batch_size}, {cfg.optim.optimizer} lr {cfg.optim.lr:g}"
            )
            print(f"\n== {name}: {summary['status']}, {summary['steps']} steps, {seconds:.0f} s")
            print(f"  ({setup})")
            for m in summary["models"]:
                loss = final_loss(store, run.id, m["member"])
                best, last = m["best_val_acc"], m["final_val_acc"]
                print(
                    f"  {m['name']:<28} final train loss {loss:7.3f}   best val "
                    f"{(best or 0):6.1%}   final val {(last or 0):6.1%}"
                    + (f"   diverged at step {m['diverged_at']}" if m["diverged_at"] else "")
                )
            verdict = summary.get("verdict") or {}
            flag = {True: "REPRODUCED", False: "did NOT reproduce"}.get(
                verdict.get("reproduced"), "no verdict"
            )
            print(f"  verdict: {flag}: {verdict.get('text', '')}")
            if name == "degradation":
                print("  " + lesion_check(store, run.id, cfg))


if __name__ == "__main__":
    main()
