"""Shapes: a procedurally drawn, offline image-classification dataset with ground-truth masks.

Ten classes of coloured shapes (:data:`SHAPE_CLASSES`) are drawn at a random position, scale,
rotation and colour on a mildly cluttered background: a gentle colour gradient, a little pixel
noise and a few thin distractor strokes that may pass behind the shape.

Why it exists:

* it is the app's default dataset because it needs no download, so every page works offline and
  a small ResNet learns it in well under a minute on a CPU;
* every image comes with a boolean mask of the shape's pixels, so attribution maps (saliency,
  Grad-CAM, ...) can be scored against ground truth (pointing game, energy inside the mask)
  instead of only being looked at.

Image ``i`` of ``make_shapes(n, seed=s)`` depends only on ``(s, i)``, so a smaller set is always a
prefix of a larger one with the same seed, and label ``i`` is ``i % 10`` (balanced; the trainer
shuffles).
"""

from __future__ import annotations

import colorsys
import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageDraw

SHAPE_CLASSES: tuple[str, ...] = (
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

# Outer radius of the shape as a fraction of the image side.
_MIN_RADIUS, _MAX_RADIUS = 0.28, 0.45
# Hole of the ring relative to its outer radius: large enough to stay open at 32 px.
_RING_INNER = 0.5
# Short/long half-axis ratio of the diamond, so it never looks like a rotated square.
_DIAMOND_ASPECT = 0.58
_STAR_INNER = 0.45
_CROSS_HALF_WIDTH = 0.34
# Supersampling factor for anti-aliasing; 4x keeps edges smooth and still meets the speed budget.
_SUPERSAMPLE = 4
# Clutter parameters at clutter=1.0; every one scales linearly with `clutter`.
_GRADIENT_AMPLITUDE = 0.14  # max per-channel colour change across the image (0..1 scale)
_NOISE_STD = 5.0  # per-pixel Gaussian noise, in 0..255 units
_MAX_LINES = 6  # sampled always so the random stream does not depend on `clutter`
_LUMA = np.array([0.299, 0.587, 0.114])


class ShapesData(NamedTuple):
    """A generated Shapes set: images, labels and shape masks, index-aligned."""

    images: torch.Tensor  # uint8, (N, 3, size, size), RGB
    labels: torch.Tensor  # int64, (N,)
    masks: torch.Tensor  # bool, (N, size, size), True on the shape's pixels


# --------------------------------------------------------------------------- unit shapes


def _regular_polygon(n_vertices: int, *, phase: float = -math.pi / 2) -> np.ndarray:
    angles = phase + 2 * math.pi * np.arange(n_vertices) / n_vertices
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star() -> np.ndarray:
    angles = -math.pi / 2 + math.pi * np.arange(10) / 5
    radii = np.where(np.arange(10) % 2 == 0, 1.0, _STAR_INNER)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross() -> np.ndarray:
    w = _CROSS_HALF_WIDTH
    quarter = [(w, -1.0), (w, -w), (1.0, -w)]  # one arm's corner walk, rotated 4 times below
    points = []
    for k in range(4):
        c, s = math.cos(k * math.pi / 2), math.sin(k * math.pi / 2)
        points += [(c * x - s * y, s * x + c * y) for x, y in quarter]
    return np.array(points)


def _heart(n_points: int = 48) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n_points, endpoint=False)
    x = 16 * np.sin(t) ** 3
    # Minus: the classic curve has y up, images have y down.
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], axis=1)


def _arrow() -> np.ndarray:
    shaft, head, neck = 0.22, 0.6, 0.15
    return np.array(
        [
            (-1.0, -shaft),
            (neck, -shaft),
            (neck, -head),
            (1.0, 0.0),
            (neck, head),
            (neck, shaft),
            (-1.0, shaft),
        ]
    )


def _normalise(points: np.ndarray) -> np.ndarray:
    """Centre on the bounding box and scale so the outer radius is 1 (the sampled radius)."""
    centred = points - (points.min(axis=0) + points.max(axis=0)) / 2
    return centred / np.linalg.norm(centred, axis=1).max()


@lru_cache(maxsize=1)
def _unit_polygons() -> dict[str, np.ndarray]:
    """Polygons of outer radius 1 around the origin; circle and ring are drawn as ellipses."""
    square = np.array([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)])
    diamond = np.array([(1.0, 0.0), (0.0, _DIAMOND_ASPECT), (-1.0, 0.0), (0.0, -_DIAMOND_ASPECT)])
    shapes = {
        "square": square,
        "triangle": _regular_polygon(3),
        "star": _star(),
        "cross": _cross(),
        "diamond": diamond,
        "hexagon": _regular_polygon(6, phase=0.0),
        "heart": _heart(),
        "arrow": _arrow(),
    }
    return {name: _normalise(points) for name, points in shapes.items()}


