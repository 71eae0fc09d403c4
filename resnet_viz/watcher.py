"""Watch a training loop of your own: the app shows it live, layer by layer, like its own runs.

    import resnet_viz

    with resnet_viz.watch(model, name="my-run", runs_dir="runs", config={"lr": 0.1}) as run:
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss=loss, lr=sched.get_last_lr()[0])  # after backward, before zero_grad
            opt.step(); opt.zero_grad()
            if run.should_stop:  # the app's Stop button
                break
        run.eval(val_acc=acc, val_loss=vloss)

What it costs the loop: per step, one fused ``torch._foreach_norm`` over the weighted layers'
gradients, left on the device; nothing else. Every ``log_every`` steps (and at least every
``FLUSH_SECONDS``) the step's tensors go to a writer thread, which copies them to the host in one
transfer and writes the run store, so the loop never waits for SQLite or forces a device sync
of its own. Weight norms and update/weight ratios are measured at those intervals, as the app's
trainer does (:mod:`resnet_viz.train.probes`).

Under DistributedDataParallel, rank 0 records (DDP has averaged the gradients by then, so its
norms are the global ones); the other ranks only take part in agreeing on ``should_stop`` at
each interval, so every rank leaves the loop at the same step.
"""

from __future__ import annotations

import atexit
import math
import queue
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from . import keys
from .checkpoints import fit_architecture, save_checkpoint
from .config import TrainConfig
from .errors import CheckpointError, ResNetVizError, StoreError
from .models import CIFAR_ARCHS, residual_blocks
from .store import RunStore, default_runs_dir
from .train.probes import GradNormProbe, WeightProbe

FLUSH_SECONDS = 0.5  # the charts move and Stop is seen within about a second
HEARTBEAT_SECONDS = 2.0  # the writer beats the run's heart this often while the loop is quiet
# Where run.save() keeps the weights of a model the app cannot rebuild (not one of its ResNets).
WEIGHTS_ONLY = "weights.safetensors"
# Names of eval() scalars that the app's charts draw beside the training curves.
EVAL_KEYS = {"val_acc": keys.VAL_ACC, "val_loss": keys.VAL_LOSS}


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """One row per module with a trainable weight of its own (convolutions, linear layers,
    norms, embeddings…), named as in ``model.named_modules()``, in network order."""
    return [
        (name, m.weight)
        for name, m in unwrap(model).named_modules()
        if isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.requires_grad
    ]


