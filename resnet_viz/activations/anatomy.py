"""Residual anatomy: what one block does to its input, piece by piece.

A block computes ``output = ReLU(b·F(x) + s·shortcut(x))`` (``resnet_viz.models.blocks``): F is
the residual branch, the shortcut is the identity, option A's subsample-and-zero-pad, or a
projection (1×1 convolution + BN), s the skip switch and b the branch scale. The pieces here come
from the block's own ``residual()``, ``shortcut()`` and scales, applied to the very input x the
block received in a real forward pass; the output is the one that forward pass produced.

``‖F(x)‖/‖x‖`` says how large the block's change is compared with what flows into it. Veit et al.
(2016) found that in trained residual networks most blocks make small refinements (a ratio well
below 1) and that the network behaves like an ensemble of many shallow paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..models import SkipSwitch, residual_blocks
from ..models.blocks import ZeroPadShortcut
from .capture import Capture, Reduce, capture, forward_hooks, require_eval, submodule

SHORTCUT_KINDS = {
    "identity": "identity: x is added unchanged",
    "zero-pad": "option A: x subsampled by 2, new channels zero-padded (no parameters)",
    "projection": "projection: 1×1 convolution + BatchNorm matches the new shape",
}


def shortcut_kind(block: nn.Module) -> str:
    downsample = getattr(block, "downsample", None)
    if downsample is None or isinstance(downsample, nn.Identity):
        return "identity"
    if isinstance(downsample, ZeroPadShortcut):
        return "zero-pad"
    return "projection"


@dataclass(frozen=True)
class Anatomy:
    """One block on one image; tensors are C×H×W, float32, CPU."""

    block: str
    x: torch.Tensor  # the block's input
    residual: torch.Tensor  # F(x), unscaled
    shortcut: torch.Tensor  # shortcut(x), unscaled
    output: torch.Tensor  # what the block output in the forward pass
    skip_scale: float
    branch_scale: float
    kind: str  # a key of SHORTCUT_KINDS
    pad_before: int = 0  # zero-pad shortcut: channels added in front of x's channels

    @property
    def branch_term(self) -> torch.Tensor:
        return self.branch_scale * self.residual

    @property
    def skip_term(self) -> torch.Tensor:
        return self.skip_scale * self.shortcut

    @property
    def recombined(self) -> torch.Tensor:
        """ReLU(b·F(x) + s·shortcut(x)), rebuilt from the pieces; equals ``output``."""
        return torch.relu(self.branch_term + self.skip_term)

    @property
    def ratio(self) -> float:
        """‖F(x)‖ / ‖x‖ (Frobenius norms over the whole map, as the training probe measures)."""
        return float(self.residual.norm() / self.x.norm().clamp_min(1e-12))

    def input_channel(self, channel: int) -> int | None:
        """The channel of x that the shortcut carries into output ``channel``; None for a
        zero-padded channel or a projection (which mixes all of x's channels)."""
        if self.kind == "projection":
            return None
        source = channel - self.pad_before
        return source if 0 <= source < self.x.shape[0] else None


def block_anatomy(
    model: nn.Module,
    x: torch.Tensor,
    block: str,
    *,
    image: int = 0,
    captured: Capture | None = None,
) -> Anatomy:
    """Residual anatomy of residual block ``block`` (e.g. ``"layer2.0"``) for ``x[image]``.

    ``captured``: a capture of ``block`` on ``x`` made with ``Reduce(inputs=True)`` (all channels
    at full size), to reuse the forward pass that drew the feature maps.
    """
    module = submodule(model, block)
    if not isinstance(module, SkipSwitch):
        raise InputError(f"{block} is not a residual block; choose one of the blocks.")
    require_eval(model)
    if captured is None:
        captured = capture(model, x, [block], reduce=Reduce(inputs=True))[block]
    if captured.input is None or captured.maps.shape[1:] != captured.shape[1:]:
        raise ValueError("Residual anatomy needs a full capture with inputs=True.")
    device = next(model.parameters()).device
    xin = captured.input[image : image + 1].to(device)
    with torch.no_grad():
        residual = module.residual(xin)
        shortcut = module.shortcut(xin)
    downsample = getattr(module, "downsample", None)
    return Anatomy(
        block=block,
        x=xin[0].cpu(),
        residual=residual[0].float().cpu(),
        shortcut=shortcut[0].float().cpu(),
        output=captured.maps[image],
        skip_scale=float(module.skip_scale),
        branch_scale=float(module.branch_scale),
        kind=shortcut_kind(module),
        pad_before=downsample.pad // 2 if isinstance(downsample, ZeroPadShortcut) else 0,
    )


@dataclass(frozen=True)
class BlockStats:
    """Per residual block, network order, on one batch."""

    names: tuple[str, ...]
    ratio: np.ndarray  # ‖F(x)‖ / ‖x‖
    branch_std: np.ndarray  # std of F(x) after its last BN, before the addition (He et al. Fig. 7)
    output_std: np.ndarray  # std of the block's output (after the addition and ReLU)
    logits: torch.Tensor  # N×classes, from the same forward pass


def block_stats(model: nn.Module, x: torch.Tensor) -> BlockStats:
    """One forward pass; each block's hook recomputes F on the block's input to measure it.

    He et al. (2015, Fig. 7) measure "layer responses" as the std of each 3×3 layer's output
    after BN and before the nonlinearity/addition; ``branch_std`` is that for the last layer of
    each residual branch (the same quantity the trainer logs as ``response_std``), so a residual
    model and its plain twin are compared on the same footing.
    """
    require_eval(model)
    blocks = residual_blocks(model)
    n = len(blocks)
    ratio, branch_std, output_std = np.zeros(n), np.zeros(n), np.zeros(n)

    def hook_for(i: int, block: SkipSwitch):
        def hook(_m: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            inp = inputs[0]
            f = block.residual(inp)
            ratio[i] = float(f.norm() / inp.norm().clamp_min(1e-12))
            branch_std[i] = float(f.float().std())
            output_std[i] = float(output.float().std())

        return hook

    hooks = {name: hook_for(i, b) for i, (name, b) in enumerate(blocks)}
    with forward_hooks(model, hooks), torch.no_grad():
        logits = model(x)
    return BlockStats(
        tuple(name for name, _ in blocks), ratio, branch_std, output_std, logits.float().cpu()
    )
