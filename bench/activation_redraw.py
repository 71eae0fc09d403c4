"""Activations page redraw: from "layer chosen" to "figures built" for ResNet-18 at 224×224.

What the page does when a layer is chosen: one capture of that layer (top-k channels, stopping
the forward pass there), the grid, statistics table, histogram and channel overlay, plus the
residual anatomy panel when the layer is a block; each figure serialised to JSON as
``st.plotly_chart`` does. Baseline: one plain forward pass of the same model on the same image,
measured in the same run, interleaved with the redraws. Random weights (nothing is downloaded).
Goal: ≤ 1 s per redraw on a CPU.

    python bench/activation_redraw.py [--repeats 7] [--threads 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import resnet_viz  # noqa: F401, I001  (sets OMP_WAIT_POLICY before torch starts its threads)
import numpy as np
import torch
from torchvision.transforms import v2

from resnet_viz.activations import (
    Reduce,
    block_anatomy,
    capture,
    pickable_layers,
    reduce_capture,
)
from resnet_viz.figures.activations import anatomy_figure, layer_figures
from resnet_viz.images import load_image
from resnet_viz.models import build_model

ROOT = Path(__file__).resolve().parents[1]
# The page's defaults: the 16 strongest channels, at most 112 px a side.
TOP_K, MAX_SIDE = 16, 112
LAYERS = ("conv1", "layer1.0", "layer2.0.conv1", "layer2.0", "layer3.1", "layer4.1")


def redraw(model, x, picture: np.ndarray, layer: str, is_block: bool) -> None:
    # One capture serves the grid and, for a block, the residual anatomy (it needs x and every
    # channel of the output); the forward pass stops at the chosen layer.
    cap = capture(model, x, [layer], reduce=Reduce(inputs=is_block))[layer]
    figs = layer_figures(reduce_capture(cap, Reduce(top_k=TOP_K, max_side=MAX_SIDE)), picture)
    figs.grid.to_json()
    figs.histogram.to_json()
    if is_block:
        anatomy_figure(block_anatomy(model, x, layer, captured=cap)).to_json()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("resnet18", 1000).eval()
    prepare = v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(256),
            v2.CenterCrop(224),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    pixels = prepare(load_image(ROOT / "assets" / "samples" / "grace_hopper.jpg"))
    picture = (pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    x = ((pixels - mean[:, None, None]) / std[:, None, None])[None]
    kinds = {layer.name: layer.kind for layer in pickable_layers(model, 224)}

    def forward() -> None:
        with torch.no_grad():
            model(x)

    forward(), redraw(model, x, picture, "layer1.0", True)  # warm-up
    base: list[float] = []
    times: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        forward()
        base.append(time.perf_counter() - t0)
        for layer in LAYERS:
            t0 = time.perf_counter()
            redraw(model, x, picture, layer, kinds[layer] == "block")
            times[layer].append(time.perf_counter() - t0)
    forward_s = statistics.median(base)
    print(
        f"{platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · torch "
        f"{torch.__version__} · {torch.get_num_threads()} threads · {args.repeats} repeats"
    )
    print(f"plain forward pass, ResNet-18 224×224: {forward_s * 1000:.0f} ms (median)")
    print(f"{'layer chosen':<16} {'kind':<6} {'redraw ms':>10} {'× forward':>10}")
    worst = 0.0
    for layer in LAYERS:
        t = statistics.median(times[layer])
        worst = max(worst, t)
        print(f"{layer:<16} {kinds[layer]:<6} {t * 1000:>10.0f} {t / forward_s:>10.2f}")
    verdict = "OK" if worst <= 1.0 else "TOO SLOW"
    print(f"slowest redraw {worst * 1000:.0f} ms ({worst / forward_s:.2f}× forward): {verdict}")


if __name__ == "__main__":
    main()
