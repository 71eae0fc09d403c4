"""What streams: per-layer gradient and weight statistics, and per-block activation probes.

Gradient norms are computed on the device every step with one fused ``torch._foreach_norm``
call and stacked into one vector; the host sees them once per logging interval (one copy of a
``(steps, layers)`` matrix), never through an ``.item()`` per layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..models import probe_layers, residual_blocks


class GradNormProbe:
    """Per-layer gradient L2 norms, one on-device vector per step."""

    def __init__(self, model: nn.Module, layers: Sequence[tuple[str, nn.Parameter]] = ()) -> None:
        """``layers``: the ``(name, weight)`` rows; by default this project's (probe_layers)."""
        named = list(layers) or probe_layers(model)
        self.names = tuple(n for n, _ in named)
        self.params = [p for _, p in named]
        self._zero: torch.Tensor | None = None
        self._steps: list[torch.Tensor] = []

    @torch.no_grad()
    def record(self, scale: torch.Tensor | None = None) -> torch.Tensor:
        """This step's norms (kept for :meth:`drain`); ``scale``: a factor for all of them,
        e.g. the inverse of a GradScaler's scale, as a device tensor (no sync)."""
        grads = []
        for p in self.params:
            if p.grad is None:  # e.g. a projection shortcut while its skip is switched off
                if self._zero is None:
                    self._zero = torch.zeros((), device=p.device)
                grads.append(self._zero)
            else:
                grads.append(p.grad)
        norms = torch.stack(torch._foreach_norm(grads))
        if scale is not None:
            norms = norms * scale
        self._steps.append(norms)
        return norms

    def take(self) -> list[torch.Tensor]:
        """The steps' norm vectors since the last take, still on the device, for another thread
        to copy to the host."""
        steps, self._steps = self._steps, []
        return steps

    def drain(self) -> np.ndarray:
        """``(steps since last drain, layers)`` float32 on the host; one device→host copy."""
        steps = self.take()
        if not steps:
            return np.zeros((0, len(self.params)), dtype=np.float32)
        return torch.stack(steps).float().cpu().numpy()


class WeightProbe:
    """Per-layer weight norms and update/weight ratios ‖Δw‖/‖w‖ over each logging interval."""

    def __init__(self, model: nn.Module, layers: Sequence[tuple[str, nn.Parameter]] = ()) -> None:
        self.params = [p for _, p in (list(layers) or probe_layers(model))]
        self._previous = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def measure(self) -> tuple[np.ndarray, np.ndarray]:
        both = self.measure_on_device().float().cpu().numpy()
        return both[0], both[1]

    @torch.no_grad()
    def measure_on_device(self) -> torch.Tensor:
        """``(2, layers)``: weight norms and update ratios, left on the device."""
        current = [p.detach() for p in self.params]
        norms = torch.stack(torch._foreach_norm(current))
        deltas = torch._foreach_sub(current, self._previous)
        ratio = torch.stack(torch._foreach_norm(deltas)) / torch.stack(
            torch._foreach_norm(self._previous)
        ).clamp_min(1e-12)
        torch._foreach_copy_(self._previous, current)
        return torch.stack([norms, ratio])


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
