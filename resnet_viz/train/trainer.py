"""The training loop. It runs in a worker process, never in the Streamlit script thread, and
talks to the world only through the run store: metrics out, control rows (stop, skip, lr, BN
mode) in.

Main flow of :meth:`Trainer.run`::

    load data → build each cohort member (shared initial weights where they fit) → loop:
        step every member on the same batch; record per-layer grad norms on the device
        between steps: apply live and scheduled controls (each becomes an event)
        every log interval: one host sync → write to the store, check divergence
        at eval points: validation loss/accuracy and per-block probes
    → save one checkpoint per member → analyses (lesion, shattering) → status, summary, verdict
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import keys
from ..checkpoints import save_checkpoint
from ..config import TrainConfig
from ..controls import Change, parse_scheduled
from ..data import Batches, Dataset, load_dataset
from ..devices import pick_device
from ..errors import ConfigError, ResNetVizError, StoreError
from ..experiments.analyses import Finding, Trained, analyse
from ..experiments.shattering import gradient_correlation
from ..experiments.verdicts import verdict
from ..models import residual_blocks, stages
from ..store import Control, RunStore
from .cohort import Member, apply_change, build_members, make_optimizer
from .probes import block_probe

# A loss this many times the first one (or non-finite) counts as divergence. Cross-entropy grows
# only linearly in the logits, so 50× the ~ln(10) start means the weights are blowing up.
EXPLODE_FACTOR = 50.0
FLUSH_SECONDS = 0.5  # host sync at least this often, so charts move and Stop acts within 1 s
# Controls are polled between steps at least this often: a live skip switch acts at the next
# step (a small indexed SQLite read; negligible next to a training step).
CONTROL_SECONDS = 0.2

ProgressFn = Callable[[int, int, dict[str, float]], None]

__all__ = ["Member", "Trainer", "make_optimizer"]


# How long, and how often, a worker whose store stopped taking writes tries to record its end.
FINAL_WRITE_WAIT_S = 600.0
FINAL_WRITE_RETRY_S = 2.0


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
        # Who asked to stop ("from the app", "by a termination signal"); the reason names the
        # step the run really ended at, which the progress line and the marker show too.
        self.stop_requested: str | None = None
        self._control_cursor = 0
        self._last_poll = 0.0
        self._scheduled: dict[int, list[Change]] = {}
        self._queued: list[Change] = []  # recorded, applied at the next step boundary
        self._trained = False  # the last step is done: a change has no step left to act on
        self.members: list[Member] = []

    # ---- public -----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train to the end (or stop/divergence/failure); always leaves a final status."""
        previous = signal.getsignal(signal.SIGTERM) if _main_thread() else None
        if _main_thread():
            signal.signal(signal.SIGTERM, self._on_sigterm)
        self.t0 = time.time()
        self.members = []
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
        try:
            if reason and status != "diverged":  # _flush already logged the divergence event
                self.store.add_event(self.run_id, status, reason, step=self.step)
            if self.cfg.experiment and status in ("finished", "stopped", "diverged"):
                summary["verdict"] = self._verdict(summary)
            self.store.finish(self.run_id, status, reason=reason, summary=summary)
        except StoreError as err:  # the store broke (that may be why the run failed): say both
            print(f"Could not record the end of run {self.run_id}: {err}", file=sys.stderr)
            summary["status"], summary["reason"] = "failed", str(err)
            self._finish_when_writable(status, reason, summary)
        return summary

    def _finish_when_writable(self, status: str, reason: str | None, summary: dict) -> None:
        """The store could not take the run's end (a full disk, a read-only mount): keep the
        worker alive, so the run is not taken for a dead one, and record the real end once
        the store takes writes again (space freed, remounted), for up to FINAL_WRITE_WAIT_S."""
        deadline = time.monotonic() + FINAL_WRITE_WAIT_S
        while time.monotonic() < deadline and self.stop_requested is None:
            time.sleep(FINAL_WRITE_RETRY_S)
            try:
                self.store.finish(self.run_id, status, reason=reason, summary=summary)
            except StoreError:
                continue
            summary["status"], summary["reason"] = status, reason
            print(f"Recorded the end of run {self.run_id} once the store could be written.")
            return

    def summary(self, status: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": status,
            "steps": self.step,
            "seconds": round(time.time() - self.t0, 2),
            "models": [
                {
                    "member": m.index,
                    "name": m.name,
                    "final_train_loss": _num(m.last_loss),
                    "best_val_acc": _num(m.best_val_acc),
                    "final_val_acc": _num(m.last_val_acc),
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
        # One pipeline for the whole cohort: every member steps on each batch it yields.
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
        self.members, notes = build_members(cfg, data.num_classes, self.device, total)
        for m in self.members:  # the start of the linear path a loss landscape draws
            path = self.store.initial_checkpoint_path(self.run_id, m.index)
            save_checkpoint(path, m.model, self.checkpoint_meta(m, data))
        for m in self.members:
            blocks = [n for n, _ in residual_blocks(m.model)]
            self.store.set_layers(
                self.run_id,
                m.index,
                {keys.CONV_LAYERS: list(m.grads.names), keys.BLOCK_LAYERS: blocks},
            )
        for text in cfg.controls:
            scheduled = parse_scheduled(text, len(self.members))
            self._scheduled.setdefault(scheduled.at(total), []).append(scheduled.change)
        probe_x = next(val.epoch())[0][:64] if len(data.val) else None
        self.store.mark_started(self.run_id, device=str(self.device), total_steps=total)
        self.store.add_event(
            self.run_id,
            "info",
            f"{data.name}: {len(data.train):,} training and {len(data.val):,} validation images; "
            f"{total:,} steps of {cfg.batch_size}.",
        )
        for note in notes:
            self.store.add_event(self.run_id, "info", note)

        eval_at = _eval_points(steps_per_epoch, cfg.epochs, cfg.evals_per_epoch)
        snapshot_at = snapshot_steps(total, cfg.snapshots)
        last_flush, flushed_step, t_flush = time.monotonic(), 0, time.time()
        for epoch in range(cfg.epochs):
            for x, y in batches.epoch(epoch):
                for m in self.members:
                    if m.diverged_at is None:
                        self._step(m, x, y)
                self.step += 1
                if self.step in snapshot_at:
                    self._save_snapshots(data)
                self._between_steps()
                now = time.monotonic()
                if (
                    self.step - flushed_step >= cfg.log_every
                    or self.step == 1  # the charts' first point, as soon as there is one
                    or now - last_flush >= FLUSH_SECONDS
                    or self.step in eval_at
                    or self.step == total
                    or self.stop_requested  # stop at this step, not at the next flush
                ):
                    images = (self.step - flushed_step) * cfg.batch_size
                    throughput = images / max(time.time() - t_flush, 1e-9)
                    self._flush(flushed_step, throughput)
                    last_flush, flushed_step, t_flush = now, self.step, time.time()
                    if self.step in eval_at:
                        self._evaluate(val, probe_x, epoch)
                        t_flush = time.time()  # throughput counts training, not evaluation
                        self._poll_controls()  # what arrived while evaluating acts now
                    if self.progress:
                        m = self.members[0]
                        info = {"loss": m.last_loss, "val_acc": m.best_val_acc}
                        self.progress(self.step, total, info)
                    if all(m.diverged_at is not None for m in self.members):
                        m = self.members[0]
                        return "diverged", m.diverged_reason
                    if self.stop_requested:
                        self._save_checkpoints(data)
                        return "stopped", f"Stopped {self.stop_requested} at step {self.step}."
        self._save_checkpoints(data)
        self._trained = True
        if cfg.analyses:
            self._analyse(data, val)
        return "finished", None

    def _step(self, m: Member, x: torch.Tensor, y: torch.Tensor) -> None:
        logits = m.model(x)
        loss = F.cross_entropy(logits, y)
        m.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        m.grads.record()  # the charts show the gradient as computed, before any clipping
        if self.cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(
                m.model.parameters(), self.cfg.optim.grad_clip, foreach=True
            )
        lr = m.scheduler.get_last_lr()
        if m.lr_factor != 1.0:  # a live control scales the schedule's value for this step
            for group, base in zip(m.optimizer.param_groups, lr, strict=True):
                group["lr"] = base * m.lr_factor
        m.optimizer.step()
        if m.lr_factor != 1.0:  # give the scheduler back its own value
            for group, base in zip(m.optimizer.param_groups, lr, strict=True):
                group["lr"] = base
        m.lrs.append(lr[0] * m.lr_factor)
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
                    (m.index, keys.TRAIN_LOSS, s, loss),
                    (m.index, keys.TRAIN_ACC, s, float(both[1, i])),
                    (m.index, keys.LR, s, m.lrs[i]),
                ]
                layer_stats.append((m.index, keys.GRAD_NORM, s, grad_rows[i]))
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
                (m.index, keys.WEIGHT_NORM, self.step, norms),
                (m.index, keys.UPDATE_RATIO, self.step, ratios),
            ]
            scalars.append((m.index, keys.THROUGHPUT, self.step, throughput))
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
                self._note_controls()
                logits = m.model(x)
                loss_sum += F.cross_entropy(logits, y, reduction="sum")
                correct += (logits.argmax(1) == y).sum()
            m.train_mode()
            n = len(val.labels)
            loss, acc = (torch.stack([loss_sum, correct]) / n).cpu().tolist()
            m.last_val_acc = acc
            m.best_val_acc = acc if math.isnan(m.best_val_acc) else max(m.best_val_acc, acc)
            scalars += [
                (m.index, keys.VAL_LOSS, self.step, loss),
                (m.index, keys.VAL_ACC, self.step, acc),
                (m.index, keys.EPOCH, self.step, epoch + 1),
                # Seconds since the run started: benchmarks read time-to-accuracy off the store.
                (m.index, keys.ELAPSED, self.step, time.time() - self.t0),
            ]
            if probe_x is not None:
                self._note_controls()
                _, ratios, stds = block_probe(m.model, probe_x)
                m.train_mode()  # block_probe restores plain train(); frozen BN stays frozen
                layer_stats += [
                    (m.index, keys.RESIDUAL_RATIO, self.step, ratios),
                    (m.index, keys.RESPONSE_STD, self.step, stds),
                ]
                if keys.SHATTERING in self.cfg.analyses:
                    with torch.enable_grad():
                        corr = gradient_correlation(m.model, probe_x[:4], seed=self.cfg.seed)
                    m.train_mode()
                    scalars.append((m.index, keys.SHATTER_NEIGHBOUR, self.step, corr.neighbour))
        self.store.write_batch(
            self.run_id, step=self.step, scalars=scalars, layer_stats=layer_stats
        )

    def checkpoint_meta(self, m: Member, data: Dataset) -> dict[str, Any]:
        scales = m.block_scales()
        groups = [[float(b.skip_scale) for b in g] for g in stages(m.model)]
        # The configured per-stage scales, unless live controls changed them: then the scales
        # the model has now, per stage where each stage is uniform. block_skip always holds
        # every block's scale, which load_checkpoint applies last.
        per_stage = [g[0] if len(set(g)) == 1 else None for g in groups if g]
        changed = scales != m.start_scales
        skip = per_stage if changed and per_stage and None not in per_stage else list(m.cfg.skip)
        return {
            "model": {
                "arch": m.cfg.arch,
                "skip": skip,
                "batchnorm": m.cfg.batchnorm,
                "pretrained": m.cfg.pretrained,
            },
            "block_skip": scales,
            "num_classes": data.num_classes,
            "classes": list(data.classes),
            "mean": list(data.mean),
            "std": list(data.std),
            "image_size": data.image_size,
            "dataset": data.name,
            "run_id": self.run_id,
            "member": m.name,
            "member_index": m.index,
            "step": self.step,
            "best_val_acc": _num(m.best_val_acc),
            "train_config": self.cfg.to_dict(),
        }

    def _save_checkpoints(self, data: Dataset) -> None:
        for m in self.members:
            if m.diverged_at is not None:
                continue  # NaN weights help nobody; the event says why there is no checkpoint
            path = self.store.checkpoint_path(self.run_id, m.index)
            save_checkpoint(path, m.model, self.checkpoint_meta(m, data))
            self.store.add_event(
                self.run_id,
                "checkpoint",
                f"Saved {m.name} to {path.name}.",
                step=self.step,
                member=m.index,
            )

    def _save_snapshots(self, data: Dataset) -> None:
        for m in self.members:
            if m.diverged_at is None:
                path = self.store.snapshot_path(self.run_id, m.index, self.step)
                save_checkpoint(path, m.model, self.checkpoint_meta(m, data))

    def _analyse(self, data: Dataset, val: Batches) -> None:
        """The analyses after training; between their pieces of work, beat the heart and see
        whether Stop was pressed."""
        if len(data.val) == 0:
            self.store.add_event(self.run_id, "info", "No validation images: analyses skipped.")
            return
        trained = [Trained(m.index, m.name, m.model) for m in self.members if m.diverged_at is None]
        on_cpu = self.device.type == "cpu"
        train = None
        if keys.SHARPNESS in self.cfg.analyses:  # another copy of the training set on the device
            train = Batches(
                data.train, 512, mean=data.mean, std=data.std, device=self.device, shuffle=False
            ).epoch
        found = analyse(
            self.cfg, trained, val.epoch(), num_classes=data.num_classes, on_cpu=on_cpu,
            train=train,
        )  # fmt: skip
        for item in found:
            if isinstance(item, Finding):
                self.store.put_analysis(self.run_id, item.member, item.kind, item.payload)
                self.store.write_batch(self.run_id, step=self.step)  # the heartbeat
                self._poll_controls()
            else:
                self.store.add_event(self.run_id, "info", item, step=self.step)
            if self.stop_requested:
                break
        for m in self.members:
            m.train_mode()

    # ---- controls -----------------------------------------------------------------------------
    def _between_steps(self) -> None:
        """Scheduled changes due after this step, and (at most every CONTROL_SECONDS) live
        controls, so a change acts on the very next step."""
        for change in self._scheduled.pop(self.step, []):
            self._record(change, source="schedule")
        if time.monotonic() - self._last_poll >= CONTROL_SECONDS:
            self._poll_controls(apply=False)
        self._apply_queued()

    def _note_controls(self) -> None:
        """During an evaluation (seconds for a cohort on a CPU): record live controls at once,
        apply them once every member has been evaluated with the same nets."""
        if time.monotonic() - self._last_poll >= CONTROL_SECONDS:
            self._poll_controls(apply=False)

    def _poll_controls(self, *, apply: bool = True) -> None:
        """Read new control rows. Each change is recorded as an event at once (it says from
        which step it acts) and applied at the next step boundary; ``apply=False`` while in the
        middle of an evaluation, so the members evaluated at this step all see the same nets."""
        self._last_poll = time.monotonic()
        for control in self.store.pending_controls(self.run_id, self._control_cursor):
            self._control_cursor = control.id
            if control.kind == "stop":
                self.stop_requested = "from the app"
            elif self._trained:
                self.store.add_event(
                    self.run_id,
                    "info",
                    f"Ignored a {control.kind} control: training ended at step {self.step}; "
                    "the analyses of the trained nets are running.",
                    step=self.step,
                    payload={"control_id": control.id},
                )
            else:
                self._receive(control)
            self.store.mark_applied(control.id, self.step)
        if apply:
            self._apply_queued()

    def _receive(self, control: Control) -> None:
        try:
            change = Change.from_control(control.kind, control.payload)
            if change.member is not None and not 0 <= change.member < len(self.members):
                raise ConfigError(f"There is no member {change.member} in this run.")
        except (ConfigError, TypeError, ValueError) as err:
            self.store.add_event(
                self.run_id, "info", f"Ignored a {control.kind} control: {err}", step=self.step
            )
            return
        self._record(change, source="app", control=control)

    def _targets(self, change: Change) -> list[Member]:
        if change.member is None:
            return self.members
        return [m for m in self.members if m.index == change.member]

    def _record(self, change: Change, *, source: str, control: Control | None = None) -> None:
        """Queue ``change`` for the next step boundary and record it as an event now."""
        problems = {
            m.index: p for m in self._targets(change) if (p := apply_change(m, change, check=True))
        }
        self._queued.append(change)
        names = [m.name for m in self.members]
        message = change.describe(names) + f", from step {self.step + 1}"
        if problems:
            message += f" (not applied: {'; '.join(problems.values())})"
        payload = {**change.payload(), "kind": change.kind, "source": source}
        payload["not_applied"] = sorted(problems)
        payload["label"] = change.short()
        if control is not None:
            payload["control_id"], payload["requested_at"] = control.id, control.t
        self.store.add_event(
            self.run_id,
            change.kind,
            message + ".",
            step=self.step,
            member=change.member,
            payload=payload,
        )

    def _apply_queued(self) -> None:
        for change in self._queued:
            for m in self._targets(change):
                apply_change(m, change)
        self._queued.clear()

    def _on_sigterm(self, signum, frame) -> None:
        self.stop_requested = "by a termination signal"

    def _verdict(self, summary: dict[str, Any]) -> dict[str, Any] | None:
        try:
            result = verdict(self.store, self.run_id, self.cfg, summary)
        except Exception as err:  # a verdict must never cost the run its record
            traceback.print_exc()
            return {"reproduced": None, "text": f"No verdict: {type(err).__name__}: {err}"}
        return None if result is None else result.to_dict()

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


def snapshot_steps(total: int, count: int) -> set[int]:
    """The steps after which ``count`` snapshots fall evenly between the initial weights (step
    0) and the final ones (step ``total``, the checkpoint); fewer when the run is shorter."""
    return {round(total * k / (count + 1)) for k in range(1, count + 1)} - {0, total}


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
