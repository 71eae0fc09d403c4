"""Pictures (resnet_viz.zoo.pictures): samples and dataset draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_viz import zoo
from resnet_viz.errors import DataError


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


# ---- what a student should know before reading the answer --------------------------------------
def test_a_photo_shown_to_the_shapes_model_is_called_out_of_domain(default):
    photo = next(s for s in zoo.sample_images(default) if s.mask is None)
    (note,) = zoo.picture_warnings(default, photo)
    assert "not one of the drawn shapes" in note and "circle" in note


def test_a_shapes_picture_for_the_shapes_model_needs_no_warning(default):
    drawn = next(s for s in zoo.sample_images(default) if s.mask is not None)
    assert zoo.picture_warnings(default, drawn) == []


def test_a_shapes_picture_for_an_imagenet_model_is_a_guess(default):
    imagenet = dataclasses.replace(default, dataset="imagenet")
    drawn = next(s for s in zoo.sample_images(default) if s.mask is not None)
    (note,) = zoo.picture_warnings(imagenet, drawn)
    assert "drawn Shapes picture" in note and "imagenet" in note


def test_a_tiny_picture_is_called_a_blur(default):
    dot = zoo.Sample("dot.png", Image.new("RGB", (1, 1), (200, 0, 0)))
    notes = zoo.picture_warnings(default, dot)
    assert any("only 1×1 pixels" in n and "32×32" in n for n in notes)


def test_a_cifar_model_lists_the_classes_it_knows(default):
    cifar = dataclasses.replace(default, dataset="cifar10", classes=("plane", "car"))
    photo = zoo.Sample("flower", Image.new("RGB", (64, 64)))
    (note,) = zoo.picture_warnings(cifar, photo)
    assert "only 2 classes (plane, car)" in note
