"""Shapes: a procedurally drawn, offline image-classification dataset with ground-truth masks.

Ten classes of coloured shapes (:data:`SHAPE_CLASSES`) are drawn at a random position, scale,
rotation and colour on a mildly cluttered background: a gentle colour gradient, a little pixel
noise and one to three thin distractor strokes that may pass behind the shape (``clutter``
scales all three; 0 gives a plain background). The shape is always brighter than its background.

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
import numbers
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
_MIN_RADIUS, _MAX_RADIUS = 0.32, 0.45
# Hole of the ring relative to its outer radius: large enough to stay open at 32 px.
_RING_INNER = 0.5
# Short/long half-axis ratio of the diamond, so it never looks like a rotated square.
_DIAMOND_ASPECT = 0.55
_STAR_INNER = 0.45
_CROSS_HALF_WIDTH = 0.34
# Colour: the shape's minimum luminance, and its minimum lead over the background's.
_MIN_FG_LUMA, _MIN_CONTRAST = 0.45, 0.38
# Supersampling factor for anti-aliasing; 4x keeps edges smooth and still meets the speed budget.
_SUPERSAMPLE = 4
# Clutter parameters at clutter=1.0; every one scales linearly with `clutter`.
_GRADIENT_AMPLITUDE = 0.14  # max per-channel colour change across the image (0..1 scale)
_NOISE_STD = 5.0  # standard deviation of the per-pixel noise, in 0..255 units
_MAX_LINES = 6  # sampled always so the random stream does not depend on `clutter`


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


# --------------------------------------------------------------------------- per-image draws
#
# Each image consumes exactly one block of uniforms plus one noise field from its generator,
# whatever `clutter` is: one (seed, index) then gives the same shape, pose and colours at every
# clutter level, and only the clutter's strength changes.

_N_COLOUR, _N_POSE, _N_CLUTTER, _N_PER_LINE = 6, 4, 6, 8
_N_UNIFORMS = _N_COLOUR + _N_POSE + _N_CLUTTER + _N_PER_LINE * _MAX_LINES


def _luma(rgb: tuple[float, float, float]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _colours(u: list[float]) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """Foreground and background RGB (0..1), and the foreground's hue.

    The shape is always the brighter of the two, by at least _MIN_CONTRAST in luminance. A fixed
    polarity matters: with both (light on dark and dark on light) a small ResNet needs several
    times more steps to learn the outlines, and the app trains for seconds, not minutes.
    """
    hue = u[0]
    fg = colorsys.hsv_to_rgb(hue, 0.65 + 0.35 * u[1], 0.8 + 0.2 * u[2])
    fg_luma = _luma(fg)
    if fg_luma < _MIN_FG_LUMA:
        # Dark hues (blue, purple) are lifted towards white, keeping their hue, to leave room
        # for a darker background.
        k = (_MIN_FG_LUMA - fg_luma) / (1 - fg_luma)
        fg = tuple(c + k * (1 - c) for c in fg)
        fg_luma = _MIN_FG_LUMA
    target = 0.04 + u[3] * (fg_luma - _MIN_CONTRAST - 0.04)
    # A luminance-neutral tint colours the background without moving its luminance.
    tint = colorsys.hsv_to_rgb(u[4], 1.0, 1.0)
    tint_luma = _luma(tint)
    strength = 0.3 * u[5]
    bg = tuple(min(1.0, max(0.0, target + strength * (c - tint_luma))) for c in tint)
    return fg, bg, hue


def _gradient(u: list[float]) -> tuple[float, ...]:
    """Colour change across the background, a random direction in RGB of random length."""
    direction = [2 * v - 1 for v in u[:3]]
    norm = math.sqrt(sum(v * v for v in direction)) + 1e-9
    return tuple(v / norm * _GRADIENT_AMPLITUDE * u[3] for v in direction)


class _Canvases:
    """Supersampled drawing surfaces, reused across the images of one call (allocation costs)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.side = size * _SUPERSAMPLE
        self.shape = Image.new("L", (self.side, self.side), 0)
        self.line_rgb = Image.new("RGB", (self.side, self.side), (0, 0, 0))
        self.line_cover = Image.new("L", (self.side, self.side), 0)
        self.draw_shape = ImageDraw.Draw(self.shape)
        self.draw_line_rgb = ImageDraw.Draw(self.line_rgb)
        self.draw_line_cover = ImageDraw.Draw(self.line_cover)


