"""The training loop. It runs in a worker process, never in the Streamlit script thread, and
talks to the world only through the run store: metrics out, control rows (stop, …) in.

Main flow of :func:`train`::

    load data → build each cohort member → loop over epochs and batches:
        step every member on the same batch; record per-layer grad norms on the device
        every log interval: one host sync → write to the store, check divergence, poll controls
        at eval points: validation loss/accuracy and per-block probes
    → save checkpoints → final status and summary
"""

from __future__ import annotations

import math
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import save_checkpoint
from ..config import ModelConfig, TrainConfig
from ..data import Batches, Dataset, load_dataset
from ..devices import pick_device
from ..errors import ResNetVizError
from ..models import build_model, residual_blocks
from ..store import RunStore
from .probes import GradNormProbe, WeightProbe, block_probe

# A loss this many times the first one (or non-finite) counts as divergence. Cross-entropy grows
# only linearly in the logits, so 50× the ~ln(10) start means the weights are blowing up.
EXPLODE_FACTOR = 50.0
FLUSH_SECONDS = 0.5  # host sync at least this often, so charts move and Stop acts within 1 s

ProgressFn = Callable[[int, int, dict[str, float]], None]


def member_label(cfg: ModelConfig) -> str:
    """A short name for a model setup: ``resnet20``, ``plain20``, ``resnet20 skip 1,0,1 no-BN``."""
    if all(s == 0 for s in cfg.skip) and cfg.arch[6:].isdigit():
        label = f"plain{cfg.arch[6:]}"
    elif all(s == 1 for s in cfg.skip):
        label = cfg.arch
    else:
        label = f"{cfg.arch} skip {','.join(f'{s:g}' for s in cfg.skip)}"
    if not cfg.batchnorm:
        label += " no-BN"
    if cfg.pretrained:
        label += " pretrained"
    return label


@dataclass
class Member:
    """One model of a cohort, with its optimiser and its on-device statistics."""

    index: int
    name: str
    cfg: ModelConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    grads: GradNormProbe
    weights: WeightProbe
    losses: list[torch.Tensor] = field(default_factory=list)
    correct: list[torch.Tensor] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    first_loss: float | None = None
    last_loss: float = math.nan
    best_val_acc: float = math.nan
    diverged_at: int | None = None
    diverged_reason: str | None = None


