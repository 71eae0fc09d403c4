"""Shared fixtures: the bundled ResNet-8 trained on Shapes (loaded once) and a few Shapes images
with their masks, normalised as the model was trained."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from resnet_viz.checkpoints import load_checkpoint
from resnet_viz.data.shapes import make_shapes

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Shapes:
    images: torch.Tensor  # N×3×32×32 normalised
    masks: np.ndarray  # N×32×32 bool
    labels: torch.Tensor


@pytest.fixture(scope="session")
def trained() -> tuple[nn.Module, dict]:
    """The bundled model. Tests must not change it; those that do take ``model`` instead."""
    return load_checkpoint(ROOT / "assets" / "default_model.safetensors")


@pytest.fixture
def model(trained: tuple[nn.Module, dict]) -> nn.Module:
    """A private copy of the trained model, for tests that change its state."""
    import copy

    return copy.deepcopy(trained[0])


@pytest.fixture(scope="session")
def shapes(trained: tuple[nn.Module, dict]) -> Shapes:
    meta = trained[1]
    data = make_shapes(10, seed=321)
    x = data.images.float() / 255
    mean = torch.tensor(meta["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(meta["std"]).view(1, 3, 1, 1)
    return Shapes((x - mean) / std, data.masks.numpy(), data.labels)


@pytest.fixture(scope="session")
def image(shapes: Shapes) -> torch.Tensor:
    return shapes.images[:1]


def state_of(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool], list[bool]]:
    """Everything attribution must leave as it was: weights and buffers, training flags and
    requires_grad flags."""
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
    )


def assert_same_state(model: nn.Module, before) -> None:
    weights, training, grads = before
    after = model.state_dict()
    assert all(torch.equal(weights[k], after[k]) for k in weights), "weights or buffers changed"
    assert [m.training for m in model.modules()] == training, "training flags changed"
    assert [p.requires_grad for p in model.parameters()] == grads, "requires_grad changed"
