"""After training: the analyses a run asks for (``TrainConfig.analyses``), computed by the worker
on its trained members and stored per member in the run store (``RunStore.put_analysis``).

- ``lesion``: :func:`.lesion.lesion_study` on validation images, for every member.
- ``shattering``: the gradient correlation curve of every trained member, and (as member -1)
  the neighbour correlation at initialisation of plain and residual nets over depths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..data import Batches, Dataset
from ..models import CIFAR_ARCHS
from .lesion import lesion_study
from .shattering import gradient_correlation, shattering_by_depth

if TYPE_CHECKING:
    from ..train.trainer import Trainer

RUN_LEVEL = -1  # the member index of analyses that belong to the run, not to one member
# Validation images for the lesion study: each deletion is one pass over them. Enough on a CPU
# to tell 10-point effects apart (a standard error of about 2 points at 500 images); all of
# them on a GPU. Measured on a busy 2-core CPU: 1,000 images took 25 s for plain20's 9 blocks.
CPU_LESION_IMAGES = 500
CPU_DRAWS, GPU_DRAWS = 3, 5  # random sets per k in the "delete k blocks" curve
CPU_DEPTHS = (8, 14, 20, 32)
GPU_DEPTHS = (8, 14, 20, 32, 56, 110)


def _images(val: Batches, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys, n = [], [], 0
    for x, y in val.epoch():
        xs.append(x)
        ys.append(y)
        n += len(y)
        if limit and n >= limit:
            break
    x, y = torch.cat(xs), torch.cat(ys)
    return (x[:limit], y[:limit]) if limit else (x, y)


def analyse(trainer: Trainer, data: Dataset, val: Batches) -> None:
    cfg, store, run_id = trainer.cfg, trainer.store, trainer.run_id
    if len(data.val) == 0:
        store.add_event(run_id, "info", "No validation images: analyses skipped.")
        return
    on_cpu = trainer.device.type == "cpu"
    x, y = _images(val, CPU_LESION_IMAGES if on_cpu else None)
    step = trainer.step
    for m in trainer.members:
        if m.diverged_at is not None or trainer.stop_requested:
            continue
        if "lesion" in cfg.analyses:
            store.add_event(run_id, "info", f"Lesion study of {m.name}…", step=step)
            draws = CPU_DRAWS if on_cpu else GPU_DRAWS
            result = lesion_study(
                m.model, x, y, num_classes=data.num_classes, draws=draws, seed=cfg.seed
            )
            store.put_analysis(run_id, m.index, "lesion", result.to_dict())
            trainer.beat()
        if "shattering" in cfg.analyses:
            curve = gradient_correlation(m.model, x[:8], seed=cfg.seed)
            store.put_analysis(run_id, m.index, "shattering", curve.to_dict())
            trainer.beat()
        m.train_mode()
    if "shattering" in cfg.analyses and not trainer.stop_requested:
        store.add_event(run_id, "info", "Shattering at initialisation, by depth…", step=step)
        cifar = [int(m.arch[6:]) for m in cfg.members if m.arch in CIFAR_ARCHS]
        base = CPU_DEPTHS if on_cpu else GPU_DEPTHS
        depths = tuple(sorted({*base, *cifar}))
        batchnorm = cfg.model.batchnorm
        sweep = shattering_by_depth(
            depths, data.num_classes, x[:256], x[:4], batchnorm=batchnorm, seed=cfg.seed
        )
        store.put_analysis(run_id, RUN_LEVEL, "shattering_depth", sweep)
