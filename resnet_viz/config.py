"""Run configuration: frozen, typed dataclasses saved with every run and checkpoint.

One flat key space (``model.arch``, ``optim.lr``, …) serves the CLI's ``--set key=value``, the
Train page's URL query string and the run store, so a setup means the same thing everywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import archs, keys
from .controls import parse_scheduled
from .errors import ConfigError

DATASETS = ("shapes", "cifar10", "folder")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine", "step", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
# What a run can compute after training, for every cohort member (see resnet_viz.experiments).
ANALYSES = (keys.LESION, keys.SHATTERING, keys.SHARPNESS)
MAX_MEMBERS = 6  # one worker trains every member in turn on each batch; more would crawl
MAX_SNAPSHOTS = 100  # a checkpoint per member each: 100 of ResNet-56 is 340 MB


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "resnet8"
    # Shortcut scale per stage (1 = identity skip, 0 = plain net); one value applies to all.
    skip: tuple[float, ...] = (1.0,)
    batchnorm: bool = True
    pretrained: bool = False
    # Start each residual branch at zero (resnet_viz.models.zero_residual_branches); without
    # BatchNorm this is Fixup's initialisation (Zhang et al. 2019), which lets a deep residual
    # net without BN train.
    zero_init_residual: bool = False
    # This member's weight decay instead of optim.weight_decay: a cohort that compares
    # regularisation (the Skip Lab's overfitting experiment). None: the run's.
    weight_decay: float | None = None

    @property
    def depth(self) -> int:
        """Layers in the architecture's name (``resnet56`` → 56; 0 if it has none)."""
        return archs.depth(self.arch)

    @property
    def plain(self) -> bool:
        """Every shortcut off: a plain net (He et al. 2015's "plain" baseline)."""
        return all(s == 0 for s in self.skip)

    @property
    def residual(self) -> bool:
        """Every shortcut the identity: an ordinary residual net."""
        return all(s == 1 for s in self.skip)

    @property
    def label(self) -> str:
        """The member's name and spec: ``resnet20``, ``plain20``, ``resnet20 skip 1,0,1 no-BN``;
        :func:`parse_member` reads it back."""
        if self.plain and self.depth:
            label = f"plain{self.depth}"
        elif self.residual:
            label = self.arch
        else:
            label = f"{self.arch} skip {','.join(_format(s) for s in self.skip)}"
        if not self.batchnorm:
            label += " no-BN"
        if self.pretrained:
            label += " pretrained"
        if self.zero_init_residual:
            label += " zero-init"
        if self.weight_decay is not None:
            label += f" wd {_format(self.weight_decay)}"
        return label

    def twin(self) -> ModelConfig:
        """The same network with every skip flipped: a residual net's plain twin (option-A CIFAR
        twins have identical parameters, He et al. 2015 §4.2), or a plain net's residual twin."""
        return dataclasses.replace(self, skip=(1.0,) if self.plain else (0.0,))


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "shapes"
    # cifar10: optional folder holding cifar-10-batches-py; folder: ImageFolder root.
    # Both are relative to the data root (RESNET_VIZ_DATA_ROOT), never outside it.
    folder: str = ""
    image_size: int = 32
    train_size: int = 10_000  # Shapes: how many to draw; other sets: a cap (0 = all)
    val_size: int = 2_000
    augment: bool = False  # random crop + flip (torchvision.transforms.v2)


