"""Loss-landscape speed: a 21×21 surface against the forward passes it cannot avoid.

A surface point costs one forward pass of the evaluated images at perturbed weights; the goal
(issue: Loss landscapes) is to waste nothing on top: ≤ 1.2× the time of P bare forward passes
of the same batch, and ≤ 30 s for ResNet-20 on 256 Shapes images at 16 px on a 2-core CPU.
Printed in one run, on the same images:

* ``bare``: P forward passes of the batch at the model's own weights (the floor);
* ``surface``: :func:`resnet_viz.landscape.loss_surface` at several ``points_per_call``
  (1 = one point per forward, no batching; more = vmap over stacked weights);
* ``reference``: the reference code's style (tomgoldstein/loss-landscape): per point, write
  θ + Σ cᵢ·dᵢ into the model's parameters, evaluate, restore.

    python bench/landscape_speed.py [--grid 21] [--images 256] [--size 16] [--arch resnet20]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import resnet_viz  # noqa: F401, I001  (sets OMP_WAIT_POLICY before torch starts its threads)
import torch
import torch.nn.functional as F

from resnet_viz.data.shapes import make_shapes
from resnet_viz.landscape import filter_normalized_direction, grid, loss_surface
from resnet_viz.models import build_model


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=21)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--arch", default="resnet20")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--points-per-call", type=int, nargs="+", default=[1, 4, 8])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(args.arch, 10).to(device).eval()
    data = make_shapes(args.images, seed=0, size=args.size)
    x = (data.images.float() / 255).to(device)
    y = data.labels.to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    dirs = [filter_normalized_direction(model, generator=gen) for _ in range(2)]
    _, coords = grid(args.grid)
    points = len(coords)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare() -> None:
        with torch.no_grad():
            for _ in range(points):
                F.cross_entropy(model(x), y).item()
        sync()

    def reference() -> None:
        params = dict(model.named_parameters())
        saved = {n: p.detach().clone() for n, p in params.items()}
        with torch.no_grad():
            for c in coords:
                for n, p in params.items():
                    p.copy_(saved[n] + c[0] * dirs[0][n] + c[1] * dirs[1][n])
                F.cross_entropy(model(x), y).item()
            for n, p in params.items():
                p.copy_(saved[n])
        sync()

    loss_surface(model, x, y, dirs, coords[:8], points_per_call=4)  # warm-up
    print(
        f"{args.arch}, {args.images} Shapes images at {args.size} px, {args.grid}×{args.grid} "
        f"= {points} points, {args.threads} threads, {device}, {platform.machine()} "
        f"{platform.processor() or ''}".rstrip()
    )
    floor = timed(bare)
    print(f"bare forward ×{points}: {floor:.2f} s (1.00×)")
    ref = timed(reference)
    print(f"reference loop (weights written per point): {ref:.2f} s ({ref / floor:.2f}× bare)")
    for k in args.points_per_call:
        t = timed(lambda k=k: loss_surface(model, x, y, dirs, coords, points_per_call=k))
        print(
            f"loss_surface, {k} point(s) per call: {t:.2f} s ({t / floor:.2f}× bare, "
            f"{t / ref:.2f}× reference)"
        )


if __name__ == "__main__":
    main()