def unwrap(model: nn.Module) -> nn.Module:
    """The module a DistributedDataParallel wrapper or ``torch.compile`` holds."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            return model


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _rank() -> int:
    return torch.distributed.get_rank() if _distributed() else 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def watch(
    model: nn.Module,
    *,
    name: str | None = None,
    runs_dir: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    log_every: int = 10,
    total_steps: int | None = None,
) -> WatchedRun:
    """Record ``model``'s training as a run of the store in ``runs_dir`` (default: the app's,
    ``RESNET_VIZ_RUNS_DIR`` or ``./runs``). ``config``: your settings, shown with the run;
    ``total_steps``: how many steps you plan, if you know (a progress bar and an ETA).

    Raises at once, before training starts, when the runs dir cannot be written or the model
    has no weighted layers; once the loop runs, no error of the watcher stops it."""
    return WatchedRun(
        model,
        name=name,
        runs_dir=runs_dir,
        config=config,
        log_every=log_every,
        total_steps=total_steps,
    )


class WatchedRun:
    """A run a script trains; use it as a context manager (see :func:`watch`)."""

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str | None,
        runs_dir: str | Path | None,
        config: Mapping[str, Any] | None,
        log_every: int,
        total_steps: int | None,
    ) -> None:
        if log_every < 1:
            raise ResNetVizError(f"log_every must be at least 1, not {log_every}.")
        self.rank = _rank()
        self.log_every = log_every
        self.step_count = 0  # steps recorded so far; the run's step
        self.id: str | None = None  # only rank 0 has one
        # Stop as rank 0's writer thread saw it, and as every rank agreed on it. Under DDP the
        # loop must only see the agreed one: a rank that left alone would leave the others
        # waiting in an all-reduce.
        self._stop_seen = self._stop = False
        self._diverged: tuple[int, float] | None = None  # (step, loss) of the first bad loss
        self._warned: set[str] = set()
        layers = weighted_layers(model)
        if not layers:
            raise ResNetVizError(
                f"{type(unwrap(model)).__name__} has no layer with a trainable weight to watch "
                "(convolutions, linear layers, norms…)."
            )
        self._last_flush = time.monotonic()
        self._model = model
        if self.rank != 0:
            return
        self.names = tuple(n for n, _ in layers)
        self.grads = GradNormProbe(model, layers)
        self.weights = WeightProbe(model, layers)
        self._losses: list[torch.Tensor] = []
        self._lrs: list[Any] = []
        self._skipped: list[torch.Tensor] = []
        self._times: list[float] = []  # when each step of the interval was recorded
        self._first_step = 1
        # What the end of the run reports, kept by the writer thread as it writes.
        self._last_loss: float | None = None
        self._best_val_acc: float | None = None
        self._last_val_acc: float | None = None
        self.store = self._open(runs_dir)
        inner = unwrap(model)
        script = self._script = {
            "model": type(inner).__name__,
            "module": type(inner).__module__,
            "argv": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
            "config": _jsonable(dict(config or {})),
        }
        device = next(inner.parameters()).device
        run_name = self.store.distinct_name(name or Path(sys.argv[0] or "script").stem or "script")
        try:
            self.id = self.store.create_run(TrainConfig(name=run_name), script=script)
            self.store.set_layers(self.id, 0, {keys.CONV_LAYERS: self.names})
            self.store.mark_started(self.id, device=str(device), total_steps=total_steps)
        except StoreError as err:
            raise StoreError(f"resnet_viz.watch cannot record this run: {err}") from err
        self._writes: queue.Queue = queue.Queue()
        self._writer = threading.Thread(
            target=self._write_loop, name="resnet_viz.watch", daemon=True
        )
        self._writer.start()
        atexit.register(self.finish)  # a script without the with block still ends its run

    @staticmethod
    def _open(runs_dir: str | Path | None) -> RunStore:
        root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        try:
            store = RunStore(root)
        except (OSError, StoreError) as err:
            raise StoreError(f"resnet_viz.watch cannot use the runs dir {root}: {err}") from err
        if store.problem:
            raise StoreError(f"resnet_viz.watch cannot record into {root}: {store.problem}")
        return store

    # ---- in the loop ----------------------------------------------------------------------
    def __enter__(self) -> WatchedRun:
        return self

    def __exit__(self, kind, err, tb) -> None:
        if kind is None:
            self.finish()
        elif issubclass(kind, KeyboardInterrupt):
            self.finish("stopped", f"Interrupted (Ctrl-C) at step {self.step_count}.")
        else:
            self.finish("failed", f"{kind.__name__}: {err} (at step {self.step_count}).")

    @property
    def should_stop(self) -> bool:
        """Whether Stop was pressed in the app (every rank agrees, at the same step)."""
        return self._stop if _distributed() else self._stop_seen

    @torch.no_grad()
    def step(
        self,
        *,
        loss: torch.Tensor | float,
        lr: torch.Tensor | float | None = None,
        scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        """Record one training step: call it after ``backward()`` and before ``zero_grad()``
        (with a GradScaler: before ``scaler.unscale_``/``scaler.step``, passing ``scaler``,
        so the norms are of the unscaled gradients and a step it will skip is marked)."""
        if self.rank != 0:
            self.step_count += 1
            if self.step_count % self.log_every == 0:
                self._agree_on_stop()
            return
        if not any(p.grad is not None for p in self.grads.params):
            self._warn_once(
                "no-grad",
                "resnet_viz.watch: step() was called before backward() (no gradients yet); "
                "this step is not recorded. Call it after loss.backward().",
            )
            return
        try:
            loss_value = loss.detach() if torch.is_tensor(loss) else float(loss)
            lr_value = lr.detach() if torch.is_tensor(lr) else (None if lr is None else float(lr))
            scaling = scaler is not None and scaler.is_enabled()
            scale = None
            if scaling:
                scale = scaler._get_scale_async().double().reciprocal().float()  # no host sync
            norms = self.grads.record(scale)  # the last thing that can fail: rows stay aligned
            if scaling:  # a GradScaler skips a step with any inf/NaN gradient
                self._skipped.append(~torch.isfinite(norms).all())
            self._losses.append(loss_value)
            self._lrs.append(lr_value)
            self._times.append(time.monotonic())
        except Exception as err:  # whatever went wrong here, the user's training goes on
            self._warn_once("step", f"resnet_viz.watch could not record a step: {err!r}")
            return
        self.step_count += 1
        distributed = _distributed()
        due = self.step_count % self.log_every == 0
        if not distributed:  # ranks must flush at the same steps: by count alone then
            due = (
                due or self.step_count == 1 or time.monotonic() - self._last_flush >= FLUSH_SECONDS
            )
        if due:
            self._flush()
            if distributed:
                self._agree_on_stop()

    def eval(self, **scalars: torch.Tensor | float) -> None:
        """Record named scalars at the current step (``val_acc`` and ``val_loss`` are drawn
        with the training curves; any other name is kept and exported). The steps since the
        last interval are written first: an evaluation is a pause the charts should not lag."""
        if self.rank != 0 or not scalars:
            return
        self._flush()  # the steps since the last interval first, so the charts show them
        values = {
            EVAL_KEYS.get(k, k): (v.detach() if torch.is_tensor(v) else v)
            for k, v in scalars.items()
        }
        self._writes.put(("eval", self.step_count, values))

    def save(
        self,
        model: nn.Module | None = None,
        *,
        classes: Sequence[str] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        image_size: int | None = None,
    ) -> Path | None:
        """Keep the model's weights (default: the watched model) with the run, as they are now;
        a later call replaces them. Returns the file, or ``None`` where nothing was written
        (ranks other than 0; an error, which is warned about and does not stop training).

        When the model is one of the app's ResNets (built by ``resnet_viz.models.build_model``,
        or a stock torchvision ResNet-18/34/50, whose keys are the same), the file is a
        checkpoint the Activations and Explain pages open: give ``classes``, the
        normalisation ``mean``/``std`` and the input ``image_size`` your data uses, so the
        pages preprocess pictures as you trained (otherwise they assume ImageNet's
        normalisation and say so). Any other model's weights are written as plain
        safetensors in the run's folder for your own tools; the app does not rebuild it,
        because that would mean running code a file names."""
        if self.rank != 0 or self.id is None:
            return None
        inner = unwrap(model if model is not None else self._model)
        try:
            return self._save(inner, classes, mean, std, image_size)
        except Exception as err:  # a full disk, a wrong argument: said, and training goes on
            self._warn_once(f"save {err}", f"resnet_viz.watch could not save the model: {err}")
            return None

    def _save(self, inner, classes, mean, std, image_size) -> Path:
        label = type(inner).__name__
        try:
            _, arch, num_classes = fit_architecture(inner.state_dict(), label)
        except CheckpointError:
            path = self.store.run_dir(self.id) / WEIGHTS_ONLY
            path.parent.mkdir(parents=True, exist_ok=True)
            state = {k: v.detach().contiguous().cpu() for k, v in inner.state_dict().items()}
            save_file(state, path, metadata={"model": label, "step": str(self.step_count)})
            self._warn_once(
                "weights-only",
                f"resnet_viz.watch: {label} is not one of the app's ResNets, so Activations "
                f"and Explain will not offer it; its weights are in {path} (safetensors).",
            )
            return path
        if classes is not None and (isinstance(classes, str) or len(classes) != num_classes):
            raise CheckpointError(
                f"classes= should be {num_classes} names, one per output of the model."
            )
        blocks = [float(b.skip_scale) for _, b in residual_blocks(inner)]
        meta: dict[str, Any] = {
            "model": {
                "arch": arch,
                "skip": [1.0],
                "batchnorm": any(isinstance(m, nn.BatchNorm2d) for m in inner.modules()),
                "pretrained": False,
            },
            "block_skip": blocks or None,  # a stock torchvision ResNet has no skip switches
            "num_classes": num_classes,
            "classes": list(classes) if classes is not None else None,
            "mean": list(mean) if mean is not None else None,
            "std": list(std) if std is not None else None,
            "image_size": image_size or (32 if arch in CIFAR_ARCHS else 224),
            "run_id": self.id,
            "member": self._script["model"],
            "member_index": 0,
            "step": self.step_count,
        }
        path = save_checkpoint(self.store.checkpoint_path(self.id, 0), inner, meta)
        self.store.add_event(
            self.id, "checkpoint", f"Saved {label} ({arch}) to {path.name}.", step=self.step_count
        )
        return path

    def finish(self, status: str | None = None, reason: str | None = None) -> None:
        """End the run (leaving the ``with`` block does it): ``finished``, ``stopped`` after
        Stop, ``diverged`` after a non-finite loss, or the ``status`` given."""
        if self.rank != 0 or self.id is None or not self._writer.is_alive():
            return
        self._flush()
        if status is None:
            if self.should_stop:
                status, reason = "stopped", f"Stopped from the app at step {self.step_count}."
            else:
                status = "finished"
        self._writes.put(("finish", status, reason))
        self._writer.join(timeout=60)
        atexit.unregister(self.finish)

    # ---- rank 0's writer thread -------------------------------------------------------------
    def _flush(self) -> None:
        """Hand the interval's device tensors to the writer (no sync here), if there are any."""
        if not self._losses:
            return
        batch = (
            self._first_step,
            self.grads.take(),
            self._losses,
            self._lrs,
            self._skipped,
            self.weights.measure_on_device(),
            # Steps per second inside the interval: the gaps between intervals may hold the
            # script's evaluation, which is not training speed.
            (len(self._times) - 1) / (self._times[-1] - self._times[0])
            if len(self._times) > 1 and self._times[-1] > self._times[0]
            else None,
        )
        self._writes.put(("steps", *batch))
        self._first_step = self.step_count + 1
        self._losses, self._lrs, self._skipped, self._times = [], [], [], []
        self._last_flush = time.monotonic()

    def _write_loop(self) -> None:
        after = 0  # the last control row seen
        while True:
            try:
                item = self._writes.get(timeout=HEARTBEAT_SECONDS)
            except queue.Empty:
                item = None
            try:
                if item is None:
                    self.store.beat(self.id)
                elif item[0] == "steps":
                    self._write_steps(*item[1:])
                elif item[0] == "eval":
                    self._write_eval(*item[1:])
                else:
                    self._write_finish(*item[1:])
                    return
                for control in self.store.pending_controls(self.id, after):
                    after = control.id
                    if control.kind == "stop":
                        self._stop_seen = True
                        self.store.mark_applied(control.id, self.step_count)
            except StoreError as err:
                self._warn_once(
                    "store",
                    f"resnet_viz.watch: the run store stopped taking writes ({err}); training "
                    "goes on, and what it cannot record is lost.",
                )
                if item is not None and item[0] == "finish":
                    return
            except Exception as err:  # the user's training must go on whatever happens here
                self._warn_once("writer", f"resnet_viz.watch could not record a step: {err!r}")
                if item is not None and item[0] == "finish":
                    return

    def _write_steps(self, first, grads, losses, lrs, skipped, weights, rate) -> None:
        last = first + len(losses) - 1
        loss = _host_floats(losses)  # one copy each, in this thread
        lrs = _host_floats(lrs)
        norms = torch.stack(grads).float().cpu().numpy()
        wn, ratio = weights.float().cpu().numpy()
        skips = torch.stack(skipped).cpu().numpy() if skipped else None
        scalars, stats, events = [], [], []
        for i, s in enumerate(range(first, last + 1)):
            scalars.append((0, keys.TRAIN_LOSS, s, float(loss[i])))
            if lrs[i] is not None:
                scalars.append((0, keys.LR, s, float(lrs[i])))
            if skips is not None:
                scalars.append((0, keys.SKIPPED, s, float(skips[i])))
            stats.append((0, keys.GRAD_NORM, s, norms[i]))
            if self._diverged is None and not math.isfinite(float(loss[i])):
                self._diverged = (s, float(loss[i]))
                events.append((0, s, "diverged", _diverged_reason(s, float(loss[i])), {}))
        # step() runs before the optimizer's step, so these are the weights after step last-1.
        if last > 1:
            stats += [(0, keys.WEIGHT_NORM, last - 1, wn), (0, keys.UPDATE_RATIO, last - 1, ratio)]
        if rate is not None:
            scalars.append((0, keys.STEP_RATE, last, rate))
        self._last_loss = float(loss[-1])
        self.store.write_batch(
            self.id, step=last, scalars=scalars, layer_stats=stats, events=events
        )

    def _write_eval(self, step: int, values: dict[str, Any]) -> None:
        scalars = [(0, k, step, float(v)) for k, v in values.items()]
        if keys.VAL_ACC in values:
            acc = float(values[keys.VAL_ACC])
            best = self._best_val_acc
            self._best_val_acc = acc if best is None else max(best, acc)
            self._last_val_acc = acc
        self.store.write_batch(self.id, step=self.step_count, scalars=scalars)

    def _write_finish(self, status: str, reason: str | None) -> None:
        if self._diverged is not None and status == "finished":
            status, reason = "diverged", _diverged_reason(*self._diverged)
        if reason:
            self.store.add_event(self.id, status, reason, step=self.step_count)
        summary = {
            "run_id": self.id,
            "status": status,
            "steps": self.step_count,
            "models": [
                {
                    "member": 0,
                    "name": self._script["model"],
                    "final_train_loss": _finite(self._last_loss),
                    "best_val_acc": _finite(self._best_val_acc),
                    "final_val_acc": _finite(self._last_val_acc),
                    "diverged_at": self._diverged[0] if self._diverged else None,
                }
            ],
        }
        self.store.finish(self.id, status, reason=reason, summary=summary)

    # ---- every rank ---------------------------------------------------------------------------
    def _agree_on_stop(self) -> None:
        """Rank 0's word on Stop, given to every rank at the same step (one tiny broadcast an
        interval), so no rank waits in a collective the others left."""
        dist = torch.distributed
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if dist.get_backend() == "nccl"
            else "cpu"
        )
        flag = torch.tensor([1.0 if self._stop_seen else 0.0], device=device)
        dist.broadcast(flag, src=0)
        self._stop = bool(flag.item())

    def _warn_once(self, what: str, text: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(text, RuntimeWarning, stacklevel=3)


def _diverged_reason(step: int, loss: float) -> str:
    return (
        f"The training loss became {loss} at step {step}: training diverged. A learning rate "
        "too high for the model is the usual cause."
    )


def _host_floats(values: list[Any]) -> list[float | None]:
    """Scalars that may be device tensors, as floats, with one device→host copy for all."""
    tensors = [v.reshape(()).double() for v in values if torch.is_tensor(v)]
    host = iter(torch.stack(tensors).cpu().tolist() if tensors else ())
    return [next(host) if torch.is_tensor(v) else (None if v is None else float(v)) for v in values]


def _finite(x: float | None) -> float | None:
    return x if x is not None and np.isfinite(x) else None
