"""A model ready for inspection: :class:`LoadedModel` carries what it needs to be used honestly
(its class names, the normalisation and input size it was trained with, where it came from)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import nn
from torchvision.models import get_model_weights

from ..locks import model_lock
from ..models.torchvision_resnet import imagenet_categories

# ImageNet statistics: what torchvision's weights were trained with, and the best guess for a
# weights file that does not say.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_weights(arch: str) -> Any:
    """torchvision's default ImageNet weights enum member for ``arch``."""
    return get_model_weights(arch).DEFAULT


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model ready for inspection. ``model`` is shared between pages and browser sessions
    (cached): never change it in place; :meth:`clone` gives a private copy."""

    model: nn.Module
    name: str
    arch: str
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    image_size: int
    dataset: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Short side is resized to this before the centre crop to image_size (torchvision's
    # ImageNet recipe: 256 → 224); equal to image_size for the small models.
    resize_size: int = 0
    note: str = ""  # what we had to assume, shown next to the model

    def clone(self) -> nn.Module:
        return copy.deepcopy(self.model).eval()

    @property
    def short_side(self) -> int:
        """What the shorter side of a picture is resized to before the centre crop."""
        return self.resize_size or self.image_size

    def input_image(self, image: Image.Image) -> Image.Image:
        """``image`` as the model sees it: short side resized, centre-cropped to a square."""
        image = TF.resize(image.convert("RGB"), self.short_side, antialias=True)
        return TF.center_crop(image, [self.image_size, self.image_size])

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        x = TF.to_dtype(TF.pil_to_tensor(self.input_image(image)), torch.float32, scale=True)
        return TF.normalize(x, list(self.mean), list(self.std)).unsqueeze(0)

    def input_mask(self, mask: np.ndarray) -> np.ndarray:
        """A ground-truth mask put through the same geometry as :meth:`input_image`."""
        m = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255, "L")
        m = TF.resize(m, self.short_side, TF.InterpolationMode.NEAREST)
        return np.asarray(TF.center_crop(m, [self.image_size, self.image_size])) > 127

    def predict(self, x: torch.Tensor, k: int = 5) -> list[tuple[int, str, float]]:
        """Top-``k`` (class index, class name, probability) for a 1×3×H×W input."""
        with model_lock(self.model), torch.inference_mode():
            probs = torch.softmax(self.model(x).float(), dim=1)[0]
        top = torch.topk(probs, min(k, probs.numel()))
        return [
            (int(i), self.classes[int(i)], float(p))
            for p, i in zip(top.values, top.indices, strict=True)
        ]


def from_checkpoint(model: nn.Module, meta: dict[str, Any], name: str) -> LoadedModel:
    """A model loaded from one of this app's checkpoints, with the classes and preprocessing
    its header records."""
    size = int(meta.get("image_size") or 32)
    assumed = [  # run.save() from a script that did not give them
        text
        for key, text in (("classes", "numbered classes"), ("mean", "ImageNet's normalisation"))
        if not meta.get(key)
    ]
    note = f"The checkpoint does not say: assumed {' and '.join(assumed)}." if assumed else ""
    return LoadedModel(
        model=model.eval(),
        name=name,
        arch=str(meta["model"]["arch"]),
        classes=tuple(meta.get("classes") or (f"class {i}" for i in range(meta["num_classes"]))),
        mean=tuple(meta.get("mean") or IMAGENET_MEAN),  # type: ignore[arg-type]
        std=tuple(meta.get("std") or IMAGENET_STD),  # type: ignore[arg-type]
        image_size=size,
        resize_size=size,
        dataset=meta.get("dataset"),
        meta=meta,
        note=note,
    )


def imagenet(model: nn.Module, arch: str, name: str, note: str = "") -> LoadedModel:
    """An ImageNet model: torchvision's classes and its weights' own preprocessing."""
    t = imagenet_weights(arch).transforms()
    return LoadedModel(
        model=model.eval(),
        name=name,
        arch=arch,
        classes=tuple(imagenet_categories(arch)),
        mean=tuple(t.mean),  # type: ignore[arg-type]
        std=tuple(t.std),  # type: ignore[arg-type]
        image_size=int(t.crop_size[0]),
        resize_size=int(t.resize_size[0]),
        dataset="imagenet",
        note=note,
    )