def make_optimizer(cfg: TrainConfig, model: nn.Module, total_steps: int):
    o = cfg.optim
    # No weight decay on BN parameters and biases: the usual practice, and it keeps no-BN and
    # BN variants comparable.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": o.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if o.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.momentum > 0)
    else:
        opt = torch.optim.AdamW(groups, lr=o.lr)
    sched: torch.optim.lr_scheduler.LRScheduler
    if o.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    elif o.schedule == "step":  # ÷10 at 50% and 75%, as He et al. (2015) §4.2
        milestones = [int(total_steps * 0.5), int(total_steps * 0.75)]
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
    elif o.schedule == "onecycle" and total_steps >= 4:
        # At least two warm-up steps: OneCycleLR divides by zero when a phase is one step long.
        pct_start = max(0.25, 2.0 / total_steps)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=o.lr, total_steps=total_steps, pct_start=pct_start
        )
    else:  # constant (also one-cycle runs too short to have a cycle)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        store: RunStore,
        run_id: str,
        *,
        data_root: Path | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        self.cfg, self.store, self.run_id = cfg.validate(), store, run_id
        self.data_root, self.progress = data_root, progress
        self.step = self.total = 0
        self.stop_requested: str | None = None
        self._control_cursor = 0

    # ---- public -----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train to the end (or stop/divergence/failure); always leaves a final status."""
        previous = signal.getsignal(signal.SIGTERM) if _main_thread() else None
        if _main_thread():
            signal.signal(signal.SIGTERM, self._on_sigterm)
        self.t0 = time.time()
        self.members: list[Member] = []
        try:
            status, reason = self._train()
        except torch.OutOfMemoryError:
            status, reason = (
                "failed",
                (
                    f"Out of memory on {getattr(self, 'device', 'the device')} at step "
                    f"{self.step}. "
                    "Lower the batch size or the image size, or pick a smaller model."
                ),
            )
        except ResNetVizError as err:
            status, reason = "failed", str(err)
        except Exception as err:  # anything else: keep the record readable, say what broke
            traceback.print_exc()
            status, reason = "failed", f"{type(err).__name__}: {err} (at step {self.step})."
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        summary = self.summary(status)
        if reason and status != "diverged":  # _flush already logged the divergence event
            self.store.add_event(self.run_id, status, reason, step=self.step)
        self.store.finish(self.run_id, status, reason=reason, summary=summary)
        return summary

    def summary(self, status: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": status,
            "steps": self.step,
            "seconds": round(time.time() - self.t0, 2),
            "models": [
                {
                    "name": m.name,
                    "final_train_loss": _num(m.last_loss),
                    "best_val_acc": _num(m.best_val_acc),
                    "diverged_at": m.diverged_at,
                }
                for m in self.members
            ],
        }

    # ---- the loop ---------------------------------------------------------------------------
    def _train(self) -> tuple[str, str | None]:
        cfg = self.cfg
        self.device, device_reason = pick_device(cfg.device)
        self.store.add_event(self.run_id, "info", f"Device: {device_reason}")
        torch.manual_seed(cfg.seed)
        cache = self.store.root / ".cache"
        data = load_dataset(cfg.data, seed=cfg.seed, root=self.data_root, cache_dir=cache)
        batches = Batches(
            data.train,
            cfg.batch_size,
            mean=data.mean,
            std=data.std,
            device=self.device,
            augment=cfg.data.augment,
            seed=cfg.seed,
        )
        val = Batches(
            data.val, 512, mean=data.mean, std=data.std, device=self.device, shuffle=False
        )
        steps_per_epoch = len(batches)
        total = self.total = steps_per_epoch * cfg.epochs
        if total == 0:
            raise ResNetVizError("The training set is smaller than one batch; lower batch size.")
        self.members = [self._member(0, cfg.model, data, total)]
        for m in self.members:
            blocks = [n for n, _ in residual_blocks(m.model)]
            self.store.set_layers(
                self.run_id, m.index, {"conv": list(m.grads.names), "block": blocks}
            )
        probe_x = next(val.epoch())[0][:64] if len(data.val) else None
        self.store.mark_started(self.run_id, device=str(self.device), total_steps=total)
        self.store.add_event(
            self.run_id,
            "info",
            f"{data.name}: {len(data.train):,} training and {len(data.val):,} validation images; "
            f"{total:,} steps of {cfg.batch_size}.",
        )

        eval_at = _eval_points(steps_per_epoch, cfg.epochs, cfg.evals_per_epoch)
        last_flush, flushed_step, t_flush = time.monotonic(), 0, time.time()
        for epoch in range(cfg.epochs):
            for x, y in batches.epoch(epoch):
                for m in self.members:
                    if m.diverged_at is None:
                        self._step(m, x, y)
                self.step += 1
                now = time.monotonic()
                if (
                    self.step - flushed_step >= cfg.log_every
                    or now - last_flush >= FLUSH_SECONDS
                    or self.step in eval_at
                    or self.step == total
                ):
                    images = (self.step - flushed_step) * cfg.batch_size
                    throughput = images / max(time.time() - t_flush, 1e-9)
                    self._flush(flushed_step, throughput)
                    last_flush, flushed_step, t_flush = now, self.step, time.time()
                    if self.step in eval_at:
                        self._evaluate(val, probe_x, epoch)
                        t_flush = time.time()  # throughput counts training, not evaluation
                    if self.progress:
                        m = self.members[0]
                        info = {"loss": m.last_loss, "val_acc": m.best_val_acc}
                        self.progress(self.step, total, info)
                    if all(m.diverged_at is not None for m in self.members):
                        m = self.members[0]
                        return "diverged", m.diverged_reason
                    if self.stop_requested:
                        self._save_checkpoints(data)
                        return "stopped", self.stop_requested
        self._save_checkpoints(data)
        return "finished", None

    def _member(self, index: int, mcfg: ModelConfig, data: Dataset, total: int) -> Member:
        # Re-seed per member so members with the same architecture start from the same weights.
        torch.manual_seed(self.cfg.seed)
        model = build_model(
            mcfg.arch,
            data.num_classes,
            skip=mcfg.skip,
            batchnorm=mcfg.batchnorm,
            pretrained=mcfg.pretrained,
        ).to(self.device)
        model.train()
        opt, sched = make_optimizer(self.cfg, model, total)
        return Member(
            index,
            member_label(mcfg),
            mcfg,
            model,
            opt,
            sched,
            GradNormProbe(model),
            WeightProbe(model),
        )

    def _step(self, m: Member, x: torch.Tensor, y: torch.Tensor) -> None:
        logits = m.model(x)
        loss = F.cross_entropy(logits, y)
        m.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        m.grads.record()
        m.optimizer.step()
        m.lrs.append(m.scheduler.get_last_lr()[0])
        m.scheduler.step()
        m.losses.append(loss.detach())
        m.correct.append((logits.argmax(1) == y).float().mean())

    def _flush(self, first_step: int, throughput: float) -> None:
        """One host sync for the interval ``(first_step, self.step]``; write it; poll controls."""
        scalars, layer_stats, events = [], [], []
        for m in self.members:
            if not m.losses:
                continue
            both = (
                torch.stack([torch.stack(m.losses), torch.stack(m.correct)]).float().cpu().numpy()
            )
            grad_rows = m.grads.drain()
            steps = range(self.step - len(m.losses) + 1, self.step + 1)
            for i, s in enumerate(steps):
                loss = float(both[0, i])
                scalars += [
                    (m.index, "train/loss", s, loss),
                    (m.index, "train/acc", s, float(both[1, i])),
                ]
                scalars.append((m.index, "lr", s, m.lrs[i]))
                layer_stats.append((m.index, "grad_norm", s, grad_rows[i]))
                if m.first_loss is None and math.isfinite(loss):
                    m.first_loss = loss
                limit = EXPLODE_FACTOR * max(m.first_loss or 1.0, 1.0)
                if m.diverged_at is None and (not math.isfinite(loss) or loss > limit):
                    m.diverged_at = s
                    m.diverged_reason = self._diverged_reason(m, loss)
                    events.append(
                        (
                            m.index,
                            s,
                            "diverged",
                            m.diverged_reason,
                            {"loss": _num(loss)},
                        )
                    )
            m.last_loss = float(both[0, -1])
            m.losses.clear(), m.correct.clear(), m.lrs.clear()
            norms, ratios = m.weights.measure()
            layer_stats += [
                (m.index, "weight_norm", self.step, norms),
                (m.index, "update_ratio", self.step, ratios),
            ]
            scalars.append((m.index, "throughput", self.step, throughput))
        self.store.write_batch(
            self.run_id, step=self.step, scalars=scalars, layer_stats=layer_stats, events=events
        )
        self._poll_controls()

    @torch.no_grad()
    def _evaluate(self, val: Batches, probe_x: torch.Tensor | None, epoch: int) -> None:
        scalars, layer_stats = [], []
        for m in self.members:
            if m.diverged_at is not None or len(val.labels) == 0:
                continue
            m.model.eval()
            loss_sum = torch.zeros((), device=self.device)
            correct = torch.zeros((), device=self.device)
            for x, y in val.epoch():
                logits = m.model(x)
                loss_sum += F.cross_entropy(logits, y, reduction="sum")
                correct += (logits.argmax(1) == y).sum()
            m.model.train()
            n = len(val.labels)
            loss, acc = (torch.stack([loss_sum, correct]) / n).cpu().tolist()
            m.best_val_acc = acc if math.isnan(m.best_val_acc) else max(m.best_val_acc, acc)
            scalars += [
                (m.index, "val/loss", self.step, loss),
                (m.index, "val/acc", self.step, acc),
            ]
            scalars.append((m.index, "epoch", self.step, epoch + 1))
            # Seconds since the run started: lets benchmarks read time-to-accuracy off the store.
            scalars.append((m.index, "elapsed", self.step, time.time() - self.t0))
            if probe_x is not None:
                _, ratios, stds = block_probe(m.model, probe_x)
                layer_stats += [
                    (m.index, "residual_ratio", self.step, ratios),
                    (m.index, "response_std", self.step, stds),
                ]
        self.store.write_batch(
            self.run_id, step=self.step, scalars=scalars, layer_stats=layer_stats
        )

    def _save_checkpoints(self, data: Dataset) -> None:
        for m in self.members:
            if m.diverged_at is not None:
                continue  # NaN weights help nobody; the event says why there is no checkpoint
            meta = {
                "model": {
                    "arch": m.cfg.arch,
                    "skip": list(m.cfg.skip),
                    "batchnorm": m.cfg.batchnorm,
                    "pretrained": m.cfg.pretrained,
                },
                "num_classes": data.num_classes,
                "classes": list(data.classes),
                "mean": list(data.mean),
                "std": list(data.std),
                "image_size": data.image_size,
                "dataset": data.name,
                "run_id": self.run_id,
                "member": m.name,
                "step": self.step,
                "best_val_acc": _num(m.best_val_acc),
                "train_config": self.cfg.to_dict(),
            }
            path = self.store.run_dir(self.run_id) / f"model-{m.index}.safetensors"
            save_checkpoint(path, m.model, meta)
            self.store.add_event(
                self.run_id,
                "checkpoint",
                f"Saved {m.name} to {path.name}.",
                step=self.step,
                member=m.index,
            )

    # ---- controls -----------------------------------------------------------------------------
    def _poll_controls(self) -> None:
        for control in self.store.pending_controls(self.run_id, self._control_cursor):
            self._control_cursor = control.id
            if control.kind == "stop":
                self.stop_requested = f"Stopped from the app at step {self.step}."
            self.store.mark_applied(control.id, self.step)

    def _on_sigterm(self, signum, frame) -> None:
        self.stop_requested = f"Stopped by a termination signal at step {self.step}."

    @staticmethod
    def _diverged_reason(m: Member, loss: float) -> str:
        what = "became NaN/inf" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
        return (
            f"{m.name} diverged at step {m.diverged_at}: the training loss {what}. The learning "
            "rate is probably too high for this model (common without BatchNorm or skip "
            "connections); lower it, or turn BatchNorm or the skips back on."
        )


def _eval_points(steps_per_epoch: int, epochs: int, per_epoch: int) -> set[int]:
    points = set()
    for e in range(epochs):
        for k in range(1, per_epoch + 1):
            points.add(e * steps_per_epoch + max(1, round(k * steps_per_epoch / per_epoch)))
    return points


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
