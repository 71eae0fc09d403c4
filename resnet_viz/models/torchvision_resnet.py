"""torchvision ResNet-18/34/50 with skip switches, weights from torchvision's own enums.

The model is torchvision's ``ResNet`` class built with our block subclasses (exactly what
``torchvision.models.resnet18`` does with its own blocks), so state-dict keys are torchvision's and
``ResNet18_Weights`` & co. load unchanged.
"""

from __future__ import annotations

from torch import nn
from torchvision.models import ResNet, ResNet18_Weights, ResNet34_Weights, ResNet50_Weights
from torchvision.models._api import WeightsEnum

from ..archs import TORCHVISION_ARCHS
from ..errors import ConfigError, DataError
from .blocks import SkipBasicBlock, SkipBottleneck

_SPECS: dict[str, tuple[type[nn.Module], list[int], type[WeightsEnum]]] = {
    "resnet18": (SkipBasicBlock, [2, 2, 2, 2], ResNet18_Weights),
    "resnet34": (SkipBasicBlock, [3, 4, 6, 3], ResNet34_Weights),
    "resnet50": (SkipBottleneck, [3, 4, 6, 3], ResNet50_Weights),
}
assert tuple(_SPECS) == TORCHVISION_ARCHS  # the names live in resnet_viz.archs


def _no_norm(num_features: int) -> nn.Module:
    return nn.Identity()


def build_torchvision_resnet(
    arch: str, num_classes: int, *, batchnorm: bool = True, pretrained: bool = False
) -> ResNet:
    block, layers, weights_enum = _SPECS[arch]
    if pretrained and not batchnorm:
        raise ConfigError("Pretrained ImageNet weights need BatchNorm; turn BatchNorm on.")
    norm_layer = None if batchnorm else _no_norm
    model = ResNet(block, layers, num_classes=num_classes, norm_layer=norm_layer)
    model.relu = nn.ReLU()  # torchvision's stem ReLU is in-place, which breaks gradient hooks
    if pretrained:
        weights = weights_enum.DEFAULT
        try:
            state = weights.get_state_dict(progress=False, check_hash=True)
        except Exception as err:  # offline, proxy, corrupt cache…
            raise DataError(
                f"Could not get {weights} (ImageNet weights for {arch}): {err}. Put the file "
                f"{weights.url.rsplit('/', 1)[-1]} in the torch hub cache "
                "(~/.cache/torch/hub/checkpoints/, or $TORCH_HOME/hub/checkpoints/) or connect "
                "to the internet once."
            ) from err
        if num_classes != len(weights.meta["categories"]):
            # A new head for a new task: keep the ImageNet features, initialise fc afresh.
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            model.load_state_dict(state, strict=False)
        else:
            model.load_state_dict(state)
    return model


def imagenet_categories(arch: str) -> list[str]:
    return list(_SPECS[arch][2].DEFAULT.meta["categories"])
