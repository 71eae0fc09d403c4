"""Datasets as in-memory uint8 tensors: built-in Shapes, CIFAR-10, or an ImageFolder.

Every source ends as the same :class:`Dataset` (train/val splits of ``uint8 (N, 3, H, W)``
images), so the trainer has one input path and small sets can sit on the GPU whole.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torchvision import datasets as tv_datasets
from torchvision.transforms import v2

from ..config import DataConfig
from ..errors import DataError, InputError
from ..images import load_image
from ..paths import data_root, resolve_under
from .shapes import SHAPE_CLASSES, make_shapes

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_FOLDER_IMAGES = 50_000
# Shapes are drawn from fixed streams, independent of the training seed, so runs that differ
# only in seed (or in skips) see the same images.
SHAPES_TRAIN_SEED, SHAPES_VAL_SEED = 0, 1
SHAPES_VERSION = 1  # bump when the generator's pictures change, to invalidate caches


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    labels: torch.Tensor  # int64 (N,)
    masks: torch.Tensor | None = None  # bool (N, H, W): Shapes' ground truth

    def __len__(self) -> int:
        return int(self.labels.numel())


@dataclass(frozen=True)
class Dataset:
    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])


def load_dataset(
    cfg: DataConfig, *, seed: int = 0, root: Path | None = None, cache_dir: Path | None = None
) -> Dataset:
    """Load (or draw) the dataset ``cfg`` names. Raises DataError/InputError with a remedy."""
    root = root if root is not None else data_root()
    if cfg.dataset == "shapes":
        train = _shapes(cfg.train_size, SHAPES_TRAIN_SEED, cfg.image_size, cache_dir)
        val = _shapes(cfg.val_size, SHAPES_VAL_SEED, cfg.image_size, cache_dir)
        return _finish("shapes", SHAPE_CLASSES, train, val)
    if cfg.dataset == "cifar10":
        return _cifar10(cfg, seed, root)
    if cfg.dataset == "folder":
        return _image_folder(cfg, seed, root)
    raise DataError(f"Unknown dataset {cfg.dataset!r}.")


def _finish(name: str, classes: Sequence[str], train: Split, val: Split) -> Dataset:
    if len(train) == 0:
        raise DataError(f"The {name} training split is empty.")
    x = train.images.float().div_(255)
    mean = tuple(x.mean(dim=(0, 2, 3)).tolist())
    std = tuple(x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
    return Dataset(name, tuple(classes), train, val, mean, std)  # type: ignore[arg-type]


def _shapes(n: int, seed: int, size: int, cache_dir: Path | None) -> Split:
    name = f"shapes-v{SHAPES_VERSION}-{size}px-{n}-seed{seed}.safetensors"
    path = cache_dir / name if cache_dir else None
    if path is not None and path.exists():
        try:
            t = load_file(path)
            return Split(t["images"], t["labels"], t["masks"].bool())
        except Exception:  # a half-written or stale cache is regenerated, never trusted
            path.unlink(missing_ok=True)
    data = make_shapes(n, seed=seed, size=size)
    if path is not None:
        _write_cache(path, data)
    return Split(data.images, data.labels, data.masks)


def _write_cache(path: Path, data: Split) -> None:
    """Keep a drawn set for the next run. Only a speed-up: a cache that cannot be written (a
    read-only or full disk) costs the next run a few seconds of drawing, never this run, and
    leaves no temporary file behind."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name: a spare worker and a run may draw the same set at once.
        fd, name = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        masks = data.masks.to(torch.uint8)  # safetensors has no bool on every backend
        save_file({"images": data.images, "labels": data.labels, "masks": masks}, tmp)
        tmp.replace(path)
    except Exception as err:  # OSError, or safetensors' own error for a failed write
        print(
            f"Dataset cache not written ({err}); the next run draws the set again.", file=sys.stderr
        )
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _cap(split: Split, n: int, seed: int) -> Split:
    if n <= 0 or n >= len(split):
        return split
    keep = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    return Split(split.images[keep], split.labels[keep])


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return v2.functional.resize(images, [size, size], antialias=True)


