"""Where the models and pictures that the inspection pages look at come from.

A :class:`LoadedModel` is a model plus what it needs to be used honestly: its class names, the
normalisation and input size it was trained with, and where it came from. Sources:

- the bundled default (``assets/default_model.safetensors``, ResNet-8 trained on Shapes);
- a finished run's checkpoint in the run store;
- torchvision's ImageNet weights (torch hub cache, or a download when online);
- a weights file the user uploads: ``.safetensors`` (read without pickle) or a torchvision-style
  ``.pth`` state dict read with ``torch.load(weights_only=True)``, which refuses arbitrary objects.

Sample pictures: the photographs in ``assets/samples`` and Shapes drawn on the fly, with masks.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from torch import nn
from torchvision.models import get_model_weights

from .checkpoints import _META_KEY, load_checkpoint
from .config import DataConfig
from .data import load_dataset
from .data.shapes import SHAPE_CLASSES, draw_shape_image
from .errors import CheckpointError, DataError
from .locks import model_lock
from .models import ARCHS, CIFAR_ARCHS, build_model
from .models.torchvision_resnet import TORCHVISION_ARCHS, imagenet_categories

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = ASSETS / "default_model.safetensors"
SAMPLES = ASSETS / "samples"
SAMPLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
MAX_WEIGHTS_BYTES = 400 * 2**20  # ResNet-50 is ~100 MB; anything far bigger is not a ResNet here


def _weights(arch: str) -> Any:
    return get_model_weights(arch).DEFAULT


# ImageNet statistics: what torchvision's weights were trained with, and the best guess for a
# weights file that does not say.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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

    def input_image(self, image: Image.Image) -> Image.Image:
        """``image`` as the model sees it: short side resized, centre-cropped to a square."""
        image = TF.resize(image.convert("RGB"), self.resize_size or self.image_size, antialias=True)
        return TF.center_crop(image, [self.image_size, self.image_size])

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        x = TF.to_dtype(TF.pil_to_tensor(self.input_image(image)), torch.float32, scale=True)
        return TF.normalize(x, list(self.mean), list(self.std)).unsqueeze(0)

    def input_mask(self, mask: np.ndarray) -> np.ndarray:
        """A ground-truth mask put through the same geometry as :meth:`input_image`."""
        m = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255, "L")
        m = TF.resize(m, self.resize_size or self.image_size, TF.InterpolationMode.NEAREST)
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


def _from_checkpoint(model: nn.Module, meta: dict[str, Any], name: str) -> LoadedModel:
    size = int(meta.get("image_size") or 32)
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
    )


def load_default() -> LoadedModel:
    model, meta = load_checkpoint(DEFAULT_MODEL)
    return _from_checkpoint(model, meta, f"Bundled default: {meta['model']['arch']} on Shapes")


def load_run(store: Any, run_id: str, member: int = 0) -> LoadedModel:
    """The checkpoint of member ``member`` of run ``run_id`` (a :class:`RunStore`)."""
    run = store.get_run(run_id)
    if run is None:
        raise CheckpointError(f"There is no run {run_id}.")
    path = store.run_dir(run_id) / f"model-{member}.safetensors"
    if not path.exists():
        raise CheckpointError(
            f"Run {run.name} ({run_id}, {run.status}) has no checkpoint yet: a run saves one "
            "when it finishes or is stopped (a diverged model is not saved)."
        )
    model, meta = load_checkpoint(path)
    return _from_checkpoint(model, meta, f"Run {run.name} · {meta.get('member') or run_id}")


def load_torchvision(arch: str) -> LoadedModel:
    """torchvision's ImageNet weights for ``arch``; a CheckpointError says how to get them."""
    if arch not in TORCHVISION_ARCHS:
        raise CheckpointError(f"No ImageNet weights for {arch}; choose one of {TORCHVISION_ARCHS}.")
    try:
        model = build_model(arch, 1000, pretrained=True)
    except DataError as err:
        raise CheckpointError(str(err)) from None
    return _imagenet(model, arch, f"torchvision {arch}, ImageNet weights ({_weights(arch)})")


def _imagenet(model: nn.Module, arch: str, name: str, note: str = "") -> LoadedModel:
    t = _weights(arch).transforms()
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


