"""Models: CIFAR ResNet-(6n+2) and torchvision ResNet-18/34/50, all with skip switches.

Public API (see docs/ARCHITECTURE.md): ``build_model``, ``set_skip``, ``set_stage_skip``,
``residual_blocks``, ``stages``, ``probe_layers`` and ``ARCHS``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..archs import ARCHS, CIFAR_ARCHS, TORCHVISION_ARCHS, depth
from ..errors import ConfigError
from .blocks import SkipSwitch
from .cifar import CifarResNet
from .torchvision_resnet import build_torchvision_resnet

__all__ = [
    "ARCHS",
    "CIFAR_ARCHS",
    "TORCHVISION_ARCHS",
    "SkipSwitch",
    "build_model",
    "probe_layers",
    "residual_blocks",
    "set_skip",
    "set_stage_skip",
    "stages",
    "zero_residual_branches",
]


def build_model(
    arch: str,
    num_classes: int,
    *,
    skip: bool | float | Sequence[float] = True,
    batchnorm: bool = True,
    pretrained: bool = False,
    zero_init_residual: bool = False,
) -> nn.Module:
    """Build ``arch`` with ``num_classes`` outputs.

    ``skip`` is passed to :func:`set_stage_skip` when it is a sequence (one scale per stage, or
    one for all) and to :func:`set_skip` otherwise. ``zero_init_residual`` starts every residual
    branch at zero (see :func:`zero_residual_branches`).
    """
    if arch in CIFAR_ARCHS:
        if pretrained:
            raise ConfigError(f"There are no pretrained weights for {arch}; train it instead.")
        model: nn.Module = CifarResNet(depth(arch), num_classes, batchnorm=batchnorm)
    elif arch in TORCHVISION_ARCHS:
        model = build_torchvision_resnet(
            arch, num_classes, batchnorm=batchnorm, pretrained=pretrained
        )
    else:
        raise ConfigError(f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}.")
    if isinstance(skip, Sequence):
        set_stage_skip(model, skip)
    else:
        set_skip(model, skip)
    if zero_init_residual:
        zero_residual_branches(model)
    return model


def zero_residual_branches(model: nn.Module) -> None:
    """Make each residual branch output zero at the start, so each block starts as its shortcut.

    With BatchNorm, the last BN's scale is zeroed (Goyal et al. 2017; torchvision's
    ``zero_init_residual``). Without BatchNorm, Fixup's initialisation (Zhang et al. 2019, §3):
    the last layer of every branch and the classifier start at zero, and the branch's other
    layers are scaled by ``L ** (-1 / (2m - 2))`` for ``L`` branches of ``m`` layers. A deep
    residual net with no normalisation then starts as a shallow one, and an SGD step changes
    its output by about the same amount whatever its depth, instead of the sum of ``L`` growing
    branches blowing up (measured here: ResNet-32 without BN, SGD 0.1, collapsed to chance with
    only the last convolutions zeroed). Fixup's scalar multipliers and biases are left out: the
    convolutions of a net without BN already have biases, and the state-dict keys stay those
    of the plain twin. It only makes sense with the skips on: a plain net initialised so
    outputs zeros.
    """
    blocks = [b for _, b in residual_blocks(model)]
    fixup = False
    for block in blocks:
        last_bn = getattr(block, "bn3", None) or getattr(block, "bn2", None)
        if isinstance(last_bn, nn.BatchNorm2d):
            nn.init.zeros_(last_bn.weight)
            continue
        *inner, last = [c for c in (block.conv1, block.conv2, getattr(block, "conv3", None)) if c]
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
        with torch.no_grad():
            for conv in inner:
                conv.weight.mul_(len(blocks) ** (-1 / (2 * len(inner))))  # 2m - 2 = 2(m - 1)
        fixup = True
    if fixup:
        nn.init.zeros_(model.fc.weight)
        nn.init.zeros_(model.fc.bias)


def stages(model: nn.Module) -> list[list[SkipSwitch]]:
    """The residual blocks of each stage, in network order."""
    out = []
    for i in range(1, 5):
        layer = getattr(model, f"layer{i}", None)
        if layer is not None:
            out.append([b for b in layer if isinstance(b, SkipSwitch)])
    return out


def residual_blocks(model: nn.Module) -> list[tuple[str, SkipSwitch]]:
    """``(qualified name, block)`` for every residual block, in network order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, SkipSwitch)]


def _scale(value: bool | float) -> float:
    scale = float(value)
    if not 0.0 <= scale <= 2.0:
        raise ConfigError(f"A shortcut scale must be between 0 and 2, got {value}.")
    return scale


def set_skip(model: nn.Module, enabled: bool | float | Sequence[bool | float]) -> None:
    """Switch skip connections: all blocks (bool), all blocks scaled (float), or per block."""
    blocks = [b for _, b in residual_blocks(model)]
    if isinstance(enabled, Sequence):
        if len(enabled) != len(blocks):
            raise ConfigError(f"Expected {len(blocks)} per-block skip values, got {len(enabled)}.")
        scales = [_scale(v) for v in enabled]
    else:
        scales = [_scale(enabled)] * len(blocks)
    for block, scale in zip(blocks, scales, strict=True):
        block.skip_scale = scale


def set_stage_skip(model: nn.Module, scales: Sequence[bool | float]) -> None:
    """Set one shortcut scale per stage; a single value applies to every stage."""
    groups = stages(model)
    if len(scales) == 1:
        scales = list(scales) * len(groups)
    if len(scales) != len(groups):
        raise ConfigError(f"This model has {len(groups)} stages, got {len(scales)} skip values.")
    values = [_scale(v) for v in scales]  # check every value before changing any block
    for group, value in zip(groups, values, strict=True):
        for block in group:
            block.skip_scale = value


def probe_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Weights of every convolution and linear layer, in network order: the rows of the
    per-layer gradient heatmap."""
    return [
        (name, m.weight)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
