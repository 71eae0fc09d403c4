"""After training: the analyses a run asks for (``TrainConfig.analyses``), on its trained members.

- ``lesion``: :func:`.lesion.lesion_study` on validation images, for every member.
- ``shattering``: the gradient correlation curve of every trained member, and (run-level) the
  neighbour correlation at initialisation of plain and residual nets over depths.
- ``sharpness``: each member's Hessian spectrum ends and trace at its trained weights
  (:func:`resnet_viz.landscape.sharpness`) on training images, and its loss and accuracy on
  the whole training set in eval mode (``keys.TRAIN_FIT``): the two halves of the overfitting
  experiment's verdict.

:func:`analyse` is a generator: it yields a note before each long piece of work and a
:class:`Finding` after it, and knows nothing of where they go. The trainer stores them
(``RunStore.put_analysis``), beats its heartbeat between them and stops iterating when Stop
is pressed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import keys
from ..archs import CIFAR_ARCHS
from ..config import TrainConfig
from ..landscape import sharpness_record
from .lesion import lesion_study
from .shattering import gradient_correlation, shattering_by_depth

# Validation images for the lesion study: each deletion is one pass over them. Enough on a CPU
# to tell 10-point effects apart (a standard error of about 2 points at 500 images); all of
# them on a GPU. Measured on a busy 2-core CPU: 1,000 images took 25 s for plain20's 9 blocks.
CPU_LESION_IMAGES = 500
CPU_DRAWS, GPU_DRAWS = 3, 5  # random sets per k in the "delete k blocks" curve
# The Hessian on this many training images, by 20 Lanczos steps and 10 Hutchinson samples: 30
# Hessian-vector products, about 15 s for ResNet-20 at 16 px on a 2-core CPU.
SHARPNESS_IMAGES, SHARPNESS_STEPS, SHARPNESS_SAMPLES = 256, 20, 10
FIT_IMAGES = 10_000  # training images the train accuracy is measured on (all of a small set)
CPU_DEPTHS = (8, 14, 20, 32)
GPU_DEPTHS = (8, 14, 20, 32, 56, 110)


@dataclass(frozen=True)
class Trained:
    """A trained member to analyse: its index in the run, its name and its model."""

    index: int
    name: str
    model: nn.Module


@dataclass(frozen=True)
class Finding:
    """One analysis result: ``kind`` (a :mod:`resnet_viz.keys` name) of ``member``
    (``keys.RUN_LEVEL`` for the run as a whole), as JSON-ready ``payload``."""

    member: int
    kind: str
    payload: dict[str, Any]


def _images(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], limit: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys, n = [], [], 0
    for x, y in batches:
        xs.append(x)
        ys.append(y)
        n += len(y)
        if limit and n >= limit:
            break
    x, y = torch.cat(xs), torch.cat(ys)
    return (x[:limit], y[:limit]) if limit else (x, y)


@torch.no_grad()
def train_fit(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], limit: int = 0
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` in eval mode over ``batches`` (its mode restored),
    stopping after the batch that reaches ``limit`` images (0: all of them)."""
    was_training = model.training
    model.eval()
    loss, correct, n = 0.0, 0, 0
    try:
        for x, y in batches:
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
            if limit and n >= limit:
                break
    finally:
        model.train(was_training)
    return {"loss": loss / max(n, 1), "accuracy": correct / max(n, 1), "images": n}


def analyse(
    cfg: TrainConfig,
    members: Sequence[Trained],
    val: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int,
    on_cpu: bool,
    train: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]] | None = None,
) -> Iterator[str | Finding]:
    """The analyses ``cfg`` asks for on ``members``, over validation batches ``val`` (and, for
    sharpness, the training batches each call of ``train`` yields: unaugmented, fixed order)."""
    x, y = _images(val, CPU_LESION_IMAGES if on_cpu else None)
    for m in members:
        if keys.SHARPNESS in cfg.analyses and train is not None:
            yield f"Sharpness of {m.name}…"
            tx, ty = _images(train(), SHARPNESS_IMAGES)
            found = sharpness_record(
                m.model, tx, ty, steps=SHARPNESS_STEPS, samples=SHARPNESS_SAMPLES, seed=cfg.seed
            )
            yield Finding(m.index, keys.SHARPNESS, found)
            yield Finding(m.index, keys.TRAIN_FIT, train_fit(m.model, train(), FIT_IMAGES))
        if keys.LESION in cfg.analyses:
            yield f"Lesion study of {m.name}…"
            draws = CPU_DRAWS if on_cpu else GPU_DRAWS
            result = lesion_study(
                m.model, x, y, num_classes=num_classes, draws=draws, seed=cfg.seed
            )
            yield Finding(m.index, keys.LESION, result.to_dict())
        if keys.SHATTERING in cfg.analyses:
            curve = gradient_correlation(m.model, x[:8], seed=cfg.seed)
            yield Finding(m.index, keys.SHATTERING, curve.to_dict())
    if keys.SHATTERING in cfg.analyses:
        yield "Shattering at initialisation, by depth…"
        trained = [m.depth for m in cfg.members if m.arch in CIFAR_ARCHS]
        depths = tuple(sorted({*(CPU_DEPTHS if on_cpu else GPU_DEPTHS), *trained}))
        sweep = shattering_by_depth(
            depths, num_classes, x[:256], x[:4], batchnorm=cfg.model.batchnorm, seed=cfg.seed
        )
        yield Finding(keys.RUN_LEVEL, keys.SHATTERING_DEPTH, sweep)
