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


def _change(store, run_id, step, kind="skip", value=0.0, member=1, source="schedule", **where):
    payload = {"value": value, "member": member, "source": source, **where}
    store.add_event(run_id, kind, "x", step=step, member=member, payload=payload)


def _pull_run(store, twin_loss=0.5, jump=2.0):
    cfg = TrainConfig().with_overrides({"experiment": "pull-skips", "cohort": "resnet8;resnet8"})
    run_id = record_run(store, cfg)
    twin = np.full(100, twin_loss)
    pulled = twin.copy()
    pulled[30:60] = jump  # the jump while stage 2 has no skips
    _losses(store, run_id, 0, twin)
    _losses(store, run_id, 1, pulled)
    return run_id, cfg


def test_pull_skips(store):
    run_id, cfg = _pull_run(store)
    _change(store, run_id, 30, stage=2)
    _change(store, run_id, 60, value=1.0, stage=2)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True
    assert "4.0× that of its untouched twin resnet8 (hurt)" in result.text
    assert "ended at 0.500 vs the twin's 0.500: recovered" in result.text
    assert "in resnet8 #2, from step 31" in result.text
    assert result.figures["recovered"] is True
    assert (result.figures["pulled"], result.figures["twin"]) == (1, 0)


def test_pull_skips_a_live_change_to_the_twin_before_the_pull_cannot_be_judged(store):
    """The issue's case: the twin (member 0) lost stage 3's skips live before the scheduled
    pull of member 1. That pull has no untouched twin and is not judged; the live pull is,
    since member 1 stayed untouched while it acted, and the final losses are not compared."""
    run_id, cfg = _pull_run(store)
    _change(store, run_id, 10, member=0, source="app", stage=3)
    _change(store, run_id, 30, stage=2)
    _change(store, run_id, 60, value=1.0, stage=2)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.text.startswith("Pulling the skips of stage 3 in resnet8, from step 11")
    assert result.reproduced is False  # the data did not jump after step 10
    assert "final losses are not compared: the twin changed afterwards" in result.text
    assert "stage 2 skips off (×0) · resnet8 #2, from step 31 (scheduled)" in result.text
    assert "pull of stage 2 in resnet8 #2, from step 31, is not judged" in result.text
    assert (result.figures["pulled"], result.figures["recovered"]) == (0, None)


def test_pull_skips_with_both_members_changed_at_once_cannot_judge(store):
    run_id, cfg = _pull_run(store)
    _change(store, run_id, 30, member=None, source="app", stage=2)  # both members' skips
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is None
    assert result.text.startswith("Cannot judge: no pull of the skips had an identical")
    assert "stage 2 skips off (×0) · all members, from step 31 (a live change)" in result.text
    assert "Final train loss: resnet8 0.500, resnet8 #2 0.500" in result.text


def test_pull_skips_the_twin_changed_after_the_pull_leaves_recovery_unjudged(store):
    run_id, cfg = _pull_run(store)
    _change(store, run_id, 30, stage=2)
    _change(store, run_id, 45, kind="lr", value=0.1, member=0, source="app")
    _change(store, run_id, 60, value=1.0, stage=2)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True  # the hurt window (31–35) is before the twin's change
    assert "whether it recovered cannot be judged" in result.text
    assert "learning rate ×0.1 of its schedule · resnet8, from step 46" in result.text
    assert result.figures["recovered"] is None


def test_pull_skips_a_live_pull_is_the_experiment_when_nothing_was_scheduled(store):
    run_id, cfg = _pull_run(store)
    _change(store, run_id, 30, source="app", stage=2)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True and "the skips were not restored" in result.text


def test_pull_skips_no_op_changes_alter_nothing(store):
    run_id, cfg = _pull_run(store)
    _change(store, run_id, 5, value=1.0, member=0, source="app")  # skips on: they were on
    _change(store, run_id, 30, stage=2)
    _change(store, run_id, 60, value=1.0, stage=2)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True and result.figures["recovered"] is True
    assert "Also changed" not in result.text


def test_pull_skips_never_pulled(store):
    run_id, cfg = _pull_run(store)
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is None and "never pulled" in result.text


@pytest.mark.parametrize("member", [0, 3])
def test_a_live_skip_change_to_a_compared_member_cannot_be_judged(store, member):
    run_id, cfg = _run(store, "degradation", "plain20;plain56;resnet20;resnet56")
    for m, loss in enumerate([0.5, 0.6, 0.35, 0.3]):
        _losses(store, run_id, m, [loss] * 20)
    _change(store, run_id, 10, value=1.0 if member == 0 else 0.0, member=member, source="app")
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is None
    assert result.text.startswith("Cannot judge this run as the experiment: every block skips")
    assert cfg.member_names()[member] in result.text and "a live change" in result.text


