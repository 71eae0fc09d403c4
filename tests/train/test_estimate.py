"""Time estimates before Start: work counted in FLOPs, speed from earlier runs or a timing."""

from __future__ import annotations

import dataclasses

import pytest

from resnet_viz.config import ModelConfig, TrainConfig
from resnet_viz.store import RunRecord
from resnet_viz.train.estimate import Estimate, estimate, forward_flops, from_runs, work


def test_deeper_nets_and_more_members_are_more_work():
    assert forward_flops(ModelConfig(arch="resnet20"), 32) > forward_flops(
        ModelConfig(arch="resnet8"), 32
    )
    one = TrainConfig().with_overrides({"epochs": 1})
    two = one.with_overrides({"cohort": "plain8"})
    assert work(two) == pytest.approx(2 * work(one), rel=0.05)  # a plain twin: the same convs
    assert work(one.with_overrides({"epochs": 2})) == pytest.approx(2 * work(one))
    folder = {"data.dataset": "folder", "data.folder": "pets", "data.train_size": 0}
    assert work(one.with_overrides(folder)) is None


def _finished(cfg: TrainConfig, seconds: float, device: str = "cpu", status="finished"):
    fields = {f.name: None for f in dataclasses.fields(RunRecord)}
    return RunRecord(
        **{**fields, "id": "r", "name": "r", "status": status, "config": cfg, "device": device,
           "summary": {"seconds": seconds, "steps": 10}, "created": 0.0, "step": 10,
           "members": ()}
    )  # fmt: skip


def test_earlier_finished_runs_on_the_same_device_set_the_speed():
    cfg = TrainConfig().with_overrides({"epochs": 1})
    runs = [
        _finished(cfg, 30.0),
        _finished(cfg, 40.0),
        _finished(cfg, 50.0),
        _finished(cfg, 1.0, device="cuda:0"),  # another kind of device
        _finished(cfg, 999.0, status="stopped"),  # stopped early: says nothing of the time
    ]
    assert from_runs(runs, "cpu")[1] == 3
    found = estimate(cfg.with_overrides({"epochs": 2}), runs, "cpu")
    assert found.seconds == pytest.approx(80.0) and found.runs == 3
    assert found.describe() == "about 1 min (from 3 earlier runs on this machine)"


def test_without_earlier_runs_a_short_timing_gives_the_speed():
    found = estimate(TrainConfig().with_overrides({"epochs": 1}), [], "cpu")
    assert found.basis == "a short timing" and found.seconds > 0
    assert "from a short timing" in found.describe()
    assert Estimate(7200.0, "a short timing").describe().startswith("about 2.0 h")
    assert (
        Estimate(20.0, "earlier runs", 1).describe()
        == "about 20 s (from 1 earlier run on this machine)"
    )
