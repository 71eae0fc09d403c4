"""A model from a weights file a user uploads: ``.safetensors`` (read without pickle) or a
torchvision-style ``.pth`` state dict read with ``torch.load(weights_only=True)``, which refuses
arbitrary objects. The architecture is inferred from the state dict's keys and shapes."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import fit_architecture, is_checkpoint, load_checkpoint, read_safetensors
from ..errors import CheckpointError
from ..models import TORCHVISION_ARCHS
from .loaded import IMAGENET_MEAN, IMAGENET_STD, LoadedModel, from_checkpoint, imagenet

MAX_WEIGHTS_BYTES = 400 * 2**20  # ResNet-50 is ~100 MB; anything far bigger is not a ResNet here


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
        if is_checkpoint(data, filename):  # saved by this app: it says what it is
            model, meta = load_checkpoint(data, name=filename)
            return from_checkpoint(model, meta, f"{filename} ({meta['model']['arch']})")
        state = read_safetensors(data, filename)
    elif suffix in (".pth", ".pt", ".bin", ".ckpt"):
        state = _read_pth(data, filename)
    else:
        raise CheckpointError(
            f"{filename}: expected a .safetensors file or a PyTorch state dict (.pth/.pt)."
        )
    state = _unwrap(state, filename)
    model, arch, classes = fit_architecture(state, filename, arch=arch, num_classes=num_classes)
    if classes == 1000 and arch in TORCHVISION_ARCHS:
        return imagenet(
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
