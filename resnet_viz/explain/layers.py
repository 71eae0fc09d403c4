"""Which layer Grad-CAM looks at, named by module path (``layer3``, ``layer4.1``).

Our CIFAR ResNets have stages ``layer1``–``layer3`` and torchvision's have ``layer1``–``layer4``
(both built with torchvision's attribute names), each a ``Sequential`` of residual blocks
``layerS.B``. A stage's output *is* its last block's output, so the list offers every block
except a stage's last, then the stage itself in its place: ``layer1.0, layer1, layer2.0, …``.
Any other module path with a spatial output (``layer3.0.conv2``) works too.
"""

from __future__ import annotations

import re

from torch import nn

from .base import MethodError


def _stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (name, module)
        for name, module in model.named_children()
        if re.fullmatch(r"layer\d+", name) and isinstance(module, nn.Sequential)
    ]


def grad_cam_layers(model: nn.Module) -> list[str]:
    """Layers a person can pick for Grad-CAM, in network order; the last is the default."""
    names: list[str] = []
    for stage, blocks in _stages(model):
        names += [f"{stage}.{i}" for i in range(len(blocks) - 1)]
        names.append(stage)
    if not names:  # not a ResNet we know: every convolution, last one by default
        names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return names


def default_layer(model: nn.Module) -> str:
    """The last stage: the classic Grad-CAM layer (Selvaraju et al. 2017 use the last
    convolutional feature map, the best compromise of semantics and resolution)."""
    names = grad_cam_layers(model)
    if not names:
        raise MethodError("This model has no convolutional layer for Grad-CAM.")
    return names[-1]


def layer_label(name: str) -> str:
    """``layer3`` → ``stage 3 output``; ``layer2.0`` → ``stage 2 · block 1``."""
    if match := re.fullmatch(r"layer(\d+)", name):
        return f"stage {match[1]} output ({name})"
    if match := re.fullmatch(r"layer(\d+)\.(\d+)", name):
        return f"stage {match[1]} · block {int(match[2]) + 1} ({name})"
    return name


def resolve_layer(model: nn.Module, name: str | None) -> nn.Module:
    name = name or default_layer(model)
    try:
        return model.get_submodule(name)
    except AttributeError:
        choices = ", ".join(grad_cam_layers(model))
        raise MethodError(f"This model has no layer {name!r}; choose one of {choices}.") from None
