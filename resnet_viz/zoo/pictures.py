"""Pictures to look at: the photographs in ``assets/samples``, Shapes drawn on the fly (with
their masks), and draws from a model's own validation data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..config import DataConfig
from ..data import load_dataset
from ..data.shapes import SHAPE_CLASSES, draw_shape_image
from ..errors import DataError
from .loaded import LoadedModel
from .sources import ASSETS

SAMPLES = ASSETS / "samples"
SAMPLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True, eq=False)
class Sample:
    name: str
    image: Image.Image  # RGB; uploads come at the model's input scale (resize_size)
    mask: np.ndarray | None = None  # bool H×W object mask (Shapes only)
    label: int | None = None  # true class index, when known


# Shapes samples come from their own stream, apart from the training (0) and validation (1) ones.
SHAPES_SAMPLE_SEED = 7


def _shapes_samples(n: int, seed: int, size: int) -> list[Sample]:
    out = []
    for i in range(n):
        label = i % len(SHAPE_CLASSES)
        image, mask = draw_shape_image(label, np.random.default_rng([seed, i]), size=size)
        out.append(Sample(f"Shapes {SHAPE_CLASSES[label]} #{i}", image, mask, label))
    return out


def sample_images(loaded: LoadedModel) -> list[Sample]:
    """The bundled photographs, plus one Shapes picture per class for a Shapes model."""
    photos = [
        Sample(p.stem.replace("_", " "), Image.open(p).convert("RGB"))
        for p in sorted(SAMPLES.iterdir())
        if p.suffix.lower() in SAMPLE_EXTENSIONS
    ]
    if loaded.dataset == "shapes":
        return _shapes_samples(len(SHAPE_CLASSES), SHAPES_SAMPLE_SEED, loaded.image_size) + photos
    return photos


def dataset_samples(loaded: LoadedModel, n: int, seed: int) -> list[Sample]:
    """``n`` pictures from the model's own validation data (Shapes: freshly drawn, with masks)."""
    if loaded.dataset == "shapes":
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, len(SHAPE_CLASSES), n)
        out = []
        for i, label in enumerate(labels):
            image, mask = draw_shape_image(
                int(label),
                np.random.default_rng([SHAPES_SAMPLE_SEED, seed, i]),
                size=loaded.image_size,
            )
            out.append(
                Sample(f"Shapes {SHAPE_CLASSES[label]} (draw {seed}.{i})", image, mask, int(label))
            )
        return out
    cfg = loaded.meta.get("train_config", {}).get("data")
    if loaded.dataset not in ("cifar10", "folder") or not cfg:
        raise DataError(
            "This model does not say which dataset it was trained on; upload a picture instead."
        )
    data = load_dataset(DataConfig(**{**cfg, "train_size": 1, "val_size": max(n, 200)}), seed=0)
    split = data.val if len(data.val) else data.train
    idx = np.random.default_rng(seed).choice(len(split), size=min(n, len(split)), replace=False)
    return [
        Sample(
            f"{data.classes[int(split.labels[i])]} (#{int(i)})",
            Image.fromarray(split.images[int(i)].permute(1, 2, 0).numpy()),
            None,
            int(split.labels[int(i)]),
        )
        for i in idx
    ]


# A picture whose short side is below this many pixels carries too little to look at.
MIN_SIDE = 16


def picture_warnings(loaded: LoadedModel, sample: Sample) -> list[str]:
    """What a student should know before reading the model's answer for ``sample``: a picture
    from outside what the model learned, or one too small to show anything."""
    notes = []
    drawn = sample.mask is not None  # Shapes pictures carry their outline
    classes = ", ".join(loaded.classes[:10]) + (" …" if len(loaded.classes) > 10 else "")
    if loaded.dataset == "shapes" and not drawn:
        notes.append(
            f"“{sample.name}” is not one of the drawn shapes this model learned: it only "
            f"knows ten of them ({classes}). It must still answer one of them, so its top class "
            "and the maps say little about this picture."
        )
    elif drawn and loaded.dataset != "shapes":
        notes.append(
            f"“{sample.name}” is a drawn Shapes picture, but this model learned "
            f"{loaded.dataset or 'other pictures'}: its answer is a guess among classes it knows."
        )
    elif loaded.dataset in ("cifar10", "folder") and sample.label is None:
        notes.append(
            f"This model knows only {len(loaded.classes)} classes ({classes}); if “{sample.name}”"
            " shows none of them, its top class is the nearest guess, not a recognition."
        )
    width, height = sample.image.size
    if min(width, height) < MIN_SIDE:
        notes.append(
            f"“{sample.name}” is only {width}×{height} pixels: it is enlarged to "
            f"{loaded.image_size}×{loaded.image_size}, so the model sees a blur of a few colours."
        )
    return notes
