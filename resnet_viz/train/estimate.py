"""How long a run will take, said before Start.

A run's work is counted in forward-pass FLOPs (training an image costs about three forward
passes, forward and backward; evaluating one costs one), per member, since a cohort trains its
members one after another. The machine's speed is seconds per FLOP: the median over this
store's finished runs on the same kind of device (their time includes everything a run does:
probes, evaluations, analyses), or, before any run, a short timing of a small ResNet's training
steps. Either way it is an estimate, and the page says which basis it used.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from .. import keys
from ..config import ModelConfig, TrainConfig
from ..experiments.analyses import (
    FIT_IMAGES,
    SHARPNESS_IMAGES,
    SHARPNESS_SAMPLES,
    SHARPNESS_STEPS,
)
from ..models import build_model
from ..store import RunRecord

TRAIN_COST = 3.0  # forward passes per trained image (forward + backward)
HVP_COST = 6.0  # a Hessian-vector product: about twice a gradient (Pearlmutter 1994)
CIFAR_TRAIN = 50_000  # a train_size of 0 = all of CIFAR-10
TIMED_STEPS = 3


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str  # "earlier runs" or "a short timing"
    runs: int = 0  # how many earlier runs it rests on

    def describe(self) -> str:
        """``about 3 min (from 4 earlier runs on this machine)``."""
        m = self.seconds / 60
        size = (
            f"{max(1, round(self.seconds)):d} s"
            if m < 1
            else f"{m:.0f} min"
            if m < 90
            else f"{m / 60:.1f} h"
        )
        if self.basis == "earlier runs":
            basis = f"from {self.runs} earlier run{'s' * (self.runs != 1)} on this machine"
        else:
            basis = "from a short timing on this machine; earlier runs make it sharper"
        return f"about {size} ({basis})"


@lru_cache(maxsize=64)
def forward_flops(member: ModelConfig, image_size: int, classes: int = 10) -> float:
    """FLOPs of one image's forward pass through ``member`` (counted by torch, batch of 1)."""
    model = build_model(member.arch, classes, skip=member.skip, batchnorm=member.batchnorm)
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    return float(counter.get_total_flops())


def work(cfg: TrainConfig) -> float | None:
    """Forward-pass FLOPs the run does in all; ``None`` when its data set's size is unknown
    before loading it (an image folder taken whole)."""
    d = cfg.data
    train = d.train_size or (CIFAR_TRAIN if d.dataset == "cifar10" else 0)
    if not train:
        return None
    steps = math.ceil(train / cfg.batch_size) * cfg.epochs
    images = steps * cfg.batch_size * TRAIN_COST + cfg.evals_per_epoch * cfg.epochs * d.val_size
    if keys.SHARPNESS in cfg.analyses:  # the Hessian's products, then the training set's fit
        hvps = SHARPNESS_STEPS + SHARPNESS_SAMPLES
        images += hvps * min(SHARPNESS_IMAGES, train) * HVP_COST + min(FIT_IMAGES, train)
    return images * sum(forward_flops(m, d.image_size) for m in cfg.members)


def _device_kind(device: str | None) -> str:
    return (device or "cpu").split(":", 1)[0]


def from_runs(runs: Iterable[RunRecord], device: str) -> tuple[float, int] | None:
    """Median seconds per FLOP of the finished runs on ``device``'s kind, and how many."""
    rates = []
    for r in runs:
        seconds = (r.summary or {}).get("seconds")
        if r.status != "finished" or not seconds or _device_kind(r.device) != device:
            continue
        if (w := work(r.config)) and (r.summary or {}).get("steps"):
            rates.append(seconds / w)
    return (statistics.median(rates), len(rates)) if rates else None


@lru_cache(maxsize=4)
def timed(device: str) -> float:
    """Seconds per FLOP of a few ResNet-8 training steps on ``device`` (once per process)."""
    member, batch = ModelConfig(arch="resnet8"), 64
    model = build_model(member.arch, 10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    def synchronize() -> None:  # CUDA runs asynchronously: time finished work only
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    step()  # warm-up
    synchronize()
    start = time.perf_counter()
    for _ in range(TIMED_STEPS):
        step()
    synchronize()
    seconds = (time.perf_counter() - start) / TIMED_STEPS
    return seconds / (batch * TRAIN_COST * forward_flops(member, 32))


def estimate(cfg: TrainConfig, runs: Iterable[RunRecord], device: str) -> Estimate | None:
    """How long ``cfg`` will take on ``device`` (``cpu``, ``cuda``, ``mps``); ``None`` when its
    size is unknown before it loads its data."""
    total = work(cfg)
    if total is None:
        return None
    past = from_runs(runs, device)
    if past is not None:
        return Estimate(total * past[0], "earlier runs", past[1])
    return Estimate(total * timed(device), "a short timing")