@dataclass(frozen=True)
class OptimConfig:
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    # Clip each step's gradient to this global L2 norm (0 = off). The gradient charts show the
    # gradients before clipping.
    grad_clip: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    name: str = "run"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    batch_size: int = 128
    epochs: int = 5
    seed: int = 0
    device: str = "auto"
    log_every: int = 5  # steps between host syncs of the on-device statistics
    evals_per_epoch: int = 2
    # A cohort: more models trained in lockstep with ``model`` (same batches in the same order,
    # same initial weights where the parameters match). Flat form: ``plain20;resnet8 no-BN``.
    cohort: tuple[ModelConfig, ...] = ()
    # Changes applied at set points of training, as the Skip Lab's live controls apply them,
    # e.g. ``35% skip 0 stage2 member1`` (see resnet_viz.controls).
    controls: tuple[str, ...] = ()
    analyses: tuple[str, ...] = ()  # computed after training: ANALYSES
    experiment: str = ""  # the Skip Lab experiment this run is, whose verdict it gets
    # Weight snapshots kept during training, evenly spaced (besides the initial and final
    # weights): the training trajectory the Landscape page projects on its PCA plane (Li et al.
    # 2018, §7). Each is one checkpoint per member on disk.
    snapshots: int = 0

    @property
    def members(self) -> tuple[ModelConfig, ...]:
        """Every model of the run, ``model`` first (member 0)."""
        return (self.model, *self.cohort)

    def member_names(self) -> list[str]:
        """Each member's label, numbered where labels repeat (``resnet8``, ``resnet8 #2``)."""
        names: list[str] = []
        for m in self.members:
            label, n = m.label, 2
            name = label
            while name in names:
                name, n = f"{label} #{n}", n + 1
            names.append(name)
        return names

    def setup_name(self) -> str:
        """A run name that says what the run is: ``plain20 · shapes``, ``resnet8 vs plain8 ·
        shapes`` (what a run is called when nobody named it)."""
        return f"{' vs '.join(m.label for m in self.members)} · {self.data.dataset}"

    def describe(self) -> str:
        """``resnet8 · shapes · skips on · BN · sgd lr 0.1 onecycle · 4 ep × 128`` (``… onecycle
        clip 2 · …`` with gradient clipping); a cohort names its members instead:
        ``plain20 vs resnet20 · shapes 32 px · sgd …``."""
        m, d, o = self.model, self.data, self.optim
        clip = f" clip {o.grad_clip:g}" if o.grad_clip else ""
        tail = (
            f"{o.optimizer} lr {o.lr:g} {o.schedule}{clip} · {self.epochs} ep × {self.batch_size}"
        )
        if self.cohort:
            labels = " vs ".join(member.label for member in self.members)
            return f"{labels} · {d.dataset} {d.image_size} px · {tail}"
        if m.residual:
            skips = "skips on"
        elif m.plain:
            skips = "skips off (plain)"
        else:
            skips = "skips " + ",".join(f"{s:g}" for s in m.skip)
        return f"{m.arch} · {d.dataset} · {skips} · {'BN' if m.batchnorm else 'no BN'} · {tail}"

    def with_twin(self) -> TrainConfig:
        """This single-model setup as a two-member cohort: the model and its plain twin (or
        its residual twin, for a plain net), same batches, same initial weights, and the lesion
        study after training."""
        twin = self.model.twin()
        return dataclasses.replace(
            self,
            name=f"{self.name} + {twin.label}",
            cohort=(twin,),
            analyses=tuple(dict.fromkeys((*self.analyses, keys.LESION))),
        )

    def validate(self) -> TrainConfig:
        checks = [
            (self.model.arch in archs.ARCHS, f"model.arch must be one of {', '.join(archs.ARCHS)}"),
            (len(self.model.skip) >= 1, "model.skip needs at least one value"),
            (all(0 <= s <= 2 for s in self.model.skip), "model.skip values must be in [0, 2]"),
            (len(self.members) <= MAX_MEMBERS, f"a cohort has at most {MAX_MEMBERS} members"),
            (set(self.analyses) <= set(ANALYSES), f"analyses: any of {', '.join(ANALYSES)}"),
            (self.data.dataset in DATASETS, f"data.dataset must be one of {', '.join(DATASETS)}"),
            (self.data.dataset != "folder" or self.data.folder, "data.folder is required"),
            (8 <= self.data.image_size <= 512, "data.image_size must be between 8 and 512"),
            (self.data.train_size >= 0 and self.data.val_size >= 0, "sizes must be ≥ 0"),
            (self.optim.optimizer in OPTIMIZERS, f"optim.optimizer: one of {OPTIMIZERS}"),
            (self.optim.schedule in SCHEDULES, f"optim.schedule: one of {SCHEDULES}"),
            (0 < self.optim.lr <= 10, "optim.lr must be in (0, 10]"),
            (self.optim.weight_decay >= 0, "optim.weight_decay must be ≥ 0"),
            (self.optim.grad_clip >= 0, "optim.grad_clip must be ≥ 0 (0 = off)"),
            (0 <= self.optim.momentum < 1, "optim.momentum must be in [0, 1)"),
            (1 <= self.batch_size <= 8192, "batch_size must be between 1 and 8192"),
            (1 <= self.epochs <= 1000, "epochs must be between 1 and 1000"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
            (self.log_every >= 1 and self.evals_per_epoch >= 1, "log_every/evals ≥ 1"),
            (0 <= self.snapshots <= MAX_SNAPSHOTS, f"snapshots: 0 to {MAX_SNAPSHOTS}"),
            (
                self.model.weight_decay is None or self.model.weight_decay >= 0,
                "model.weight_decay must be ≥ 0",
            ),
        ]
        for member in self.cohort:
            what = f"cohort member {member.label!r}"
            checks += [
                (
                    member.arch in archs.ARCHS,
                    f"{what}: the architecture must be one of {', '.join(archs.ARCHS)}",
                ),
                (len(member.skip) >= 1, f"{what}: skip needs at least one value"),
                (all(0 <= v <= 2 for v in member.skip), f"{what}: skip values must be in [0, 2]"),
                (
                    member.weight_decay is None or member.weight_decay >= 0,
                    f"{what}: weight decay must be ≥ 0",
                ),
            ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        for text in self.controls:
            parse_scheduled(text, len(self.members))  # raises ConfigError with the reason
        return self

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so old checkpoints still load."""
        return _from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def flat_values(self) -> dict[str, Any]:
        """``{"model.arch": "resnet8", "optim.lr": 0.1, ...}`` with typed values."""
        return dict(_walk(self))

    def flat(self) -> dict[str, str]:
        """``{"model.arch": "resnet8", "optim.lr": "0.1", ...}`` — the URL/CLI form."""
        return {key: _format(value) for key, value in _walk(self)}

    def with_overrides(self, overrides: Mapping[str, Any] | Iterable[str]) -> TrainConfig:
        """Apply ``{"optim.lr": "0.05"}`` or ``["optim.lr=0.05", ...]`` and validate."""
        if not isinstance(overrides, Mapping):
            pairs = {}
            for item in overrides:
                key, sep, value = item.partition("=")
                if not sep:
                    raise ConfigError(f"Expected key=value, got {item!r}.")
                pairs[key.strip()] = value.strip()
            overrides = pairs
        cfg = self
        for key, raw in overrides.items():
            cfg = _set(cfg, key.split("."), raw, key)
        return cfg.validate()


def config_keys() -> list[str]:
    return list(TrainConfig().flat())


# ---- helpers --------------------------------------------------------------------------------
def _walk(obj: Any, prefix: str = ""):
    for f in fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _walk(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value


def _format(value: Any) -> str:
    if isinstance(value, tuple) and value and all(isinstance(v, ModelConfig) for v in value):
        return ";".join(v.label for v in value)  # labels hold commas (skip lists)
    if isinstance(value, tuple):
        return ",".join(_format(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""  # an optional setting left to its default; parses back to None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_member(text: str) -> ModelConfig:
    """Inverse of :attr:`ModelConfig.label`: ``plain20``, ``resnet20 skip 1,0.5,1 no-BN``."""
    words = text.split()
    if not words:
        raise ConfigError("An empty cohort member; write e.g. plain20 or resnet20 skip 1,0,1.")
    head, rest = words[0].lower(), words[1:]
    skip: tuple[float, ...] = (1.0,)
    if head.startswith("plain") and head[5:].isdigit():
        head, skip = f"resnet{head[5:]}", (0.0,)
    flags = {
        "no-bn": ("batchnorm", False),
        "pretrained": ("pretrained", True),
        "zero-init": ("zero_init_residual", True),
    }
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(rest):
        word = rest[i].lower()
        if word == "skip" and i + 1 < len(rest):
            skip = _parse(tuple[float, ...], rest[i + 1], f"skip of {text!r}")
            i += 2
        elif word in flags:
            kwargs[flags[word][0]] = flags[word][1]
            i += 1
        elif word == "wd" and i + 1 < len(rest):
            kwargs["weight_decay"] = _parse(float, rest[i + 1], f"weight decay of {text!r}")
            i += 2
        else:
            raise ConfigError(
                f"Cannot read cohort member {text!r} at {rest[i]!r}; write e.g. plain20, "
                "resnet20, resnet20 skip 1,0.5,1, resnet20 no-BN zero-init, resnet20 wd 0."
            )
    return ModelConfig(arch=head, skip=skip, **kwargs)


@functools.cache  # get_type_hints evaluates every annotation's string: ~0.3 ms a config
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _parse(tp: Any, raw: Any, key: str) -> Any:
    """Coerce ``raw`` (a string from a URL/CLI, or a JSON value) to the field type ``tp``."""
    if isinstance(raw, str):
        raw = raw.strip()
    try:
        if type(None) in typing.get_args(tp):  # ``float | None``: empty means None
            if raw is None or raw == "" or str(raw).lower() == "none":
                return None
            (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
            return _parse(inner, raw, key)
        if tp == tuple[ModelConfig, ...]:
            items = raw if isinstance(raw, list | tuple) else str(raw).split(";")
            return tuple(
                v
                if isinstance(v, ModelConfig)
                else _from_dict(ModelConfig, v)
                if isinstance(v, Mapping)
                else parse_member(str(v))
                for v in items
                if isinstance(v, ModelConfig | Mapping) or str(v).strip()
            )
        if typing.get_origin(tp) is tuple:
            item_tp = typing.get_args(tp)[0]
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(_parse(item_tp, v, key) for v in items if str(v).strip())
        if tp is bool:
            text = str(raw).lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if tp is int:
            value = float(raw)
            if not value.is_integer():
                raise ValueError(raw)
            return int(value)
        if tp is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
            return value
        if tp is str:
            return str(raw)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"Bad value for {key}: {raw!r}.") from None
    raise ConfigError(f"Unsupported type for {key}.")


def _set(obj: Any, path: list[str], raw: Any, key: str) -> Any:
    names = {f.name for f in fields(obj)}
    head = path[0]
    if head not in names:
        raise ConfigError(f"Unknown setting {key!r}. Known: {', '.join(config_keys())}.")
    current = getattr(obj, head)
    if len(path) == 1:
        if dataclasses.is_dataclass(current):
            raise ConfigError(f"{key!r} is a group; set one of its fields, e.g. {key}.…")
        value = _parse(_field_types(type(obj))[head], raw, key)
    else:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"Unknown setting {key!r}.")
        value = _set(current, path[1:], raw, key)
    return dataclasses.replace(obj, **{head: value})


def _from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"Expected a mapping for {cls.__name__}, got {type(data).__name__}.")
    types_ = _field_types(cls)
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        tp = types_[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[f.name] = _from_dict(tp, data[f.name])
        else:
            kwargs[f.name] = _parse(tp, data[f.name], f.name)
    return cls(**kwargs)
