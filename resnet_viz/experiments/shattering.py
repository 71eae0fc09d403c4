"""Shattered gradients (Balduzzi et al. 2017, "The shattered gradients problem: if resnets are
the answer, then what is the question?").

With BatchNorm, a deep plain net's gradients do not vanish (He et al. 2015, §4.1 say so, and the
per-layer gradient heatmap shows it). What degrades with depth is their *structure*: the
gradient with respect to the input at one point tells less and less about the gradient at a
nearby point, until, in deep plain nets, neighbouring gradients are as unrelated as white noise.
Residual nets keep them correlated ("brown noise"), which is what makes a gradient step a step in
a useful direction.

Measurement (our image version of their 1-D experiment): walk along a random line through input
space around a few real images, take the gradient of one logit of the network with respect to
the input at each point (of the class the network predicts at the line's centre), remove the
mean over the line, and compute the cosine similarity of the gradients of points ``k`` steps
apart. ``k = 1`` is the *neighbour correlation*. A gradient that does not change along the line
(a linear model) counts as perfectly correlated.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..models import build_model, residual_blocks

POINTS = 48  # points along each line
SPAN = 2.0  # the line covers ±SPAN, in units of the normalised input's per-pixel std
MAX_LAG = 12


@dataclass(frozen=True)
class ShatterResult:
    lags: tuple[int, ...]
    corr: tuple[float, ...]  # mean cosine similarity of (mean-removed) gradients, per lag

    @property
    def neighbour(self) -> float:
        return self.corr[0]

    def to_dict(self) -> dict:
        return asdict(self)


def input_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None
) -> torch.Tensor:
    """Gradient of each input's ``target`` logit (default: its top logit) with respect to that
    input, ``(N, C·H·W)``. The model must be in eval mode, so each gradient depends on its own
    input only."""
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    index = logits.argmax(1, keepdim=True) if target is None else target.view(-1, 1)
    (grad,) = torch.autograd.grad(logits.gather(1, index).sum(), x)
    return grad.flatten(1)


def gradient_correlation(
    model: nn.Module,
    x: torch.Tensor,
    *,
    points: int = POINTS,
    span: float = SPAN,
    max_lag: int = MAX_LAG,
    seed: int = 0,
) -> ShatterResult:
    """Correlation of input gradients along random lines through each image of ``x``."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    d = x[0].numel()
    offsets = torch.linspace(-span, span, points)
    sims = torch.zeros(max_lag)
    try:
        for image in x:
            u = torch.randn(d, generator=g).to(x.device)
            u = u / u.norm() * d**0.5  # per-pixel std 1, like the normalised input
            line = image.unsqueeze(0) + offsets.to(x.device).view(-1, 1, 1, 1) * u.view_as(image)
            # One function along the whole line: the logit of the class predicted at its centre
            # (a switching argmax would add jumps of its own).
            with torch.no_grad():
                target = model(image.unsqueeze(0)).argmax(1)
            grads = input_gradients(model, line, target.expand(points))
            varying = grads - grads.mean(0, keepdim=True)
            if varying.norm(dim=1).max() <= 1e-6 * grads.norm(dim=1).mean():
                sims += 1.0  # the gradient does not change along the line: nothing shattered
                continue
            unit = varying / varying.norm(dim=1, keepdim=True).clamp_min(1e-20)
            for lag in range(1, max_lag + 1):
                sims[lag - 1] += (unit[:-lag] * unit[lag:]).sum(1).mean().cpu()
    finally:
        model.train(was_training)
    corr = (sims / len(x)).tolist()
    return ShatterResult(tuple(range(1, max_lag + 1)), tuple(float(c) for c in corr))


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch: int = 128) -> None:
    """Set every BatchNorm's running statistics to the exact mean/variance over ``x`` (a fresh
    model's are 0 and 1, which in eval mode would make BN an identity)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    was_training = model.training
    model.train()
    try:
        for i in range(0, len(x), batch):
            model(x[i : i + batch])
    finally:
        for m, momentum in zip(bns, saved, strict=True):
            m.momentum = momentum
        model.train(was_training)


def shattering_by_depth(
    depths: tuple[int, ...],
    num_classes: int,
    x_calibrate: torch.Tensor,
    x_probe: torch.Tensor,
    *,
    batchnorm: bool = True,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Neighbour correlation at initialisation for plain and residual CIFAR ResNets of each
    depth (Balduzzi et al., Fig. 1/3): ``{"depth": [...], "plain": [...], "residual": [...]}``.

    A plain net and its residual twin share their initial weights (option-A twins have the
    same parameters); BatchNorm statistics are calibrated on ``x_calibrate`` for each."""
    out: dict[str, list[float]] = {"depth": [], "plain": [], "residual": []}
    for depth in depths:
        torch.manual_seed(seed)
        residual = build_model(f"resnet{depth}", num_classes, batchnorm=batchnorm)
        residual = residual.to(x_probe.device)
        plain = copy.deepcopy(residual)
        for _, block in residual_blocks(plain):
            block.skip_scale = 0.0
        out["depth"].append(depth)
        for name, model in (("plain", plain), ("residual", residual)):
            calibrate_batchnorm(model, x_calibrate)
            out[name].append(gradient_correlation(model, x_probe, seed=seed).neighbour)
    return out