# ---- user weights ----------------------------------------------------------------------------
def load_user_weights(
    data: bytes, filename: str, *, arch: str | None = None, num_classes: int | None = None
) -> LoadedModel:
    """A model from an uploaded weights file. Never unpickles arbitrary objects.

    ``arch``/``num_classes`` are inferred from the state dict's keys and shapes when not given;
    a file that fits no architecture gets a message naming the closest one and what differs.
    """
    if not data:
        raise CheckpointError(f"{filename} is empty (0 bytes).")
    if len(data) > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{filename} is larger than {MAX_WEIGHTS_BYTES // 2**20} MB.")
    suffix = Path(filename).suffix.lower()
    if suffix == ".safetensors":
        header = _safetensors_header(data, filename)
        if _META_KEY in header.get("__metadata__", {}):
            return _our_checkpoint(data, filename)
        state = _read_safetensors(data, filename)
    elif suffix in (".pth", ".pt", ".bin", ".ckpt"):
        state = _read_pth(data, filename)
    else:
        raise CheckpointError(
            f"{filename}: expected a .safetensors file or a PyTorch state dict (.pth/.pt)."
        )
    state = _unwrap(state, filename)
    model, arch, classes = _fit(state, filename, arch, num_classes)
    if classes == 1000 and arch in TORCHVISION_ARCHS:
        return _imagenet(
            model,
            arch,
            f"{filename} ({arch}, 1000 classes)",
            "Assumed ImageNet classes and "
            "preprocessing: the file does not say what it was trained on.",
        )
    size = 224 if arch in TORCHVISION_ARCHS else 32
    return LoadedModel(
        model=model.eval(),
        name=f"{filename} ({arch}, {classes} classes)",
        arch=arch,
        classes=tuple(f"class {i}" for i in range(classes)),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        image_size=size,
        resize_size=256 if size == 224 else size,
        note=f"The file does not name its classes or preprocessing: assumed ImageNet "
        f"normalisation and {size}×{size} inputs.",
    )


def _safetensors_header(data: bytes, filename: str) -> dict[str, Any]:
    # The safetensors format: an 8-byte little-endian header length, then a JSON header.
    try:
        (n,) = struct.unpack("<Q", data[:8])
        if n > len(data) - 8:
            raise ValueError("header longer than the file")
        header = json.loads(data[8 : 8 + n])
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        return header
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{filename} is not a valid safetensors file ({err}).") from None


def _our_checkpoint(data: bytes, filename: str) -> LoadedModel:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(filename).name
        path.write_bytes(data)
        model, meta = load_checkpoint(path)
    return _from_checkpoint(model, meta, f"{filename} ({meta['model']['arch']})")


def _read_safetensors(data: bytes, filename: str) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{filename} is not a valid safetensors file ({err}).") from None


def _read_pth(data: bytes, filename: str) -> Any:
    try:
        # weights_only=True: the unpickler accepts tensors and plain containers only, so a
        # file cannot run code when it is opened.
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad files
        if "global" in str(err).lower():  # torch names the class it refused to build
            raise CheckpointError(
                f"{filename} holds Python objects, not only tensors. It was refused because "
                "opening it could run arbitrary code. Save the weights with "
                "`torch.save(model.state_dict(), path)` or as .safetensors."
            ) from None
        raise CheckpointError(
            f"{filename} is not a PyTorch weights file that can be read safely "
            f"({type(err).__name__}). Expected `torch.save(model.state_dict(), path)` output."
        ) from None


def _unwrap(obj: Any, filename: str) -> dict[str, torch.Tensor]:
    """Find the state dict in common training-script layouts and strip DataParallel prefixes."""
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{filename} does not contain a state dict (name → tensor).")
    state = {str(k).removeprefix("module."): v for k, v in obj.items()}
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{filename}: some entries are not tensors; not a state dict.")
    return state


def _num_classes(state: Mapping[str, torch.Tensor]) -> int | None:
    w = state.get("fc.weight")
    return int(w.shape[0]) if w is not None and w.ndim == 2 else None


def _mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[int, str]:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    parts = [
        f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})" if missing else "",
        f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})"
        if unexpected
        else "",
        f"shape mismatches: {'; '.join(wrong[:3])}" if wrong else "",
    ]
    return len(missing) + len(unexpected) + len(wrong), "; ".join(p for p in parts if p)


def _fit(
    state: dict[str, torch.Tensor], filename: str, arch: str | None, num_classes: int | None
) -> tuple[nn.Module, str, int]:
    classes = num_classes or _num_classes(state)
    if classes is None:
        raise CheckpointError(f"{filename} has no fc.weight: not a ResNet classifier state dict.")
    has_bn = any(k.endswith("running_mean") for k in state)
    candidates = (
        [arch] if arch else [a for a in ARCHS if a in CIFAR_ARCHS or a in TORCHVISION_ARCHS]
    )
    best: tuple[int, str, str] | None = None
    for a in candidates:
        model = build_model(a, classes, batchnorm=has_bn)
        bad, why = _mismatch(model, state)
        if bad == 0:
            model.load_state_dict(state)
            return model, a, classes
        if best is None or bad < best[0]:
            best = (bad, a, why)
    assert best is not None
    raise CheckpointError(
        f"{filename} does not fit "
        + (f"{arch}" if arch else f"any supported architecture (closest: {best[1]})")
        + f": {best[2]}."
    )


# ---- pictures --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Sample:
    name: str
    image: Image.Image  # RGB, original size
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
