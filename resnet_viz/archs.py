"""The architectures the app knows, by name, and what a name says about its network.

Names only, no torch: the run configuration validates against them without importing the
models (``resnet_viz.models`` builds them).
"""

from __future__ import annotations

# CIFAR-style ResNet-(6n+2), He et al. (2015) §4.2: three stages of n blocks.
CIFAR_DEPTHS = (8, 14, 20, 32, 56, 110)
CIFAR_ARCHS = tuple(f"resnet{d}" for d in CIFAR_DEPTHS)
# torchvision's ImageNet ResNets: four stages.
TORCHVISION_ARCHS = ("resnet18", "resnet34", "resnet50")
ARCHS = CIFAR_ARCHS + TORCHVISION_ARCHS
PREFIX = "resnet"


def depth(arch: str) -> int:
    """The layer count in a name: ``resnet56`` → 56; 0 for a name without one."""
    digits = arch.removeprefix(PREFIX)
    return int(digits) if arch.startswith(PREFIX) and digits.isdigit() else 0


def stage_count(arch: str) -> int:
    """How many stages of residual blocks ``arch`` has (3 for CIFAR nets, 4 for torchvision's)."""
    return 3 if arch in CIFAR_ARCHS else 4
