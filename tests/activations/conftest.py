"""Models for the activation tests: tiny, eval mode, and a fingerprint that proves an operation
left a (shared) model exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from resnet_viz.checkpoints import load_checkpoint
from resnet_viz.models import build_model, residual_blocks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def trained8() -> nn.Module:
    """The bundled ResNet-8 trained on Shapes (32×32)."""
    model, _ = load_checkpoint(ROOT / "assets" / "default_model.safetensors")
    return model.eval()


@pytest.fixture(scope="session")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", 10).eval()


@pytest.fixture(scope="session")
def resnet50() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet50", 10).eval()


@pytest.fixture
def image32() -> torch.Tensor:
    return torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def fingerprint(model: nn.Module) -> tuple:
    """Everything an inspection could change: weights and buffers, skip and branch scales,
    train/eval mode and any hook left on any module."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    scales = [(b.skip_scale, b.branch_scale) for _, b in residual_blocks(model)]
    hooks = sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )
    return state, scales, model.training, hooks


def assert_unchanged(model: nn.Module, before: tuple) -> None:
    state, scales, training, hooks = fingerprint(model)
    assert scales == before[1]
    assert training == before[2]
    assert hooks == before[3] == 0
    assert state.keys() == before[0].keys()
    for key, value in state.items():
        assert torch.equal(value, before[0][key]), key
