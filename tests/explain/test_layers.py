"""Layer choices for Grad-CAM: module paths in network order, the last stage by default."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_viz.explain import (
    MethodError,
    attribute,
    default_layer,
    grad_cam_layers,
    layer_label,
)
from resnet_viz.models import build_model


def test_cifar_resnet8_offers_its_three_stages(trained):
    assert grad_cam_layers(trained[0]) == ["layer1", "layer2", "layer3"]
    assert default_layer(trained[0]) == "layer3"


def test_deeper_models_offer_every_block_in_order():
    assert grad_cam_layers(build_model("resnet20", 10)) == [
        "layer1.0", "layer1.1", "layer1",
        "layer2.0", "layer2.1", "layer2",
        "layer3.0", "layer3.1", "layer3",
    ]  # fmt: skip
    r18 = grad_cam_layers(build_model("resnet18", 10))
    assert r18 == [f"layer{s}{b}" for s in range(1, 5) for b in (".0", "")]


def test_every_offered_layer_works_and_differs():
    torch.manual_seed(0)
    model = build_model("resnet20", 10).eval()
    x = torch.randn(1, 3, 32, 32)
    maps = {name: attribute(model, x, "gradcam", 1, name) for name in grad_cam_layers(model)}
    assert all(m.shape == (32, 32) for m in maps.values())
    assert not torch.equal(maps["layer1.0"], maps["layer3"])
    # A stage's output is its last block's output.
    assert torch.equal(maps["layer2"], attribute(model, x, "gradcam", 1, "layer2.2"))
    # Any module path with a spatial output works, not only the offered ones.
    assert attribute(model, x, "gradcam", 1, "layer3.0.conv2").shape == (32, 32)


def test_unknown_models_fall_back_to_their_convolutions():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    assert grad_cam_layers(model) == ["0", "2"]
    assert default_layer(model) == "2"
    with pytest.raises(MethodError, match="no convolutional layer"):
        default_layer(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))


def test_labels():
    assert layer_label("layer3") == "stage 3 output (layer3)"
    assert layer_label("layer2.0") == "stage 2 · block 1 (layer2.0)"
    assert layer_label("layer3.0.conv2") == "layer3.0.conv2"
