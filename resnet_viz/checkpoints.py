"""Checkpoints: safetensors weights with the run's configuration as JSON in the file header.

One self-describing file, written atomically; loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .config import ModelConfig
from .errors import CheckpointError, DataError
from .models import build_model, set_skip, set_stage_skip

FORMAT = "resnet-viz-checkpoint/1"
_META_KEY = "resnet_viz"


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``model``'s state dict and ``meta`` (must hold ``model``: a ModelConfig dict and
    ``num_classes``) to ``path`` atomically: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {_META_KEY: json.dumps({"format": FORMAT, **meta})}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=header)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{Path(path).name} is not a readable safetensors file ({err})."
        ) from None
    if _META_KEY not in header:
        raise CheckpointError(
            f"{Path(path).name} has no ResNet Viz configuration in its header; it was not saved "
            "by this app."
        )
    try:
        meta = json.loads(header[_META_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{Path(path).name}: damaged configuration header ({err}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{Path(path).name}: unknown checkpoint format {found!r}.")
    return meta


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights (CPU, eval mode).

    ``meta`` holds at least ``model`` (a ModelConfig dict), ``num_classes``, ``classes``,
    ``mean``, ``std``; the trainer adds ``block_skip`` (the shortcut scale of each residual
    block when saved), ``member`` and ``member_index`` (its place in a cohort) and more."""
    meta = read_meta(path)
    try:
        model_cfg = ModelConfig(**{**meta["model"], "skip": tuple(meta["model"]["skip"])})
        model = build_model(model_cfg.arch, int(meta["num_classes"]), batchnorm=model_cfg.batchnorm)
        set_stage_skip(model, model_cfg.skip)
        # Per-block shortcut scales as they were when the checkpoint was written (the Skip Lab
        # changes single blocks during training); older checkpoints have only per-stage ones.
        if meta.get("block_skip") is not None:
            set_skip(model, [float(v) for v in meta["block_skip"]])
    except (KeyError, TypeError, ValueError, DataError) as err:  # ConfigError is a ValueError
        raise CheckpointError(f"{Path(path).name}: bad model description ({err}).") from None
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    )
    if missing or unexpected or wrong:
        parts = [
            f"missing {len(missing)} (e.g. {', '.join(missing[:3])})" if missing else "",
            f"unexpected {len(unexpected)} (e.g. {', '.join(unexpected[:3])})"
            if unexpected
            else "",
            f"shape mismatches: {'; '.join(wrong[:3])}" if wrong else "",
        ]
        raise CheckpointError(
            f"{Path(path).name} does not fit {model_cfg.arch}: " + "; ".join(p for p in parts if p)
        )
    model.load_state_dict(state)
    model.eval()
    return model, meta
