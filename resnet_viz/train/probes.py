"""What streams: per-layer gradient and weight statistics, and per-block activation probes.

Gradient norms are computed on the device every step with one fused ``torch._foreach_norm``
call and stacked into one vector; the host sees them once per logging interval (one copy of a
``(steps, layers)`` matrix), never through an ``.item()`` per layer.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models import probe_layers, residual_blocks


class GradNormProbe:
    """Per-layer gradient L2 norms, one on-device vector per step."""

    def __init__(self, model: nn.Module) -> None:
        named = probe_layers(model)
        self.names = tuple(n for n, _ in named)
        self.params = [p for _, p in named]
        self._zero: torch.Tensor | None = None
        self._steps: list[torch.Tensor] = []

    @torch.no_grad()
    def record(self) -> None:
        grads = []
        for p in self.params:
            if p.grad is None:  # e.g. a projection shortcut while its skip is switched off
                if self._zero is None:
                    self._zero = torch.zeros((), device=p.device)
                grads.append(self._zero)
            else:
                grads.append(p.grad)
        self._steps.append(torch.stack(torch._foreach_norm(grads)))

    def drain(self) -> np.ndarray:
        """``(steps since last drain, layers)`` float32 on the host; one device→host copy."""
        if not self._steps:
            return np.zeros((0, len(self.params)), dtype=np.float32)
        out = torch.stack(self._steps).float().cpu().numpy()
        self._steps.clear()
        return out


class WeightProbe:
    """Per-layer weight norms and update/weight ratios ‖Δw‖/‖w‖ over each logging interval."""

    def __init__(self, model: nn.Module) -> None:
        self.params = [p for _, p in probe_layers(model)]
        self._previous = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def measure(self) -> tuple[np.ndarray, np.ndarray]:
        current = [p.detach() for p in self.params]
        norms = torch.stack(torch._foreach_norm(current))
        deltas = torch._foreach_sub(current, self._previous)
        ratio = torch.stack(torch._foreach_norm(deltas)) / torch.stack(
            torch._foreach_norm(self._previous)
        ).clamp_min(1e-12)
        torch._foreach_copy_(self._previous, current)
        both = torch.stack([norms, ratio]).float().cpu().numpy()
        return both[0], both[1]


@torch.no_grad()
def block_probe(
    model: nn.Module, x: torch.Tensor
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """For each residual block on batch ``x``: ``‖F(x)‖/‖x‖`` (how much the block changes its
    input; Veit et al. 2016) and the std of ``F(x)`` after its last BN, before the addition —
    the "layer response" of He et al. (2015), Fig. 7.

    Hooks are removed even if the forward pass fails.
    """
    blocks = residual_blocks(model)
    ratios = torch.zeros(len(blocks), device=x.device)
    stds = torch.zeros(len(blocks), device=x.device)

    def hook_for(i: int, block):
        def hook(_module, inputs, _output):
            inp = inputs[0]
            f = block.residual(inp)
            ratios[i] = f.norm() / inp.norm().clamp_min(1e-12)
            stds[i] = f.std()

        return hook

    handles = [b.register_forward_hook(hook_for(i, b)) for i, (_, b) in enumerate(blocks)]
    was_training = model.training
    try:
        model.eval()
        model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    both = torch.stack([ratios, stds]).cpu().numpy()
    return tuple(n for n, _ in blocks), both[0], both[1]
