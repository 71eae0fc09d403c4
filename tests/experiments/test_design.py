"""What actually ran: replaying a run's change events gives each member's departures from how
it was built, and nothing for changes that leave a member as it was."""

from __future__ import annotations

from resnet_viz.config import TrainConfig
from resnet_viz.experiments.design import alterations, built_states, listed
from resnet_viz.store import Event


def _cfg(members: str) -> TrainConfig:
    first, *rest = members.split(";")
    model = TrainConfig().with_overrides({"cohort": first}).cohort[0]
    cfg = TrainConfig().with_overrides({"cohort": ";".join(rest)})
    return TrainConfig.from_dict({**cfg.to_dict(), "model": model.__dict__})


def _event(i, step, kind="skip", value=0.0, member=None, **extra) -> Event:
    payload = {"value": value, "member": member, "source": "app", **extra}
    return Event(i, member, step, 0.0, kind, "", payload)


def test_each_altered_member_is_listed_once_per_change():
    cfg = _cfg("resnet8;plain8")
    alts = alterations([_event(1, 10, stage=2)], cfg)
    assert [(a.member, a.step, a.source) for a in alts] == [(0, 10, "app")]  # plain8: no skips
    assert alts[0].state.stages == (1.0, 0.0, 1.0)
    names = cfg.member_names()
    assert (
        listed(alts, names) == "stage 2 skips off (×0) · all members, from step 11 (a live change)"
    )


def test_changes_that_leave_a_member_as_it_was_alter_nothing():
    cfg = _cfg("resnet8 no-BN;plain8")
    events = [
        _event(1, 5, value=1.0, member=0),  # skips on in a net whose skips are on
        _event(2, 6, kind="bn", value="frozen", member=0),  # no BatchNorm to freeze
        _event(3, 7, value=0.0, member=1),  # plain: already no skips
        _event(4, 8, value=0.0, member=0, block="layer1.0", not_applied=[0]),  # it could not
        _event(5, 9, kind="lr", value=1.0),  # ×1: the schedule as it was
        _event(6, 10, kind="unrelated", value=1.0),
    ]
    assert alterations(events, cfg) == []


def test_a_restore_returns_the_member_to_its_built_state():
    cfg = _cfg("resnet8;resnet8")
    alts = alterations(
        [_event(1, 10, stage=2, member=1), _event(2, 20, value=1.0, stage=2, member=1)], cfg
    )
    assert [a.step for a in alts] == [10, 20]
    assert alts[-1].state == built_states(cfg)[1] and alts[0].state != built_states(cfg)[1]


def test_only_a_shared_lr_or_bn_change_is_fair():
    cfg = _cfg("resnet8;plain8")
    fair = alterations([_event(1, 3, kind="lr", value=0.1)], cfg)
    assert all(a.fair for a in fair) and len(fair) == 2
    assert not any(a.fair for a in alterations([_event(1, 3, kind="lr", value=0.1, member=0)], cfg))
    assert not any(a.fair for a in alterations([_event(1, 3, value=1.0)], cfg))
