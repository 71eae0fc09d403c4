"""Live changes to a training cohort: skip switches, learning rate, BatchNorm mode.

The Skip Lab writes a control row (``kind`` + JSON payload) to the run store; the worker polls
at every step, applies it before the next one and records an event, which every chart marks.
A run's config can also schedule changes at set points of training (``TrainConfig.controls``),
written as ``"<when> <kind> <value> [<where>] [member<i>]"``:

    35% skip 0 stage2 member1    stage 2's shortcuts off for member 1 at 35% of the steps
    65% skip 1 stage2 member1    … and back on at 65%
    120 skip 0.5 layer2.1        block layer2.1's shortcut scaled by 0.5 at step 120, all members
    50% lr 0.1                   the learning rate ×0.1 from half-way (the schedule keeps its shape)
    50% bn frozen                BatchNorm uses its running statistics from half-way

BatchNorm modes. ``batch`` is ordinary training: each layer normalises with the statistics of
the current batch (Ioffe & Szegedy 2015). ``frozen`` normalises with the running statistics
instead, as at test time, while the scale and shift still learn (the "frozen BN" of detection
fine-tuning). Freezing takes away what BN does *during* training: it no longer re-centres and
re-scales every layer's input at each step, so as the weights move, activations drift. Deep
plain nets suffer first; residual nets, whose identity paths carry the signal, much less.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .errors import ConfigError

KINDS = ("skip", "lr", "bn")
BN_MODES = ("batch", "frozen")


@dataclass(frozen=True)
class Change:
    """One change to apply: ``kind`` with ``value`` (skip scale, lr factor or BN mode), where
    (a 1-based ``stage`` or a ``block`` name; neither = every block) and to whom (``member``
    index; ``None`` = every member)."""

    kind: str
    value: float | str
    stage: int | None = None
    block: str | None = None
    member: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown control {self.kind!r}; one of {', '.join(KINDS)}.")
        if self.kind == "bn":
            if self.value not in BN_MODES:
                raise ConfigError(f"BatchNorm mode must be one of {', '.join(BN_MODES)}.")
        else:
            try:
                value = float(self.value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"A {self.kind} control needs a number, got {self.value!r}."
                ) from None
            if self.kind == "skip" and not 0 <= value <= 2:
                raise ConfigError(f"A shortcut scale must be between 0 and 2, got {value:g}.")
            if self.kind == "lr" and not 0 < value <= 100:
                raise ConfigError(f"A learning-rate factor must be in (0, 100], got {value:g}.")
            object.__setattr__(self, "value", value)
        if self.kind != "skip" and (self.stage is not None or self.block is not None):
            raise ConfigError("Only skip controls take a stage or a block.")
        if self.stage is not None and self.stage < 1:
            raise ConfigError(f"Stages count from 1, got {self.stage}.")

    def payload(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "stage": self.stage,
            "block": self.block,
            "member": self.member,
        }

    @classmethod
    def from_control(cls, kind: str, payload: dict[str, Any]) -> Change:
        """A control row's kind and payload, as the UI writes them."""
        stage = payload.get("stage")
        member = payload.get("member")
        return cls(
            kind,
            payload.get("value"),
            stage=None if stage is None else int(stage),
            block=payload.get("block") or None,
            member=None if member is None else int(member),
        )

    def where(self) -> str:
        if self.kind != "skip":
            return ""
        if self.block:
            return f"block {self.block}"
        return f"stage {self.stage}" if self.stage else "every block"

    def describe(self, names: list[str] | tuple[str, ...] = ()) -> str:
        """``stage 2 skips off (×0) · plain20``, ``lr ×0.1 · all members``."""
        if self.kind == "skip":
            state = {1.0: "on", 0.0: "off"}.get(float(self.value), "scaled")
            what = f"{self.where()} skips {state} (×{self.value:g})"
        elif self.kind == "lr":
            what = f"learning rate ×{self.value:g} of its schedule"
        else:
            what = f"BatchNorm {'batch' if self.value == 'batch' else 'frozen running'} statistics"
        if self.member is None:
            who = "all members"
        elif self.member < len(names):
            who = names[self.member]
        else:
            who = f"member {self.member}"
        return f"{what} · {who}"

    def short(self) -> str:
        """A chart marker label: ``stage2 ×0``, ``lr ×0.1``, ``BN frozen``."""
        if self.kind == "skip":
            where = self.block or (f"stage{self.stage}" if self.stage else "all")
            return f"{where} ×{self.value:g}"
        if self.kind == "lr":
            return f"lr ×{self.value:g}"
        return f"BN {self.value}"


class Recorded(Protocol):
    """What a change event holds (``store.Event`` has it): its kind and its JSON payload."""

    kind: str
    payload: dict[str, Any]


E = TypeVar("E", bound=Recorded)


