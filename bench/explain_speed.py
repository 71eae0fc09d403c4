"""Explain speed: the app's attribution calls against their baselines, measured in one run.

* Grad-CAM (ResNet-18, 224×224, last stage) against one plain forward pass of the same model
  (goal ≤ 1.3×: only the gradient from the logit down to the layer is computed) and against
  pytorch-grad-cam's ``GradCAM`` on the same input (goal: faster).
* Integrated Gradients, 32 steps, against a bare Captum ``IntegratedGradients.attribute`` call
  with the same settings (goal ≤ 1.1×: the app adds almost nothing).

Sides are timed in rotating order within each repeat, so drift in machine load hits all alike;
medians are printed. Random (untrained) weights: timing does not depend on them. Needs only
torch, torchvision and captum (pytorch-grad-cam is optional and skipped when absent).

    python bench/explain_speed.py [--repeats 9] [--threads 2] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import resnet_viz  # noqa: F401, I001  (sets OMP_WAIT_POLICY before torch starts its threads)
import captum
import torch
from captum.attr import IntegratedGradients

from resnet_viz.explain import Options, attribute
from resnet_viz.models import build_model

try:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
except ImportError:  # test-only dependency
    GradCAM = None


def timer(fn: Callable[[], object], device: torch.device) -> Callable[[], float]:
    def run() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return run


def measure(sides: dict[str, Callable[[], float]], repeats: int, warmup: int = 2) -> dict:
    for run in sides.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(sides[name]())
    return times


def machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    load = ""
    if hasattr(os, "getloadavg"):  # the machine may be shared: say how busy it was
        load = " · load " + " ".join(f"{v:.1f}" for v in os.getloadavg())
    what = f"{os.cpu_count()}-core {cpu} CPU, torch threads {torch.get_num_threads()}{load}"
    if device.type == "cuda":
        what = f"{torch.cuda.get_device_name(device)} · host: {what}"
    return (
        f"{what} · {platform.system()} · python {platform.python_version()} · torch "
        f"{torch.__version__} · captum {captum.__version__}"
    )


def report(title: str, times: dict[str, list[float]], baselines: dict[str, tuple[str, str]]):
    print(f"\n{title}")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        runs = ", ".join(f"{1000 * t:.1f}" for t in ts)
        print(f"  {name:<34} median {1000 * med[name]:8.1f} ms   runs (ms): {runs}")
    for label, (num, den) in baselines.items():
        if num in med and den in med:
            print(f"  ratio {label:<40} {med[num] / med[den]:.2f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--size", type=int, default=224)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available() and args.device != "cpu"
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if cuda else [])
    if args.device == "cuda":
        devices = devices[1:]
    for device in devices:
        run_device(device, args.repeats, args.size)


def run_device(device: torch.device, repeats: int, size: int) -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", 1000).to(device).eval()
    x = torch.randn(1, 3, size, size, device=device)
    with torch.inference_mode():
        target = int(model(x).argmax())
    print(f"\n=== {device.type}: {machine(device)}")
    print(
        f"ResNet-18 (random weights), 1×3×{size}×{size}, target class {target}, {repeats} repeats"
    )

    def plain_forward() -> None:
        with torch.inference_mode():
            model(x)

    def autograd_forward() -> None:
        model(x)

    def ours_gradcam() -> None:
        attribute(model, x, "gradcam", target, "layer4")

    sides = {
        "forward (inference_mode)": timer(plain_forward, device),
        "forward (autograd on)": timer(autograd_forward, device),
        "resnet_viz Grad-CAM": timer(ours_gradcam, device),
    }
    if GradCAM is not None:
        cam = GradCAM(model, [model.layer4])
        targets = [ClassifierOutputTarget(target)]
        sides["pytorch-grad-cam GradCAM"] = timer(lambda: cam(x, targets), device)
    times = measure(sides, repeats)
    if GradCAM is not None:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)
    report(
        "Grad-CAM, last stage (layer4)",
        times,
        {
            "Grad-CAM / forward (goal ≤ 1.3)": ("resnet_viz Grad-CAM", "forward (inference_mode)"),
            "Grad-CAM / forward with autograd": ("resnet_viz Grad-CAM", "forward (autograd on)"),
            "Grad-CAM / pytorch-grad-cam (goal < 1)": (
                "resnet_viz Grad-CAM",
                "pytorch-grad-cam GradCAM",
            ),
        },
    )
    if GradCAM is None:
        print("  (pytorch-grad-cam not installed: comparison skipped)")

    steps, batch = 32, 8
    options = Options(ig_steps=steps, internal_batch_size=batch)
    baseline = torch.zeros_like(x)
    ig = IntegratedGradients(model)

    def bare_ig() -> None:
        ig.attribute(x, baselines=baseline, target=target, n_steps=steps, internal_batch_size=batch)

    def ours_ig() -> None:
        attribute(model, x, "integrated_gradients", target, options=options)

    times = measure(
        {"bare Captum IG": timer(bare_ig, device), "resnet_viz IG": timer(ours_ig, device)},
        max(3, repeats // 2),
        warmup=1,
    )
    report(
        f"Integrated Gradients, {steps} steps, internal_batch_size {batch}",
        times,
        {"IG / bare Captum (goal ≤ 1.1)": ("resnet_viz IG", "bare Captum IG")},
    )


if __name__ == "__main__":
    main()