class _Batch:
    """Per-image draws of a chunk, kept apart so the compositing runs once per chunk (numpy's
    per-call overhead dominates at 32 px). Layers are uint8 coverage/colour at output size."""

    def __init__(self, n: int, size: int) -> None:
        self.fg = np.zeros((n, 3), dtype=np.float32)
        self.bg = np.zeros((n, 3), dtype=np.float32)
        self.gradient = np.zeros((n, 3), dtype=np.float32)
        self.gradient_angle = np.zeros(n, dtype=np.float32)
        self.coverage = np.zeros((n, size, size), dtype=np.uint8)
        self.line_rgb = np.zeros((n, size, size, 3), dtype=np.uint8)
        self.line_cover = np.zeros((n, size, size), dtype=np.uint8)
        self.noise = np.zeros((n, size, size, 3), dtype=np.float32)


def _draw_shape(canvases: _Canvases, name: str, u: list[float]) -> Image.Image:
    """The anti-aliased shape's coverage at output size, at a random scale, rotation, place."""
    size, ss = canvases.size, _SUPERSAMPLE
    # A one-pixel margin keeps every shape pixel off the border, even at the smallest size.
    margin = 1.0
    radius = min((_MIN_RADIUS + (_MAX_RADIUS - _MIN_RADIUS) * u[0]) * size, size / 2 - margin)
    if name in ("circle", "ring"):
        points = None
        lo = hi = np.array([radius, radius])
    else:
        angle = 2 * math.pi * u[1]
        c, s = math.cos(angle), math.sin(angle)
        points = _unit_polygons()[name] @ np.array([[c, s], [-s, c]]) * radius
        lo, hi = -points.min(axis=0), points.max(axis=0)
    # Place the extent (not the radius) so thin rotated shapes still roam the whole image.
    lo, hi = lo + margin, size - hi - margin
    cx, cy = (lo + np.array(u[2:4]) * np.maximum(hi - lo, 0.0)) * ss

    draw = canvases.draw_shape
    draw.rectangle((0, 0, canvases.side, canvases.side), fill=0)
    if points is None:
        r = radius * ss
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        if name == "ring":
            r_in = r * _RING_INNER
            draw.ellipse((cx - r_in, cy - r_in, cx + r_in, cy + r_in), fill=0)
    else:
        draw.polygon((points * ss + (cx, cy)).ravel().tolist(), fill=255)
    # reduce() is a box filter over ss x ss blocks (same as resize(..., BOX)), only faster.
    return canvases.shape.reduce(ss)


def _draw_lines(
    canvases: _Canvases, u: list[float], fg_hue: float, n_lines: int
) -> tuple[Image.Image, Image.Image]:
    """Thin distractor strokes: (premultiplied RGB, coverage) at output size."""
    side, ss = canvases.side, _SUPERSAMPLE
    canvases.draw_line_rgb.rectangle((0, 0, side, side), fill=(0, 0, 0))
    canvases.draw_line_cover.rectangle((0, 0, side, side), fill=0)
    for k in range(n_lines):
        x, y, a, h, w, dh, sat, val = u[k * _N_PER_LINE : (k + 1) * _N_PER_LINE]
        half = (0.25 + 0.35 * h) * side
        dx, dy = half * math.cos(math.pi * a), half * math.sin(math.pi * a)
        xy = [(x * side - dx, y * side - dy), (x * side + dx, y * side + dy)]
        width = max(1, round((0.8 + 0.8 * w) * ss))
        # Hue at least 60° from the shape's, so a stroke never reads as part of the shape.
        hue = (fg_hue + (60 + 240 * dh) / 360) % 1.0
        rgb = colorsys.hsv_to_rgb(hue, 0.3 + 0.7 * sat, 0.3 + 0.7 * val)
        colour = tuple(round(255 * c) for c in rgb)
        canvases.draw_line_rgb.line(xy, fill=colour, width=width)
        canvases.draw_line_cover.line(xy, fill=255, width=width)
    return canvases.line_rgb.reduce(ss), canvases.line_cover.reduce(ss)


def _sample_into(
    batch: _Batch, j: int, label: int, rng: np.random.Generator, canvases: _Canvases, clutter: float
) -> None:
    """Draw image ``j``'s random choices and layers from ``rng`` into ``batch``."""
    u = rng.random(_N_UNIFORMS).tolist()
    colour_u = u[:_N_COLOUR]
    pose_u = u[_N_COLOUR : _N_COLOUR + _N_POSE]
    clutter_u = u[_N_COLOUR + _N_POSE : _N_COLOUR + _N_POSE + _N_CLUTTER]
    line_u = u[_N_COLOUR + _N_POSE + _N_CLUTTER :]
    rng.random(out=batch.noise[j], dtype=np.float32)

    fg, bg, fg_hue = _colours(colour_u)
    batch.fg[j], batch.bg[j] = fg, bg
    batch.gradient[j] = _gradient(clutter_u[:4])
    batch.gradient_angle[j] = 2 * math.pi * clutter_u[4]
    batch.coverage[j] = np.asarray(_draw_shape(canvases, SHAPE_CLASSES[label], pose_u))
    n_lines = min(_MAX_LINES, round((1 + int(3 * clutter_u[5])) * clutter))
    if n_lines:
        line_rgb, line_cover = _draw_lines(canvases, line_u, fg_hue, n_lines)
        batch.line_rgb[j], batch.line_cover[j] = np.asarray(line_rgb), np.asarray(line_cover)
    else:
        batch.line_rgb[j], batch.line_cover[j] = 0, 0


