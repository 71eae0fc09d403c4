"""Residual blocks with a skip switch.

Every block computes ``relu(branch_scale * F(x) + skip_scale * shortcut(x))``:

* ``skip_scale`` is the skip switch: 1 is the identity shortcut of He et al. (2015), 0 turns the
  block into a plain two-layer stack, and values in between are the "scaled shortcut" of He et al.
  (2016, Table 1). It is a plain float attribute, not a buffer, so it can change between steps
  without touching the state dict (keys stay those of the underlying model).
* ``branch_scale`` is 1 in normal use; the lesion study of Veit et al. (2016) sets it to 0 to
  delete the residual branch while keeping the skip path.

Each ReLU call site is its own module: Captum's DeepLift and hook-based tools need one module per
non-linearity, and torchvision's blocks reuse a single ``relu`` twice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock as TVBasicBlock
from torchvision.models.resnet import Bottleneck as TVBottleneck


class SkipSwitch:
    """Mixin: the two scales and the split of a block into residual branch and shortcut."""

    skip_scale: float = 1.0
    branch_scale: float = 1.0

    def residual(self, x: torch.Tensor) -> torch.Tensor:  # F(x), before the final ReLU
        raise NotImplementedError

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def out_relu(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x) if self.branch_scale == 1.0 else self.branch_scale * self.residual(x)
        if self.skip_scale == 1.0:
            out = out + self.shortcut(x)
        elif self.skip_scale != 0.0:
            out = out + self.skip_scale * self.shortcut(x)
        return self.out_relu(out)


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut (He et al. 2015, §4.2): subsample by ``stride`` and zero-pad channels.

    It has no parameters, which is what makes a plain net and its residual twin have exactly the
    same parameters.
    """

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            # Pad both sides of the channel axis, as the original Torch code does.
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad_channels={self.pad}"


def conv3x3(in_planes: int, planes: int, stride: int = 1, *, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=bias)


class CifarBasicBlock(SkipSwitch, nn.Module):
    """Two 3×3 convolutions with an option-A shortcut (He et al. 2015, §4.2)."""

    def __init__(
        self, in_planes: int, planes: int, stride: int = 1, *, norm_layer: type[nn.Module]
    ) -> None:
        super().__init__()
        bias = norm_layer is nn.Identity  # without BN the convolutions need their own bias
        self.conv1 = conv3x3(in_planes, planes, stride, bias=bias)
        self.bn1 = norm_layer(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes, bias=bias)
        self.bn2 = norm_layer(planes)
        self.relu2 = nn.ReLU()
        self.downsample = (
            ZeroPadShortcut(in_planes, planes, stride)
            if stride != 1 or in_planes != planes
            else nn.Identity()
        )

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x)

    def out_relu(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(x)


class SkipBasicBlock(SkipSwitch, TVBasicBlock):
    """torchvision's BasicBlock with a skip switch and one ReLU module per call site."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relu = nn.ReLU()  # torchvision's is in-place and called twice
        self.relu2 = nn.ReLU()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)

    def out_relu(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(x)


class SkipBottleneck(SkipSwitch, TVBottleneck):
    """torchvision's Bottleneck with a skip switch and one ReLU module per call site."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relu = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.relu3 = nn.ReLU()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)

    def out_relu(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu3(x)