def test_the_same_lr_change_for_every_member_keeps_the_comparison_fair(store):
    run_id, cfg = _run(store, "degradation", "plain20;plain56;resnet20;resnet56")
    for m, loss in enumerate([0.5, 0.6, 0.35, 0.3]):
        _losses(store, run_id, m, [loss] * 20)
    _change(store, run_id, 10, kind="lr", value=0.1, member=None, source="app")
    result = verdict(store, run_id, cfg, _summary(cfg))
    assert result.reproduced is True
    assert "Every member had the same change (learning rate ×0.1" in result.text
    _change(store, run_id, 12, kind="lr", value=0.3, member=1, source="app")  # one member only
    assert verdict(store, run_id, cfg, _summary(cfg)).reproduced is None


def test_a_change_no_member_could_take_alters_nothing(store):
    run_id, cfg = _run(store, "no-bn", "plain32 no-BN;resnet32 no-BN zero-init")
    _losses(store, run_id, 0, [2.3] * 20, grads=(1e-4, 1.0, 1.0))
    _losses(store, run_id, 1, [0.3] * 20)
    _change(store, run_id, 5, kind="bn", value="frozen", member=0, source="app")  # no BN in it
    payload = {"value": 0.0, "block": "layer1.9", "member": 1, "not_applied": [1]}
    store.add_event(run_id, "skip", "x", step=6, member=1, payload=payload)
    result = verdict(store, run_id, cfg, _summary(cfg, m1={"best_val_acc": 0.85}))
    assert result.reproduced is True


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


def _fit_run(store, train=(1.0, 1.0), val=(0.85, 0.92), lam=(8.0, 16.0)):
    """An overfitting run: member 0 without weight decay, member 1 with 5e-3."""
    from resnet_viz import keys

    run_id, cfg = _run(store, "overfitting", "resnet20 wd 0;resnet20 wd 0.005")
    for m in (0, 1):
        store.write_batch(run_id, step=100, scalars=[(m, keys.VAL_ACC, 100, val[m])])
        store.put_analysis(run_id, m, keys.TRAIN_FIT, {"accuracy": train[m], "loss": 0.01})
        store.put_analysis(
            run_id, m, keys.SHARPNESS,
            {"max_eigenvalue": lam[m], "min_eigenvalue": -0.1, "ratio": 0.1 / lam[m], "trace": 9},
        )  # fmt: skip
    return run_id, cfg


def test_overfitting_weight_decay_closes_the_gap_and_flatness_is_judged(store):
    run_id, cfg = _fit_run(store)
    v = verdict(store, run_id, cfg, _summary(cfg))
    assert v.reproduced is True
    assert "resnet20 wd 0: train 100.0%, validation 85.0%, gap 15.0 points" in v.text
    assert "Weight decay closes the gap here (by 7.0 points)" in v.text
    # The better-generalising net (wd 0.005) sits in the sharper minimum by λmax, and the
    # verdict says why λmax can mislead.
    assert "resnet20 wd 0.005's, is the SHARPER one (λmax 16 against 8 for resnet20 wd 0)" in v.text
    assert "not scale-invariant" in v.text and v.figures["flatter_generalises_better"] is False


def test_overfitting_no_closed_gap_and_the_flatter_minimum(store):
    run_id, cfg = _fit_run(store, val=(0.90, 0.86), lam=(8.0, 16.0))
    v = verdict(store, run_id, cfg, _summary(cfg))
    assert v.reproduced is False and "did NOT close the gap" in v.text
    assert "resnet20 wd 0's, is the flatter one" in v.text and "scale-invariant" not in v.text


def test_overfitting_equal_generalisation_leaves_flatness_untested(store):
    run_id, cfg = _fit_run(store, val=(0.90, 0.91))
    v = verdict(store, run_id, cfg, _summary(cfg))
    assert "generalise about equally" in v.text
    assert v.figures["flatter_generalises_better"] is None


def test_overfitting_needs_both_members_and_their_measurements(store):
    run_id, cfg = _run(store, "overfitting", "resnet20;resnet20 wd 0.01")  # both decay
    assert verdict(store, run_id, cfg, _summary(cfg)).reproduced is None
    run_id, cfg = _run(store, "overfitting", "resnet20 wd 0;resnet20")
    v = verdict(store, run_id, cfg, _summary(cfg))
    assert v.reproduced is None and "No training-set accuracy" in v.text
