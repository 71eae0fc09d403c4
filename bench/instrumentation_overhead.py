"""Instrumentation overhead: the project's trainer (per-step gradient norms, weight probes, store
writes, control polling) against a bare PyTorch loop — same model, data, optimiser and steps.

Runs are interleaved (bare, trainer, trainer, bare, …) so drift in machine load hits both
sides alike; the ratio of medians is printed. Goal: ≤ 1.05 on CPU, ≤ 1.03 on a GPU.

    python bench/instrumentation_overhead.py [--repeats 5] [--steps-epochs 1] [--device auto]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import resnet_viz  # noqa: F401, I001  (sets OMP_WAIT_POLICY before torch starts its threads)
import torch
import torch.nn.functional as F

from resnet_viz.config import TrainConfig
from resnet_viz.data import Batches, load_dataset
from resnet_viz.devices import memory_format, pick_device
from resnet_viz.models import build_model
from resnet_viz.store import RunStore
from resnet_viz.train import Trainer
from resnet_viz.train.launcher import record_run
from resnet_viz.train.trainer import make_optimizer


def bare_loop(cfg: TrainConfig, cache: Path) -> float:
    """The same training a user would write by hand: no probes, no store, one sync at the end."""
    t0 = time.perf_counter()
    device, _ = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.data, seed=cfg.seed, cache_dir=cache)
    batches = Batches(
        data.train, cfg.batch_size, mean=data.mean, std=data.std, device=device, seed=cfg.seed
    )
    # The layout the trainer uses (channels-last on a CPU), so the ratio measures instrumentation.
    model = build_model(cfg.model.arch, data.num_classes).to(
        device, memory_format=memory_format(device)
    )
    opt, sched = make_optimizer(cfg, model, len(batches) * cfg.epochs)
    for epoch in range(cfg.epochs):
        for x, y in batches.epoch(epoch):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    loss.detach().item()  # one sync, so queued GPU work is counted
    return time.perf_counter() - t0


def instrumented(cfg: TrainConfig, root: Path) -> float:
    t0 = time.perf_counter()
    store = RunStore(root)
    run_id = record_run(store, cfg)
    summary = Trainer(cfg, store, run_id).run()
    assert summary["status"] == "finished", summary
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--arch", default="resnet8")
    args = p.parse_args()
    # No validation set: evaluation is work a bare loop would also have to do, not overhead.
    cfg = TrainConfig().with_overrides(
        {"epochs": args.epochs, "data.val_size": 0, "device": args.device, "model.arch": args.arch}
    )
    device, why = pick_device(cfg.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = root / ".cache"
        load_dataset(cfg.data, cache_dir=cache)  # warm the Shapes cache for both sides
        instrumented(cfg, root)  # warm-up (allocator, kernels)
        bare, ours = [], []
        for i in range(args.repeats):
            order = (
                [("bare", bare), ("ours", ours)] if i % 2 == 0 else [("ours", ours), ("bare", bare)]
            )
            for name, out in order:
                out.append(bare_loop(cfg, cache) if name == "bare" else instrumented(cfg, root))
    ratio = statistics.median(ours) / statistics.median(bare)
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {torch.get_num_threads()} threads, device {device} ({why})")
    print(
        f"setup: {cfg.model.arch}, {cfg.data.train_size} Shapes images, batch {cfg.batch_size}, "
        f"{cfg.epochs} epoch(s), log_every {cfg.log_every}, {args.repeats} interleaved repeats"
    )
    print(f"bare loop   median {statistics.median(bare):7.2f} s  {[round(t, 2) for t in bare]}")
    print(f"our trainer median {statistics.median(ours):7.2f} s  {[round(t, 2) for t in ours]}")
    goal = 1.03 if device.type == "cuda" else 1.05
    print(f"ratio {ratio:.3f} (goal ≤ {goal}) {'OK' if ratio <= goal else 'OVER GOAL'}")


if __name__ == "__main__":
    main()