def _cifar10(cfg: DataConfig, seed: int, root: Path) -> Dataset:
    folder = resolve_under(root, cfg.folder or "cifar10")
    batches = folder / "cifar-10-batches-py"  # torchvision's layout
    if batches.is_dir():
        for path in [batches, *batches.iterdir()]:
            _confine(path, root)
    splits = []
    for train in (True, False):
        try:
            ds = tv_datasets.CIFAR10(str(folder), train=train, download=False)
        except RuntimeError:
            try:  # not there yet: try the real download (works when online)
                ds = tv_datasets.CIFAR10(str(folder), train=train, download=True)
            except Exception as err:
                raise DataError(
                    f"CIFAR-10 is not in {folder} and could not be downloaded ({err}). Offline, "
                    "download cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) "
                    f"on another machine and extract it so that {folder / 'cifar-10-batches-py'} "
                    "exists, or pick the built-in Shapes dataset."
                ) from err
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        split = Split(_resize(images, cfg.image_size), torch.tensor(ds.targets, dtype=torch.int64))
        splits.append(_cap(split, cfg.train_size if train else cfg.val_size, seed))
    return _finish("cifar10", CIFAR10_CLASSES, *splits)


def _image_folder(cfg: DataConfig, seed: int, root: Path) -> Dataset:
    folder = resolve_under(root, cfg.folder)
    if not folder.is_dir():
        raise DataError(
            f"{folder} is not a folder. Put your images in {root}/<name>/<class>/*.jpg and enter "
            "<name>."
        )
    # train/ and val/ subfolders when present, else one folder split 80/20 by seed.
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        train_ds, val_ds = (_folder_dataset(folder / s, root) for s in ("train", "val"))
        if train_ds.classes != val_ds.classes:
            raise DataError(f"{folder}/train and {folder}/val have different class folders.")
        classes = train_ds.classes
        train, val = _read_folder(train_ds, cfg.image_size), _read_folder(val_ds, cfg.image_size)
    else:
        ds = _folder_dataset(folder, root)
        classes = ds.classes
        everything = _read_folder(ds, cfg.image_size)
        order = torch.randperm(len(everything), generator=torch.Generator().manual_seed(seed))
        n_val = max(1, len(order) // 5)
        train = Split(everything.images[order[n_val:]], everything.labels[order[n_val:]])
        val = Split(everything.images[order[:n_val]], everything.labels[order[:n_val]])
    train, val = _cap(train, cfg.train_size, seed), _cap(val, cfg.val_size, seed)
    return _finish(f"folder:{cfg.folder}", classes, train, val)


def _confine(path: str | Path, root: Path) -> None:
    """Refuse a file that, after resolving links, lies outside the data root: a linked folder
    or file inside the root must not lead out of it."""
    root = root.resolve()
    real = Path(path).resolve()
    if real != root and root not in real.parents:
        raise DataError(
            f"{path} leads outside the data root {root} (a symbolic link to {real}). Copy "
            "the files under the data root instead of linking to them."
        )


def _folder_dataset(folder: Path, root: Path) -> tv_datasets.ImageFolder:
    def confined_image(path: str) -> bool:
        if not _is_image(path):
            return False
        _confine(path, root)
        return True

    try:
        ds = tv_datasets.ImageFolder(str(folder), loader=lambda p: p, is_valid_file=confined_image)
    except FileNotFoundError as err:
        raise DataError(
            f"No images found under {folder}. Expected one subfolder per class, each holding "
            f"images ({', '.join(IMAGE_EXTENSIONS)})."
        ) from err
    if len(ds) > MAX_FOLDER_IMAGES:
        raise DataError(
            f"{folder} holds {len(ds):,} images; this app keeps datasets in memory and takes at "
            f"most {MAX_FOLDER_IMAGES:,}. Use a subset."
        )
    return ds


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def _read_folder(ds: tv_datasets.ImageFolder, size: int) -> Split:
    # Resize the short side, then centre-crop: keeps aspect ratio, as torchvision's presets do.
    to_tensor = v2.Compose([v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    images, labels = [], []
    for path, label in ds.samples:
        try:
            img = load_image(path)
        except InputError as err:
            raise DataError(f"{path}: {err}") from err
        images.append(to_tensor(img))
        labels.append(label)
    return Split(torch.stack(images), torch.tensor(labels, dtype=torch.int64))
