"""CIFAR-style ResNet-(6n+2) of He et al. (2015), §4.2.

Three stages of ``n`` blocks with 16, 32 and 64 filters on 32×32 inputs, option-A (parameter-free)
shortcuts, global average pooling and one linear layer. Attribute names follow torchvision's
ResNet (``conv1``, ``bn1``, ``relu``, ``layer1``…, ``avgpool``, ``fc``) so the rest of the library
treats both families alike.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import CifarBasicBlock, conv3x3


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, *, batchnorm: bool = True) -> None:
        super().__init__()
        if (depth - 2) % 6 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n ≥ 1, got {depth}")
        n = (depth - 2) // 6
        norm: type[nn.Module] = nn.BatchNorm2d if batchnorm else nn.Identity
        self.depth = depth
        self.conv1 = conv3x3(3, 16, bias=not batchnorm)
        self.bn1 = norm(16)
        self.relu = nn.ReLU()
        self.layer1 = self._stage(16, 16, n, 1, norm)
        self.layer2 = self._stage(16, 32, n, 2, norm)
        self.layer3 = self._stage(32, 64, n, 2, norm)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He et al. (2015b) initialisation, as the paper uses.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _stage(
        in_planes: int, planes: int, blocks: int, stride: int, norm: type[nn.Module]
    ) -> nn.Sequential:
        layers = [CifarBasicBlock(in_planes, planes, stride, norm_layer=norm)]
        layers += [CifarBasicBlock(planes, planes, norm_layer=norm) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))
