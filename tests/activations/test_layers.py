"""The pickable layer list: execution order, readable labels, shapes, no duplicates."""

from __future__ import annotations

import torch

from resnet_viz.activations import Layer, block_label, first_block, pickable_layers
from resnet_viz.models import build_model, residual_blocks

from .conftest import assert_unchanged, fingerprint


def test_resnet8_layers_in_network_order(trained8):
    before = fingerprint(trained8)
    layers = pickable_layers(trained8, 32)
    names = [layer.name for layer in layers]
    assert names[:9] == [
        "conv1",
        "bn1",
        "relu",
        "layer1.0.conv1",
        "layer1.0.bn1",
        "layer1.0.relu1",
        "layer1.0.conv2",
        "layer1.0.bn2",
        "layer1.0",
    ]
    assert names[-1] == "layer3.0"
    # Blocks appear once each, their final ReLU (same tensor as the block output) never.
    assert [n for n in names if n.endswith("relu2")] == []
    assert [layer.name for layer in layers if layer.kind == "block"] == [
        n for n, _ in residual_blocks(trained8)
    ]
    assert not any("downsample" in n or n in ("avgpool", "fc") for n in names)
    by_name = {layer.name: layer for layer in layers}
    assert by_name["layer2.0"].shape == (32, 16, 16)
    assert by_name["layer2.0"].label == "layer2.0 — stage 2 · block 1 output · 32×16×16"
    conv = by_name["layer2.0.conv1"]
    assert conv.label == "layer2.0.conv1 — stage 2 · block 1 · conv 3×3, stride 2, 16→32 · 32×16×16"
    assert (conv.kind, conv.block) == ("conv", "layer2.0")
    assert by_name["conv1"].block is None
    assert_unchanged(trained8, before)


def test_bottleneck_layers_follow_execution_not_registration_order(resnet50):
    names = [layer.name for layer in pickable_layers(resnet50, 32)]
    start = names.index("layer1.0.conv1")
    # torchvision registers Bottleneck's ``relu`` after bn3; it runs after bn1.
    assert names[start : start + 9] == [
        "layer1.0.conv1",
        "layer1.0.bn1",
        "layer1.0.relu",
        "layer1.0.conv2",
        "layer1.0.bn2",
        "layer1.0.relu2",
        "layer1.0.conv3",
        "layer1.0.bn3",
        "layer1.0",
    ]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert len(names) == len(set(names))


def test_tracing_a_train_mode_model_changes_nothing():
    torch.manual_seed(0)
    model = build_model("resnet8", 10)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layers = pickable_layers(model, 32)
    assert layers and model.training
    for key, value in model.state_dict().items():  # BN running statistics included
        assert torch.equal(value, state[key]), key


def test_models_without_batchnorm_list_no_identity_layers():
    model = build_model("resnet8", 10, batchnorm=False).eval()
    kinds = {layer.kind for layer in pickable_layers(model, 32)}
    assert kinds == {"conv", "relu", "block"}


def test_block_label():
    assert block_label("layer3.1") == "stage 3 · block 2"
    assert block_label("features.0") == "features.0"


def test_the_list_starts_at_the_first_block(trained8):
    assert first_block(pickable_layers(trained8, 32)) == "layer1.0"
    stem = [
        Layer("conv1", "conv1", "conv", None, (16, 32, 32)),
        Layer("relu", "relu", "relu", None, (16, 32, 32)),
    ]
    assert first_block(stem) == "conv1"  # no block: the first layer
