"""Verdicts are computed from a run's own numbers, both ways: reproduced and not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resnet_viz.config import TrainConfig
from resnet_viz.experiments import final_loss, verdict
from resnet_viz.keys import RUN_LEVEL
from resnet_viz.store import RunStore
from resnet_viz.train.launcher import record_run

CONV = ["conv1", "mid", "fc"]


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _run(store: RunStore, experiment: str, members: str, **overrides) -> tuple[str, TrainConfig]:
    first, *rest = members.split(";")
    model = TrainConfig().with_overrides({"cohort": first}).cohort[0]
    cfg = TrainConfig().with_overrides({"experiment": experiment, "cohort": ";".join(rest)})
    cfg = TrainConfig.from_dict({**cfg.to_dict(), "model": model.__dict__})
    return record_run(store, cfg), cfg


def _losses(store, run_id, member, values, grads=(1.0, 1.0, 1.0)):
    values = np.asarray(values, dtype=float)
    store.set_layers(run_id, member, {"conv": CONV, "block": []})
    store.write_batch(
        run_id,
        step=len(values),
        scalars=[(member, "train/loss", s + 1, v) for s, v in enumerate(values)],
        layer_stats=[
            (member, "grad_norm", s + 1, np.array(grads, np.float32)) for s in range(len(values))
        ],
    )


def _summary(cfg, **per_member):
    models = [{"member": i, "name": m.label, "best_val_acc": 0.5, "diverged_at": None}
              for i, m in enumerate(cfg.members)]  # fmt: skip
    for i, fields in per_member.items():
        models[int(i[1:])].update(fields)
    return {"steps": 100, "models": models}


def test_final_loss_is_the_mean_of_the_last_tenth(store):
    run_id, _ = _run(store, "", "resnet8")
    _losses(store, run_id, 0, np.r_[np.full(90, 5.0), np.full(10, 1.0)])
    assert final_loss(store, run_id, 0) == 1.0
    _losses(store, run_id, 1, [1.0, 2.0, np.nan])
    assert math.isinf(final_loss(store, run_id, 1))  # a NaN at the end = diverged
    assert math.isnan(final_loss(store, run_id, 5))


@pytest.mark.parametrize(
    ("deep_plain", "deep_res", "reproduced", "phrase"),
    [
        (0.6, 0.3, True, "degradation reproduced"),
        (0.6, 0.45, False, "has not caught up"),
        (0.4, 0.3, False, "did NOT reproduce"),
        (0.6, 0.362, True, "(within tolerance)"),  # ≤ 0.35 × 1.05 + 0.01
    ],
)
def test_degradation(store, deep_plain, deep_res, reproduced, phrase):
    run_id, cfg = _run(store, "degradation", "plain20;plain56;resnet20;resnet56")
    for member, loss in enumerate([0.5, deep_plain, 0.35, deep_res]):
        _losses(store, run_id, member, [loss] * 20)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is reproduced
    assert phrase in result.text
    assert f"deep plain plain56 final train loss {deep_plain:.3f}" in result.text
    assert result.figures["plain56"] == pytest.approx(deep_plain)


def test_degradation_needs_its_members(store):
    run_id, cfg = _run(store, "degradation", "plain20;resnet20")
    assert verdict(store, run_id, cfg, _summary(cfg)).reproduced is None


def test_no_bn(store):
    run_id, cfg = _run(store, "no-bn", "plain32 no-BN;resnet32 no-BN zero-init")
    _losses(store, run_id, 0, [2.3] * 20, grads=(1e-4, 1.0, 1.0))
    _losses(store, run_id, 1, [0.3] * 20)
    good = _summary(cfg, m1={"best_val_acc": 0.85})
    result = verdict(store, run_id, cfg, good)
    assert result.reproduced is True
    assert "vanishing at the start" in result.text and "85.0%" in result.text
    weak = _summary(cfg, m1={"best_val_acc": 0.5})
    assert verdict(store, run_id, cfg, weak).reproduced is False
    diverged = _summary(cfg, m0={"diverged_at": 12}, m1={"best_val_acc": 0.9})
    result = verdict(store, run_id, cfg, diverged)
    assert result.reproduced is True and "diverged at step 12" in result.text


def test_no_bn_dead_plain_net_counts_as_broken_and_says_so(store):
    run_id, cfg = _run(store, "no-bn", "plain32 no-BN;resnet32 no-BN zero-init")
    _losses(store, run_id, 0, [2.3] * 20, grads=(0.0, 0.0, 0.0))
    _losses(store, run_id, 1, [0.3] * 20)
    result = verdict(store, run_id, cfg, _summary(cfg, m1={"best_val_acc": 0.9}))
    assert result.reproduced is True
    assert "no gradient" in result.text and "dead at the end" in result.text
    assert "exploding" not in result.text


def test_no_bn_healthy_plain_net_does_not_reproduce(store):
    run_id, cfg = _run(store, "no-bn", "plain32 no-BN;resnet32 no-BN zero-init")
    _losses(store, run_id, 0, [2.3] * 20, grads=(0.3, 1.0, 1.0))
    _losses(store, run_id, 1, [0.3] * 20)
    result = verdict(store, run_id, cfg, _summary(cfg, m1={"best_val_acc": 0.9}))
    assert result.reproduced is False and "within two orders" in result.text


def test_break_shortcut(store):
    run_id, cfg = _run(store, "break-shortcut", "resnet20;resnet20 skip 0.5;plain20")
    for member, loss in enumerate([0.2, 0.5, 0.6]):
        _losses(store, run_id, member, [loss] * 10)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True and "×1: 0.200, ×0.5: 0.500, ×0: 0.600" in result.text
    _losses(store, run_id, 1, [0.1] * 30)  # now the scaled one is best
    assert verdict(store, run_id, cfg, _summary(cfg)).reproduced is False


def test_pull_skips(store):
    cfg = TrainConfig().with_overrides({"experiment": "pull-skips", "cohort": "resnet8"})
    run_id = record_run(store, cfg)
    twin = np.full(100, 0.5)
    pulled = twin.copy()
    pulled[30:60] = 2.0  # the jump while stage 2 has no skips
    _losses(store, run_id, 0, twin)
    _losses(store, run_id, 1, pulled)
    for step, value in ((30, 0.0), (60, 1.0)):
        store.add_event(run_id, "skip", "x", step=step, member=1, payload={"value": value})
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True
    assert "4.0× its untouched twin's (hurt)" in result.text and "recovered" in result.text
    assert result.figures["recovered"] is True


def test_shattering(store):
    run_id, cfg = _run(store, "shattering", "plain20;resnet20")
    _losses(store, run_id, 0, [1.0] * 20, grads=(2.0, 1.0, 1.0))
    _losses(store, run_id, 1, [0.5] * 20)
    sweep = {"depth": [8, 20], "plain": [0.8, 0.3], "residual": [0.85, 0.7]}
    store.put_analysis(run_id, RUN_LEVEL, "shattering_depth", sweep)
    store.put_analysis(run_id, 0, "shattering", {"lags": [1], "corr": [0.2]})
    store.put_analysis(run_id, 1, "shattering", {"lags": [1], "corr": [0.6]})
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True
    assert "healthy, not vanishing" in result.text and "0.80 → 0.30" in result.text
    store.put_analysis(run_id, RUN_LEVEL, "shattering_depth", {**sweep, "plain": [0.8, 0.75]})
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is False and "did not fall with depth" in result.text


def test_runs_that_are_no_experiment_get_no_verdict(store):
    run_id, cfg = _run(store, "", "resnet8")
    assert verdict(store, run_id, cfg, _summary(cfg)) is None


def test_verdict_dicts_are_strict_json(store):
    import json

    run_id, cfg = _run(store, "degradation", "plain20;plain56;resnet20;resnet56")
    for member, loss in enumerate([0.5, np.nan, 0.35, 0.3]):
        _losses(store, run_id, member, [0.5, loss])
    data = verdict(store, run_id, cfg, _summary(cfg)).to_dict()
    assert data["figures"]["plain56"] is None
    json.loads(json.dumps(data, allow_nan=False))
