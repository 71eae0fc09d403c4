"""What actually ran: the changes that altered a cohort's members after they were built.

A verdict compares members as the experiment built them. Every skip switch, learning-rate
factor and BatchNorm mode a run applied is an event (from the app's live controls or from the
run's own schedule); replaying them gives, for each member, the steps from which its setup
differs from how it was built. A verdict then either judges the experiment that ran (the
pull-skips verdict judges whichever pull had an untouched twin beside it) or says that it
cannot, naming the change.

A change that leaves a member as it was (skips switched on in a net that has them on, a
BatchNorm mode for a net without BatchNorm) alters nothing and is not listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..archs import stage_count
from ..config import TrainConfig
from ..controls import Change, MemberState, member_states, recorded_changes
from ..store import Event


@dataclass(frozen=True)
class Alteration:
    """``change`` made ``member`` differ from its previous state, from step ``step + 1``."""

    step: int
    member: int
    change: Change
    source: str  # "app" (a live control) or "schedule" (the run's config)
    state: MemberState  # the member's state after the change
    event: int  # the event's id: one change to every member is one event

    @property
    def fair(self) -> bool:
        """The same learning-rate factor or BatchNorm mode for every member keeps a comparison
        fair (every member gets it); a skip change never does, since it changes what the
        experiment compares (residual against plain, one shortcut scale against another)."""
        return self.change.member is None and self.change.kind in ("lr", "bn")

    def describe(self, names: Sequence[str]) -> str:
        """``stage 3 skips off (×0) · resnet20, from step 32 (a live change)``."""
        how = "a live change" if self.source == "app" else "scheduled"
        return f"{self.change.describe(names)}, from step {self.step + 1} ({how})"


def _as_built(state: MemberState, built: MemberState, batchnorm: bool) -> MemberState:
    """``state`` with what cannot matter for this member set to how it was built."""
    return (
        state
        if batchnorm
        else MemberState(state.stages, state.blocks, state.lr_factor, built.bn_mode)
    )


def built_states(cfg: TrainConfig) -> list[MemberState]:
    """Each member's state as configured, before any change."""
    return member_states(*_shape(cfg), [])


def _shape(cfg: TrainConfig) -> tuple[list[tuple[float, ...]], list[int]]:
    return [m.skip for m in cfg.members], [stage_count(m.arch) for m in cfg.members]


def alterations(events: Iterable[Event], cfg: TrainConfig) -> list[Alteration]:
    """Every change that altered a member, in the order applied."""
    skips, counts = _shape(cfg)
    built = built_states(cfg)
    now = list(built)
    applied: list[list[Change]] = [[] for _ in cfg.members]  # what reached each member
    out: list[Alteration] = []
    for e, change in recorded_changes(events):
        missed = set(e.payload.get("not_applied") or ())  # members that could not take it
        for i, m in enumerate(cfg.members):
            if i in missed or (change.member is not None and change.member != i):
                continue
            applied[i].append(replace(change, member=None))
            (after,) = member_states([skips[i]], [counts[i]], applied[i])
            state = _as_built(after, built[i], m.batchnorm)
            if state != now[i]:
                now[i] = state
                source = e.payload.get("source", "app")
                out.append(Alteration(e.step, i, change, source, state, e.id))
    return out


def touching(
    alts: Iterable[Alteration], members: Iterable[int], *, through: int | None = None
) -> list[Alteration]:
    """The alterations of ``members`` that act at some step up to ``through`` (all if ``None``)."""
    wanted = set(members)
    return [a for a in alts if a.member in wanted and (through is None or a.step < through)]


def listed(alts: Sequence[Alteration], names: Sequence[str]) -> str:
    """One phrase per change (a change to every member is named once)."""
    seen: dict[int, Alteration] = {}
    for a in alts:
        seen.setdefault(a.event, a)
    return "; ".join(a.describe(names) for a in seen.values())


def cannot_judge(alts: Sequence[Alteration], names: Sequence[str]) -> str:
    """Why a verdict cannot judge a run whose compared members ``alts`` altered."""
    return (
        f"Cannot judge this run as the experiment: {listed(alts, names)} changed a net it "
        "compares, so the nets that trained are not the ones the experiment sets side by side. "
        "The charts show what this run did; start a new run without that change to test the "
        "published effect."
    )


def fair_note(alts: Sequence[Alteration], names: Sequence[str]) -> str:
    """The sentence a verdict adds when every member had the same change."""
    if not alts:
        return ""
    return (
        f" Every member had the same change ({listed(alts, names)}), so the comparison stays fair."
    )
