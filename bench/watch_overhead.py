"""What ``resnet_viz.watch`` costs a user's own loop, gradients logged every step.

The same loop (a CIFAR ResNet-20 on random 32×32 batches, SGD) runs three ways, interleaved
round by round so drift of the machine hits all alike:

- plain: forward, backward, optimizer step;
- watched: the same inside ``resnet_viz.watch``, ``run.step()`` every step (per-layer gradient
  norms every step, on the device; written to a run store every interval by its thread);
- hooks: the way common loggers do it, one ``register_hook`` per parameter computing the
  gradient's norm and ``.item()`` to the host, every step (wandb.watch(log_freq=1)'s pattern).

Printed: median seconds per step of each, and two ratios to plain (goal for watched: ≤ 1.05
on a CPU, ≤ 1.03 on a GPU): of the medians, and the median of each round's own ratio (a round's
windows are seconds apart, so a machine whose speed drifts over minutes hits both alike). The
plain loop timed a second time gives the noise floor.

    python bench/watch_overhead.py [--rounds 7] [--steps 20] [--batch 64] [--device auto]
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

ROOT = Path(os.environ.get("RESNET_VIZ_BENCH_ROOT", Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(ROOT))

import resnet_viz  # noqa: E402, I001  (sets OMP_WAIT_POLICY before torch starts its threads)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from resnet_viz.models import build_model  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def one_round(kind: str, model, opt, batches, device, runs_dir: Path) -> tuple[float, float]:
    """Wall and CPU seconds per step over ``batches`` (after one untimed warm-up step). CPU
    time is of the whole process, every thread (the watcher's writer too), and leaves out
    what the machine gave other tenants: on a shared VM it drifts less than wall time."""
    handles, norms = [], {}
    kind = "plain" if kind == "plain again" else kind
    if kind == "hooks":
        for name, p in model.named_parameters():
            handles.append(p.register_hook(lambda g, n=name: norms.__setitem__(n, g.norm().item())))
    run = resnet_viz.watch(model, name="bench", runs_dir=runs_dir) if kind == "watched" else None
    try:
        for i, (x, y) in enumerate(batches):
            if i == 1:
                _sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if run is not None:
                run.step(loss=loss, lr=0.05)
            opt.step()
            opt.zero_grad(set_to_none=True)
        _sync(device)
        n = len(batches) - 1
        return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    finally:
        for h in handles:
            h.remove()
        if run is not None:
            run.finish()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    torch.manual_seed(0)
    model = build_model("resnet20", 10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(args.batch, 3, 32, 32, generator=g).to(device),
         torch.randint(0, 10, (args.batch,), generator=g).to(device))
        for _ in range(args.steps + 1)
    ]  # fmt: skip
    # "plain again" is the plain loop once more: how far two identical loops differ here.
    kinds = ("plain", "watched", "hooks", "plain again")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        one_round("plain", model, opt, batches[:3], device, Path(tmp))  # warm-up
        for r in range(args.rounds):
            order = kinds if r % 2 == 0 else kinds[::-1]
            for kind in order:
                wall, used = one_round(kind, model, opt, batches, device, Path(tmp))
                times[kind].append(wall)
                cpu[kind].append(used)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads"
    )  # fmt: skip
    print(f"{where}; ResNet-20, batch {args.batch}, {args.steps} steps × {args.rounds} rounds")
    for label, t in (("wall", times), ("CPU", cpu)):
        med = {k: statistics.median(v) for k, v in t.items()}
        print(f"{label + ' time':>11}  {'ms/step':>8}   ratio of medians   median of round ratios")
        for k in kinds:
            paired = statistics.median(a / b for a, b in zip(t[k], t["plain"], strict=True))
            print(f"{k:>11}: {med[k] * 1000:8.2f}   {med[k] / med['plain']:16.3f}   {paired:22.3f}")


if __name__ == "__main__":
    main()
