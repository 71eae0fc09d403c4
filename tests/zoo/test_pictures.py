"""Pictures (resnet_viz.zoo.pictures): samples and dataset draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet_viz import zoo
from resnet_viz.errors import DataError

from .conftest import _pth  # noqa: F401


# ---- pictures --------------------------------------------------------------------------------
def test_samples_include_the_bundled_photos_for_any_model(default):
    imagenet_like = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet18", ("a",), (0.5,) * 3, (0.5,) * 3, 224
    )
    photos = zoo.sample_images(imagenet_like)
    assert {s.name for s in photos} == {"flower", "grace hopper", "temple"}
    assert all(s.image.mode == "RGB" and s.mask is None for s in photos)
    assert len(zoo.sample_images(default)) == len(photos) + 10


def test_shapes_draws_are_deterministic_have_masks_and_differ_by_seed(default):
    a, b = zoo.dataset_samples(default, 3, 5), zoo.dataset_samples(default, 3, 5)
    c = zoo.dataset_samples(default, 3, 6)
    assert [np.asarray(s.image).tobytes() for s in a] == [np.asarray(s.image).tobytes() for s in b]
    assert [np.asarray(s.image).tobytes() for s in a] != [np.asarray(s.image).tobytes() for s in c]
    for s in a:
        assert s.mask.shape == (32, 32) and s.mask.any() and s.label is not None


def test_dataset_draws_for_a_model_without_a_dataset_say_what_to_do():
    loaded = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet8", ("a",), (0.5,) * 3, (0.5,) * 3, 32
    )
    with pytest.raises(DataError, match="upload a picture"):
        zoo.dataset_samples(loaded, 2, 0)
