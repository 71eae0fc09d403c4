"""Checkpoints: safetensors weights with the run's configuration as JSON in the file header.

One self-describing file, written atomically; loading (from a path or from the bytes of an
upload) never unpickles anything.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_bytes
from safetensors.torch import save_file
from torch import nn

from .config import ModelConfig
from .errors import CheckpointError, DataError
from .models import ARCHS, CIFAR_ARCHS, TORCHVISION_ARCHS, build_model, set_skip, set_stage_skip

FORMAT = "resnet-viz-checkpoint/1"
META_KEY = "resnet_viz"


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``model``'s state dict and ``meta`` (must hold ``model``: a ModelConfig dict and
    ``num_classes``) to ``path`` atomically: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {META_KEY: json.dumps({"format": FORMAT, **meta})}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=header)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def safetensors_header(data: bytes, name: str) -> dict[str, Any]:
    """The JSON header of a safetensors file's bytes (an 8-byte little-endian length, then the
    JSON), without reading its tensors."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        if n > len(data) - 8:
            raise ValueError("header longer than the file")
        header = json.loads(data[8 : 8 + n])
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        return header
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{name} is not a valid safetensors file ({err}).") from None


def read_safetensors(data: bytes, name: str) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file's bytes (never unpickled: the format has no code)."""
    try:
        return load_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{name} is not a valid safetensors file ({err}).") from None


def is_checkpoint(data: bytes, name: str = "the file") -> bool:
    """Whether safetensors bytes were saved by this app (they carry its configuration)."""
    return META_KEY in safetensors_header(data, name).get("__metadata__", {})


def _meta(header: Mapping[str, str], name: str) -> dict[str, Any]:
    if META_KEY not in header:
        raise CheckpointError(
            f"{name} has no ResNet Viz configuration in its header; it was not saved by this app."
        )
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{name}: damaged configuration header ({err}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{name}: unknown checkpoint format {found!r}.")
    return meta


def read_meta(path: str | Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{Path(path).name} is not a readable safetensors file ({err})."
        ) from None
    return _meta(header, Path(path).name)


def state_dict_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[int, str]:
    """How far ``state`` is from fitting ``model``: the number of missing, unexpected and
    wrongly shaped keys, and a sentence naming a few of each (empty when it fits)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    )
    parts = [
        f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})" if missing else "",
        f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})"
        if unexpected
        else "",
        f"shape mismatches: {'; '.join(wrong[:3])}" if wrong else "",
    ]
    return len(missing) + len(unexpected) + len(wrong), "; ".join(p for p in parts if p)


def load_checkpoint(
    source: str | Path | bytes, *, name: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights (CPU, eval mode).

    ``source`` is a path or the file's bytes (an upload; ``name`` then names it in messages).
    ``meta`` holds at least ``model`` (a ModelConfig dict), ``num_classes``, ``classes``,
    ``mean``, ``std``; the trainer adds ``block_skip`` (the shortcut scale of each residual
    block when saved), ``member`` and ``member_index`` (its place in a cohort) and more."""
    if isinstance(source, bytes):
        name = name or "the uploaded file"
        header = safetensors_header(source, name)
        meta = _meta(header.get("__metadata__") or {}, name)
        state = read_safetensors(source, name)
    else:
        name = name or Path(source).name
        meta = read_meta(source)
        with safe_open(str(source), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (no __iter__)
    try:
        model_cfg = ModelConfig(**{**meta["model"], "skip": tuple(meta["model"]["skip"])})
        model = build_model(model_cfg.arch, int(meta["num_classes"]), batchnorm=model_cfg.batchnorm)
        set_stage_skip(model, model_cfg.skip)
        # Per-block shortcut scales as they were when the checkpoint was written (the Skip Lab
        # changes single blocks during training); older checkpoints have only per-stage ones.
        if meta.get("block_skip") is not None:
            set_skip(model, [float(v) for v in meta["block_skip"]])
    except (KeyError, TypeError, ValueError, DataError) as err:  # ConfigError is a ValueError
        raise CheckpointError(f"{name}: bad model description ({err}).") from None
    bad, why = state_dict_mismatch(model, state)
    if bad:
        raise CheckpointError(f"{name} does not fit {model_cfg.arch}: {why}")
    model.load_state_dict(state)
    model.eval()
    return model, meta


def _num_classes(state: Mapping[str, torch.Tensor]) -> int | None:
    w = state.get("fc.weight")
    return int(w.shape[0]) if w is not None and w.ndim == 2 else None


def fit_architecture(
    state: Mapping[str, torch.Tensor],
    name: str,
    *,
    arch: str | None = None,
    num_classes: int | None = None,
) -> tuple[nn.Module, str, int]:
    """The app's architecture a bare state dict fits, rebuilt with those weights loaded:
    ``(model, arch, num_classes)``. ``arch``/``num_classes`` are inferred from the keys and
    shapes when not given (a stock torchvision ResNet fits, its keys being this app's); a
    state dict that fits none gets a CheckpointError naming the closest and what differs."""
    classes = num_classes or _num_classes(state)
    if classes is None:
        raise CheckpointError(f"{name} has no fc.weight: not a ResNet classifier state dict.")
    has_bn = any(k.endswith("running_mean") for k in state)
    candidates = (
        [arch] if arch else [a for a in ARCHS if a in CIFAR_ARCHS or a in TORCHVISION_ARCHS]
    )
    best: tuple[int, str, str] | None = None
    for a in candidates:
        model = build_model(a, classes, batchnorm=has_bn)
        bad, why = state_dict_mismatch(model, state)
        if bad == 0:
            model.load_state_dict(state)
            return model, a, classes
        if best is None or bad < best[0]:
            best = (bad, a, why)
    assert best is not None
    raise CheckpointError(
        f"{name} does not fit "
        + (f"{arch}" if arch else f"any supported architecture (closest: {best[1]})")
        + f": {best[2]}."
    )