def recorded_changes(events: Iterable[E]) -> list[tuple[E, Change]]:
    """The events that record a change, each with the change read back from its payload;
    other events, and payloads that no longer read as a change, are skipped."""
    out = []
    for e in events:
        if e.kind not in KINDS:
            continue
        try:
            out.append((e, Change.from_control(e.kind, e.payload)))
        except (TypeError, ValueError):
            continue
    return out


@dataclass(frozen=True)
class Scheduled:
    """A change at a set point: ``fraction`` of the run's steps, or an absolute ``step``."""

    change: Change
    fraction: float | None = None
    step: int | None = None

    def at(self, total_steps: int) -> int:
        if self.step is not None:
            return self.step
        return max(1, round(float(self.fraction) * total_steps))


def parse_scheduled(text: str, members: int | None = None) -> Scheduled:
    """Read ``"35% skip 0 stage2 member1"`` (see the module docstring)."""
    words = text.split()
    usage = (
        f"Cannot read the scheduled control {text!r}: write '<when> <kind> <value> [stageN | "
        "block name] [memberI]', e.g. '35% skip 0 stage2 member1' or '50% lr 0.1'."
    )
    if len(words) < 3:
        raise ConfigError(usage)
    when, kind, value, rest = words[0], words[1].lower(), words[2], words[3:]
    try:
        if when.endswith("%"):
            fraction, step = float(when[:-1]) / 100, None
            if not 0 < fraction < 1:
                raise ValueError(when)
        else:
            fraction, step = None, int(when)
            if step < 1:
                raise ValueError(when)
    except ValueError:
        raise ConfigError(usage) from None
    stage = block = member = None
    for word in rest:
        low = word.lower()
        if low.startswith("member") and low[6:].isdigit():
            member = int(low[6:])
        elif low.startswith("stage") and low[5:].isdigit():
            stage = int(low[5:])
        elif low.startswith("layer"):
            block = word
        else:
            raise ConfigError(usage)
    if members is not None and member is not None and member >= members:
        raise ConfigError(f"{text!r} names member {member}, but the run has {members}.")
    change = Change(kind, value, stage=stage, block=block, member=member)
    return Scheduled(change, fraction, step)


def stage_of(block: str) -> int | None:
    """``layer2.1`` → 2: the stage of a residual block named as torchvision names them."""
    head = block.split(".", 1)[0]
    return int(head[5:]) if head.startswith("layer") and head[5:].isdigit() else None


@dataclass(frozen=True)
class MemberState:
    """What the live controls have made of one member: per-stage shortcut scales (``None`` for a
    stage whose blocks differ), single blocks set apart, lr factor and BatchNorm mode."""

    stages: tuple[float | None, ...]
    blocks: tuple[tuple[str, float], ...]
    lr_factor: float
    bn_mode: str

    def describe(self, *, batchnorm: bool = True) -> str:
        """``skips 1,0,1 · lr ×0.5 · BN frozen``; ``no BN`` for a member built without it."""
        skips = ",".join("mixed" if s is None else f"{s:g}" for s in self.stages)
        text = f"skips {skips}"
        if self.blocks:
            text += " (" + ", ".join(f"{b} ×{v:g}" for b, v in self.blocks) + ")"
        return f"{text} · lr ×{self.lr_factor:g} · {f'BN {self.bn_mode}' if batchnorm else 'no BN'}"


def member_states(
    skips: list[tuple[float, ...]], n_stages: list[int], changes: list[Change]
) -> list[MemberState]:
    """Replay ``changes`` (applied in order) over each member's configured per-stage skips."""
    states = []
    for index, (skip, count) in enumerate(zip(skips, n_stages, strict=True)):
        stage_vals: list[float | None] = list(skip * count if len(skip) == 1 else skip)[:count]
        blocks: dict[str, float] = {}
        lr, bn = 1.0, "batch"
        for ch in changes:
            if ch.member is not None and ch.member != index:
                continue
            if ch.kind == "lr":
                lr = float(ch.value)
            elif ch.kind == "bn":
                bn = str(ch.value)
            elif ch.block:
                stage = stage_of(ch.block)
                if stage is not None and stage <= count:
                    blocks[ch.block] = float(ch.value)
            elif ch.stage:
                if ch.stage <= count:
                    stage_vals[ch.stage - 1] = float(ch.value)
                    blocks = {b: v for b, v in blocks.items() if stage_of(b) != ch.stage}
            else:
                stage_vals, blocks = [float(ch.value)] * count, {}
        for b, v in blocks.items():
            stage = stage_of(b)
            if stage is not None and stage_vals[stage - 1] != v:
                stage_vals[stage - 1] = None
        kept = tuple(sorted((b, v) for b, v in blocks.items()))
        states.append(MemberState(tuple(stage_vals), kept, lr, bn))
    return states
