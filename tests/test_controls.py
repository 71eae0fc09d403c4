"""Live and scheduled controls: reading them, describing them, replaying them into state."""

from __future__ import annotations

import pytest

from resnet_viz.controls import Change, member_states, parse_scheduled, stage_of
from resnet_viz.errors import ConfigError


def test_scheduled_controls_read_back():
    s = parse_scheduled("35% skip 0 stage2 member1", members=2)
    assert s.change == Change("skip", 0.0, stage=2, member=1)
    assert s.at(200) == 70
    s = parse_scheduled("120 skip 0.5 layer2.1")
    assert s.change == Change("skip", 0.5, block="layer2.1") and s.at(1000) == 120
    assert parse_scheduled("50% lr 0.1").change == Change("lr", 0.1)
    assert parse_scheduled("50% bn frozen member0").change == Change("bn", "frozen", member=0)


@pytest.mark.parametrize(
    "text",
    ["skip 0", "0% skip 0", "100% skip 0", "-3 skip 0", "10% jump 1", "10% skip 0 here"],
)
def test_unreadable_scheduled_controls(text):
    with pytest.raises(ConfigError):
        parse_scheduled(text)


@pytest.mark.parametrize(
    ("kind", "value", "kw", "match"),
    [
        ("skip", 2.5, {}, "between 0 and 2"),
        ("skip", "x", {}, "needs a number"),
        ("lr", 0, {}, "factor"),
        ("bn", "off", {}, "BatchNorm mode"),
        ("lr", 1, {"stage": 1}, "Only skip"),
        ("skip", 1, {"stage": 0}, "count from 1"),
    ],
)
def test_bad_changes(kind, value, kw, match):
    with pytest.raises(ConfigError, match=match):
        Change(kind, value, **kw)


def test_payload_round_trip_and_descriptions():
    change = Change("skip", 0, stage=2, member=1)
    assert Change.from_control("skip", change.payload()) == change
    assert change.describe(["resnet20", "plain20"]) == "stage 2 skips off (×0) · plain20"
    assert change.short() == "stage2 ×0"
    assert Change("skip", 0.5, block="layer3.1").describe() == (
        "block layer3.1 skips scaled (×0.5) · all members"
    )
    assert Change("lr", 10).short() == "lr ×10"
    assert Change("bn", "frozen").short() == "BN frozen"


def test_stage_of_block_names():
    assert stage_of("layer2.1") == 2 and stage_of("layer4.0") == 4 and stage_of("fc") is None


def test_member_states_replay_changes_in_order():
    changes = [
        Change("skip", 0, stage=2),  # everyone
        Change("skip", 0.5, block="layer3.1", member=1),
        Change("lr", 0.1, member=0),
        Change("bn", "frozen"),
        Change("skip", 1, stage=2, member=0),  # back on for member 0 only
    ]
    a, b = member_states([(1.0,), (1.0, 1.0, 0.0)], [3, 3], changes)
    assert a.stages == (1.0, 1.0, 1.0) and a.blocks == () and a.lr_factor == 0.1
    assert b.stages == (1.0, 0.0, None) and b.blocks == (("layer3.1", 0.5),)
    assert (a.bn_mode, b.bn_mode, b.lr_factor) == ("frozen", "frozen", 1.0)
    assert b.describe() == "skips 1,0,mixed (layer3.1 ×0.5) · lr ×1 · BN frozen"
    assert b.describe(batchnorm=False) == "skips 1,0,mixed (layer3.1 ×0.5) · lr ×1 · no BN"
    (c,) = member_states([(1.0,)], [3], [Change("skip", 0.5, block="layer2.0"), Change("skip", 0)])
    assert c.stages == (0.0, 0.0, 0.0) and c.blocks == ()  # "every block" overrides blocks


def test_recorded_changes_reads_change_events_and_skips_the_rest():
    from types import SimpleNamespace as Ev

    from resnet_viz.controls import recorded_changes

    events = [
        Ev(kind="skip", payload={"value": 0.0, "stage": 2, "member": 1}),
        Ev(kind="info", payload={}),
        Ev(kind="lr", payload={"value": "fast"}),  # no longer reads as a change
        Ev(kind="bn", payload={"value": "frozen"}),
    ]
    found = recorded_changes(events)
    assert [e for e, _ in found] == [events[0], events[3]]
    assert [c.short() for _, c in found] == ["stage2 ×0", "BN frozen"]
