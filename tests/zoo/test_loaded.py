"""LoadedModel (resnet_viz.zoo.loaded): classes, preprocessing, geometry, private copies."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from resnet_viz import zoo


# ---- the bundled default -----------------------------------------------------------------------
def test_default_model_knows_its_classes_and_preprocessing(default):
    assert default.arch == "resnet8" and default.dataset == "shapes"
    assert default.classes[:3] == ("circle", "square", "triangle") and len(default.classes) == 10
    assert default.image_size == 32 and not default.model.training
    assert all(0 < s < 1 for s in default.std)


def test_default_model_classifies_fresh_shapes_samples(default):
    samples = zoo.sample_images(default)
    shapes = [s for s in samples if s.label is not None]
    assert len(shapes) == 10 and all(s.mask is not None for s in shapes)
    hits = sum(default.predict(default.to_tensor(s.image), 1)[0][0] == s.label for s in shapes)
    assert hits >= 8  # a 95% model on ten fresh drawings


def test_predict_returns_sorted_probabilities_that_sum_below_one(default):
    top = default.predict(default.to_tensor(zoo.sample_images(default)[0].image), 5)
    probs = [p for _, _, p in top]
    assert len(top) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    assert all(default.classes[i] == name for i, name, _ in top)


def test_clone_is_private(default):
    copy = default.clone()
    with torch.no_grad():
        next(copy.parameters()).add_(1)
    assert not torch.equal(next(copy.parameters()), next(default.model.parameters()))


# ---- geometry ----------------------------------------------------------------------------------
def test_input_image_centre_crops_without_distorting():
    loaded = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet18", ("a",), (0.5,) * 3, (0.5,) * 3, 224, resize_size=256
    )
    wide = Image.new("RGB", (600, 300), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 100, 300))  # a blue band on the left is cropped away
    seen = loaded.input_image(wide)
    assert seen.size == (224, 224)
    assert np.asarray(seen)[..., 2].max() < 10
    x = loaded.to_tensor(wide)
    assert x.shape == (1, 3, 224, 224)
    assert torch.allclose(x[0, 0], torch.ones(224, 224))  # (1 - 0.5) / 0.5


def test_masks_follow_the_image_geometry():
    loaded = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet8", ("a",), (0.5,) * 3, (0.5,) * 3, 32, resize_size=32
    )
    mask = np.zeros((64, 128), dtype=bool)
    mask[:, 60:68] = True  # a vertical bar in the middle survives the centre crop
    out = loaded.input_mask(mask)
    assert out.shape == (32, 32) and out.dtype == bool
    assert out[:, 15:17].all() and not out[:, :10].any()


def test_tiny_images_are_upsampled(default):
    assert default.to_tensor(Image.new("RGB", (1, 1), (9, 9, 9))).shape == (1, 3, 32, 32)
