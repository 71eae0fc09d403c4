"""Tests for the built-in Shapes dataset (resnet_viz.data.shapes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_viz.data.shapes import SHAPE_CLASSES, ShapesData, draw_shape_image, make_shapes


@pytest.fixture(scope="module")
def shapes100() -> ShapesData:
    return make_shapes(100, seed=3)


def _draw(name: str, seed: int, *, size: int = 32, clutter: float = 1.0):
    rng = np.random.default_rng([seed, 12345])
    return draw_shape_image(SHAPE_CLASSES.index(name), rng, size=size, clutter=clutter)


def _elongation(mask: np.ndarray) -> float:
    """sqrt(minor/major) eigenvalue of the mask's pixel covariance: 1 for round/square."""
    ys, xs = np.nonzero(mask)
    eig = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(float)))
    return math.sqrt(eig[0] / eig[1])


def test_classes_are_the_documented_ten_in_order():
    assert SHAPE_CLASSES == (
        "circle",
        "square",
        "triangle",
        "star",
        "cross",
        "ring",
        "diamond",
        "hexagon",
        "heart",
        "arrow",
    )


def test_shapes_and_dtypes(shapes100: ShapesData):
    assert shapes100.images.shape == (100, 3, 32, 32)
    assert shapes100.images.dtype == torch.uint8
    assert shapes100.labels.shape == (100,)
    assert shapes100.labels.dtype == torch.int64
    assert shapes100.masks.shape == (100, 32, 32)
    assert shapes100.masks.dtype == torch.bool


def test_labels_are_balanced_and_index_mod_ten(shapes100: ShapesData):
    assert torch.equal(shapes100.labels, torch.arange(100) % 10)
    assert torch.bincount(shapes100.labels, minlength=10).tolist() == [10] * 10


def test_zero_images_is_an_empty_set():
    data = make_shapes(0, seed=0)
    assert data.images.shape == (0, 3, 32, 32)
    assert data.labels.shape == (0,)
    assert data.masks.shape == (0, 32, 32)


def test_same_seed_gives_identical_data(shapes100: ShapesData):
    again = make_shapes(100, seed=3)
    assert torch.equal(again.images, shapes100.images)
    assert torch.equal(again.labels, shapes100.labels)
    assert torch.equal(again.masks, shapes100.masks)


def test_different_seeds_give_different_images(shapes100: ShapesData):
    other = make_shapes(100, seed=4)
    assert not torch.equal(other.images, shapes100.images)
    # Not just one image: nearly every image must change with the seed.
    changed = (other.images != shapes100.images).flatten(1).any(dim=1)
    assert changed.float().mean() > 0.95


def test_smaller_set_is_a_prefix_of_a_larger_one(shapes100: ShapesData):
    small = make_shapes(37, seed=3)
    assert torch.equal(small.images, shapes100.images[:37])
    assert torch.equal(small.masks, shapes100.masks[:37])
    assert torch.equal(small.labels, shapes100.labels[:37])


def test_draw_shape_image_is_the_primitive_of_make_shapes(shapes100: ShapesData):
    for i in (0, 7, 55):
        image, mask = draw_shape_image(i % 10, np.random.default_rng([3, i]))
        assert isinstance(image, Image.Image)
        assert image.mode == "RGB" and image.size == (32, 32)
        assert mask.dtype == bool and mask.shape == (32, 32)
        assert torch.equal(torch.from_numpy(np.array(image)).permute(2, 0, 1), shapes100.images[i])
        assert torch.equal(torch.from_numpy(mask), shapes100.masks[i])


def test_masks_are_non_empty_inside_the_image_and_of_sane_size(shapes100: ShapesData):
    masks = shapes100.masks
    area = masks.flatten(1).float().mean(dim=1)
    assert (area > 0.03).all(), area.min()
    assert (area < 0.70).all(), area.max()
    # The whole shape lies inside the image: nothing on the border rows/columns.
    border = masks[:, 0, :].any() | masks[:, -1, :].any() | masks[:, :, 0].any()
    assert not (border | masks[:, :, -1].any())


def test_shape_contrasts_with_its_background():
    data = make_shapes(200, seed=11)
    luma = (data.images.float() / 255 * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1)
    for lum, mask in zip(luma, data.masks, strict=True):
        assert abs(lum[mask].mean() - lum[~mask].mean()) > 0.25


def test_ring_has_a_hole_and_circle_does_not():
    for seed in range(10):
        for name, centre_in_mask in (("ring", False), ("circle", True)):
            _, mask = _draw(name, seed, clutter=0.0)
            ys, xs = np.nonzero(mask)
            cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
            assert bool(mask[cy, cx]) is centre_in_mask, (name, seed)


def test_diamond_is_elongated_and_square_is_not():
    for seed in range(10):
        assert _elongation(_draw("diamond", seed)[1]) < 0.7, seed
        assert _elongation(_draw("square", seed)[1]) > 0.85, seed


def test_classes_drawn_from_the_same_randomness_differ():
    # Same generator state -> same pose and colours, so only the class changes the mask.
    for seed in range(5):
        masks = [_draw(name, seed)[1] for name in SHAPE_CLASSES]
        for a in range(len(masks)):
            for b in range(a + 1, len(masks)):
                iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
                assert iou < 0.9, (SHAPE_CLASSES[a], SHAPE_CLASSES[b], seed, iou)


def test_clutter_zero_gives_a_plain_background_and_keeps_the_shape():
    plain = make_shapes(20, seed=5, clutter=0.0)
    busy = make_shapes(20, seed=5, clutter=1.0)
    assert torch.equal(plain.masks, busy.masks)
    for p, b in zip(plain.images, busy.images, strict=True):
        # The border never touches the shape, so it shows the background alone.
        p_border = torch.cat([p[:, 0], p[:, -1], p[:, :, 0], p[:, :, -1]], dim=1)
        b_border = torch.cat([b[:, 0], b[:, -1], b[:, :, 0], b[:, :, -1]], dim=1)
        assert torch.unique(p_border, dim=1).shape[1] == 1
        assert torch.unique(b_border, dim=1).shape[1] > 1


def test_numpy_integer_arguments_are_accepted(shapes100: ShapesData):
    data = make_shapes(np.int64(5), seed=np.int64(3), size=np.int64(32), clutter=np.float32(1.0))
    assert torch.equal(data.images, shapes100.images[:5])


def test_size_64_works():
    data = make_shapes(20, seed=1, size=64)
    assert data.images.shape == (20, 3, 64, 64)
    assert data.masks.shape == (20, 64, 64)
    area = data.masks.flatten(1).float().mean(dim=1)
    assert ((area > 0.03) & (area < 0.70)).all()
    image, mask = draw_shape_image(5, np.random.default_rng(0), size=64)
    assert image.size == (64, 64) and mask.shape == (64, 64)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": -1, "seed": 0},
        {"n": 10, "seed": -1},
        {"n": 10, "seed": 0, "size": 15},
        {"n": 10, "seed": 0, "clutter": -0.1},
        {"n": 10, "seed": 0, "clutter": float("nan")},
        {"n": 2.5, "seed": 0},
        {"n": 10, "seed": 0, "size": 32.0},
    ],
)
def test_make_shapes_rejects_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        make_shapes(**kwargs)


@pytest.mark.parametrize(
    ("label", "kwargs"),
    [(-1, {}), (10, {}), (1.5, {}), (0, {"size": 8}), (0, {"clutter": -1.0})],
)
def test_draw_shape_image_rejects_invalid_arguments(label, kwargs):
    with pytest.raises(ValueError):
        draw_shape_image(label, np.random.default_rng(0), **kwargs)