@lru_cache(maxsize=8)
def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    # Pixel centres in [-0.5, 0.5]; scaled by 1/sqrt(2) so any projection stays in [-0.5, 0.5].
    coords = ((np.arange(size, dtype=np.float32) + 0.5) / size - 0.5) / np.float32(math.sqrt(2))
    gx, gy = np.meshgrid(coords, coords, indexing="xy")
    return gx, gy


def _compose(batch: _Batch, clutter: float) -> tuple[np.ndarray, np.ndarray]:
    """Composite the chunk: (uint8 (B, H, W, 3) RGB, bool (B, H, W) mask)."""
    gx, gy = _unit_grid(batch.coverage.shape[1])
    cos = np.cos(batch.gradient_angle)[:, None, None]
    sin = np.sin(batch.gradient_angle)[:, None, None]
    ramp = (gx * cos + gy * sin) * np.float32(clutter)
    image = batch.bg[:, None, None, :] + ramp[..., None] * batch.gradient[:, None, None, :]
    # Clutter first, the shape on top: strokes pass behind the shape.
    scale = np.float32(1 / 255)
    line_cover = batch.line_cover[..., None] * scale
    image = image * (1 - line_cover) + batch.line_rgb * scale
    alpha = batch.coverage[..., None] * scale
    image = image * (1 - alpha) + batch.fg[:, None, None, :] * alpha
    # Uniform noise with standard deviation _NOISE_STD (uniform is cheaper to draw than normal).
    noise_scale = np.float32(_NOISE_STD * clutter * math.sqrt(12))
    image = image * np.float32(255) + (batch.noise - np.float32(0.5)) * noise_scale
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return pixels, batch.coverage >= 128


# --------------------------------------------------------------------------- public API


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_size_clutter(size: int, clutter: float) -> None:
    if not _is_int(size) or size < 16:
        raise ValueError(f"Shapes image size must be an integer of at least 16, got {size!r}.")
    real = isinstance(clutter, numbers.Real) and not isinstance(clutter, bool)
    if not real or not math.isfinite(clutter) or clutter < 0:
        raise ValueError(f"Shapes clutter must be a finite number ≥ 0, got {clutter!r}.")


def draw_shape_image(
    label: int, rng: np.random.Generator, *, size: int = 32, clutter: float = 1.0
) -> tuple[Image.Image, np.ndarray]:
    """Draw one Shapes image of class ``label``: (RGB image, bool HxW mask of the shape).

    This is the per-image primitive of :func:`make_shapes`, which calls it in effect with
    ``numpy.random.default_rng([seed, i])`` and ``label = i % 10``.
    """
    if not _is_int(label):
        raise ValueError(f"Shapes label must be an integer class index, got {label!r}.")
    if not 0 <= label < len(SHAPE_CLASSES):
        raise ValueError(f"Shapes label must be in 0..{len(SHAPE_CLASSES) - 1}, got {label}.")
    _check_size_clutter(size, clutter)
    size = int(size)
    batch = _Batch(1, size)
    _sample_into(batch, 0, int(label), rng, _Canvases(size), float(clutter))
    pixels, masks = _compose(batch, float(clutter))
    return Image.fromarray(pixels[0]), masks[0]


def make_shapes(n: int, *, seed: int, size: int = 32, clutter: float = 1.0) -> ShapesData:
    """Generate ``n`` Shapes images; image ``i`` depends only on ``(seed, i)``, label is ``i % 10``.

    Raises:
        ValueError: ``n`` or ``seed`` negative, ``size`` below 16 or ``clutter`` negative.
    """
    if not _is_int(n) or n < 0:
        raise ValueError(f"Number of Shapes images must be an integer ≥ 0, got {n!r}.")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"Shapes seed must be an integer ≥ 0, got {seed!r}.")
    _check_size_clutter(size, clutter)
    n, seed, size = int(n), int(seed), int(size)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=bool)
    labels = np.arange(n, dtype=np.int64) % len(SHAPE_CLASSES)
    canvases = _Canvases(size)
    chunk = 256
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        batch = _Batch(stop - start, size)
        for j, i in enumerate(range(start, stop)):
            rng = np.random.default_rng([seed, i])
            _sample_into(batch, j, int(labels[i]), rng, canvases, float(clutter))
        images[start:stop], masks[start:stop] = _compose(batch, float(clutter))
    return ShapesData(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        labels=torch.from_numpy(labels),
        masks=torch.from_numpy(masks),
    )
