"""Grad-CAM agrees with pytorch-grad-cam's GradCAM (the reference implementation) to 1e-4 under
the same conventions, on two architectures, several layers and image sizes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from resnet_viz.explain import attribute, hook_count
from resnet_viz.models import build_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return build_model("resnet18", 10).eval()


def reference(model, x, layer, target):
    clone = copy.deepcopy(model)  # GradCAM calls model.eval() and hooks the model
    targets = None if target is None else [ClassifierOutputTarget(target)]
    with GradCAM(clone, [clone.get_submodule(layer)]) as cam:
        return cam(x, targets)[0]


CASES = [
    ("resnet8", 32, "layer3", None),
    ("resnet8", 32, "layer2", 4),
    ("resnet8", 32, "layer1", 7),
    ("resnet18", 64, "layer4", None),
    ("resnet18", 64, "layer3", 2),
    ("resnet18", 96, "layer4.0", None),
    ("resnet18", 96, "layer2.0", 1),
]


@pytest.mark.parametrize(("arch", "size", "layer", "target"), CASES)
def test_matches_pytorch_grad_cam(trained, resnet18, arch, size, layer, target):
    model = trained[0] if arch == "resnet8" else resnet18
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(size))
    ours = attribute(model, x, "gradcam", target, layer).numpy()
    ref = reference(model, x, layer, target)
    assert ours.shape == ref.shape == (size, size)
    assert ref.max() > 0.99  # a real map, not two empty ones
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert hook_count(model) == 0


def test_both_empty_when_nothing_speaks_for_the_class(resnet18):
    # With these random weights, class 5's Grad-CAM at layer4.0 is negative everywhere: the
    # ReLU leaves nothing, and both implementations return zeros rather than dividing by 0.
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(96))
    ours = attribute(resnet18, x, "gradcam", 5, "layer4.0").numpy()
    ref = reference(resnet18, x, "layer4.0", 5)
    assert not ours.any() and not ref.any()
