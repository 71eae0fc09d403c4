"""The layers a person can pick, in the order the network runs them, with readable labels.

Registration order is not execution order (torchvision's Bottleneck registers its ReLU after
``bn3``, and our extra ReLUs come last), so the list comes from one traced forward pass on a blank
image of the model's input size, which also gives every layer's output shape for its label.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..models import SkipSwitch, residual_blocks
from ..models.blocks import ZeroPadShortcut
from .capture import forward_hooks

LEAVES = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d)


@dataclass(frozen=True)
class Layer:
    name: str  # qualified module name: model.get_submodule(name)
    label: str  # what the layer list shows
    kind: str  # "block" | "conv" | "bn" | "relu" | "pool"
    block: str | None  # the residual block this is, or lies in; None in the stem
    shape: tuple[int, int, int]  # C×H×W of its output at the traced input size


def block_label(name: str) -> str:
    """``layer2.1`` → ``stage 2 · block 2``."""
    match = re.fullmatch(r"layer(\d+)\.(\d+)", name)
    return f"stage {match[1]} · block {int(match[2]) + 1}" if match else name


def _describe(module: nn.Module) -> tuple[str, str]:
    if isinstance(module, nn.Conv2d):
        k = "×".join(map(str, module.kernel_size))
        stride = f", stride {module.stride[0]}" if module.stride[0] != 1 else ""
        return "conv", f"conv {k}{stride}, {module.in_channels}→{module.out_channels}"
    if isinstance(module, nn.BatchNorm2d):
        return "bn", "BatchNorm"
    if isinstance(module, nn.ReLU):
        return "relu", "ReLU"
    return "pool", "max-pool"


def pickable_layers(model: nn.Module, image_size: int) -> list[Layer]:
    """Stem layers, every residual block (its output, after the addition and final ReLU) and
    the convolutions, BatchNorms and ReLUs of each residual branch, in execution order.

    Left out: shortcut internals (the residual anatomy shows the shortcut), identity modules,
    a block's final ReLU (its output *is* the block's output), pooling to 1×1 and the classifier
    (no feature maps; the top-5 shows the classifier).
    """
    blocks = dict(residual_blocks(model))
    candidates: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if ".downsample" in name or isinstance(module, ZeroPadShortcut):
            continue
        if isinstance(module, (SkipSwitch, *LEAVES)):
            candidates[name] = module
    order: list[tuple[str, Any]] = []

    def hook_for(name: str):
        def hook(_m: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
            order.append((name, output))

        return hook

    # Eval mode never changes a model; a model in train mode is traced on a copy so that its
    # BatchNorm statistics stay as they are.
    traced = copy.deepcopy(model).eval() if model.training else model
    hooked = {n: hook_for(n) for n in candidates}
    with forward_hooks(traced, hooked), torch.no_grad():
        device = next(traced.parameters()).device
        traced(torch.zeros(1, 3, image_size, image_size, device=device))
    block_outputs = {name: out for name, out in order if name in blocks}
    seen: set[str] = set()
    layers = []
    for name, output in order:
        if name in seen:  # a module called twice is listed once
            continue
        seen.add(name)
        block = _owner(name, blocks)
        shape = tuple(output.shape[1:])
        size = "×".join(map(str, shape))
        if name in blocks:
            label = f"{name} — {block_label(name)} output · {size}"
            layers.append(Layer(name, label, "block", name, shape))
        elif block is None or output is not block_outputs.get(block):
            kind, what = _describe(candidates[name])
            where = "stem" if block is None else block_label(block)
            layers.append(Layer(name, f"{name} — {where} · {what} · {size}", kind, block, shape))
        # else: the block's final ReLU, the very tensor the block outputs
    return layers


def _owner(name: str, blocks: dict[str, nn.Module]) -> str | None:
    for block in blocks:
        if name == block or name.startswith(block + "."):
            return block
    return None


def first_block(layers: list[Layer]) -> str:
    """The name of the first residual block in ``layers`` (the first layer where there is
    none): where a layer list starts."""
    return next((layer.name for layer in layers if layer.kind == "block"), layers[0].name)
