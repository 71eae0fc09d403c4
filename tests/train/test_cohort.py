"""Cohorts: members trained in lockstep in one worker, shared initial weights, per-member
checkpoints, and live / scheduled controls applied at the next step and recorded as events."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet_viz.checkpoints import load_checkpoint
from resnet_viz.config import TrainConfig
from resnet_viz.models import residual_blocks
from resnet_viz.store import RunStore
from resnet_viz.train import Trainer
from resnet_viz.train.cohort import Member, build_members
from resnet_viz.train.launcher import record_run

TINY = {"data.train_size": 256, "data.val_size": 128, "batch_size": 64, "epochs": 1}


def tiny(**overrides) -> TrainConfig:
    return TrainConfig().with_overrides({**TINY, "log_every": 1, **overrides})


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def train(store: RunStore, cfg: TrainConfig, controls=()) -> tuple[str, dict]:
    run_id = record_run(store, cfg)
    for kind, payload in controls:  # already waiting when the first step ends
        store.add_control(run_id, kind, payload)
    return run_id, Trainer(cfg, store, run_id).run()


def losses(store: RunStore, run_id: str, member: int) -> np.ndarray:
    return store.scalars(run_id, "train/loss", member)[1]


def test_identical_members_produce_identical_losses(store):
    """Acceptance: lockstep. Same architecture and seed → the very same numbers every step."""
    run_id, summary = train(store, tiny(epochs=2, cohort="resnet8"))
    a, b = losses(store, run_id, 0), losses(store, run_id, 1)
    assert len(a) == 8 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    ga = store.layer_series(run_id, "grad_norm", 0).values
    np.testing.assert_array_equal(ga, store.layer_series(run_id, "grad_norm", 1).values)
    first, second = summary["models"]
    assert first["final_train_loss"] == second["final_train_loss"]
    assert first["best_val_acc"] == second["best_val_acc"]
    assert store.get_run(run_id).members == ("resnet8", "resnet8 #2")


def test_plain_twin_starts_from_the_residual_weights():
    cfg = tiny(cohort="plain8;resnet8 no-BN")
    members, notes = build_members(cfg, 10, torch.device("cpu"), total_steps=4)
    residual, plain, no_bn = (m.model.state_dict() for m in members)
    assert residual.keys() == plain.keys()
    assert all(torch.equal(residual[k], plain[k]) for k in residual)
    assert [b.skip_scale for _, b in residual_blocks(members[1].model)] == [0.0, 0.0, 0.0]
    # Without BN the parameters differ (conv biases, no BN): its own initialisation.
    assert no_bn.keys() != residual.keys()
    assert notes == ["plain8 starts from the same weights as resnet8."]


def test_zero_init_member_does_not_take_a_twins_weights():
    cfg = tiny(**{"model.skip": "0", "model.batchnorm": False}, cohort="resnet8 no-BN zero-init")
    members, notes = build_members(cfg, 10, torch.device("cpu"), total_steps=4)
    assert notes == []
    assert members[1].model.layer1[0].conv2.weight.abs().sum() == 0
    assert members[0].model.layer1[0].conv2.weight.abs().sum() > 0


def test_every_member_gets_a_checkpoint_and_a_summary_line(store):
    run_id, summary = train(store, tiny(cohort="plain8;resnet14"))
    assert [m["name"] for m in summary["models"]] == ["resnet8", "plain8", "resnet14"]
    assert [m["member"] for m in summary["models"]] == [0, 1, 2]
    for i, (arch, skip) in enumerate([("resnet8", 1.0), ("resnet8", 0.0), ("resnet14", 1.0)]):
        model, meta = load_checkpoint(store.checkpoint_path(run_id, i))
        assert meta["model"]["arch"] == arch and meta["member_index"] == i
        assert meta["model"]["skip"] == [skip]  # as configured: no live change
        assert meta["block_skip"] == [skip] * len(residual_blocks(model))
        assert {b.skip_scale for _, b in residual_blocks(model)} == {skip}
        assert meta["classes"][0] == "circle" and len(meta["mean"]) == 3
    assert store.get_run(run_id).members == ("resnet8", "plain8", "resnet14")
    assert store.member_layers(run_id, 2, "block")[-1] == "layer3.1"


def test_live_skip_change_acts_at_the_next_step_for_its_member_only(store):
    run_id, _ = train(
        store,
        tiny(epochs=2, cohort="resnet8"),
        controls=[("skip", {"value": 0, "stage": 2, "member": 1})],
    )
    a, b = losses(store, run_id, 0), losses(store, run_id, 1)
    assert a[0] == b[0]  # step 1 ran before the worker saw the control
    assert (a[1:] != b[1:]).all()  # from step 2 on, member 1 has no stage-2 shortcuts
    (event,) = [e for e in store.events(run_id) if e.kind == "skip"]
    assert (event.step, event.member) == (1, 1)
    assert event.message == "stage 2 skips off (×0) · resnet8 #2, from step 2."
    assert event.payload["label"] == "stage2 ×0" and event.payload["source"] == "app"
    (control,) = store.controls(run_id)
    assert control.applied_step == 1 and event.payload["requested_at"] == control.t
    assert event.t >= control.t
    _, meta = load_checkpoint(store.run_dir(run_id) / "model-1.safetensors")
    assert meta["block_skip"] == [1.0, 0.0, 1.0] and meta["model"]["skip"] == [1.0, 0.0, 1.0]
    model, _ = load_checkpoint(store.run_dir(run_id) / "model-1.safetensors")
    assert [b.skip_scale for _, b in residual_blocks(model)] == [1.0, 0.0, 1.0]


def test_block_change_is_kept_in_the_checkpoint(store):
    run_id, _ = train(store, tiny(), controls=[("skip", {"value": 0.5, "block": "layer3.0"})])
    model, meta = load_checkpoint(store.run_dir(run_id) / "model-0.safetensors")
    assert meta["block_skip"] == [1.0, 1.0, 0.5]
    assert [b.skip_scale for _, b in residual_blocks(model)] == [1.0, 1.0, 0.5]


def test_live_lr_and_batchnorm_controls(store):
    run_id, _ = train(
        store,
        tiny(epochs=2, cohort="resnet8;resnet8", **{"optim.schedule": "cosine"}),
        controls=[
            ("lr", {"value": 0.5, "member": 1}),
            ("bn", {"value": "frozen", "member": 2}),
        ],
    )
    lr0 = store.scalars(run_id, "lr", 0)[1]
    lr1 = store.scalars(run_id, "lr", 1)[1]
    assert lr1[0] == lr0[0]
    np.testing.assert_allclose(lr1[1:], 0.5 * lr0[1:])  # ×0.5 of the same cosine schedule
    a, c = losses(store, run_id, 0), losses(store, run_id, 2)
    assert a[0] == c[0] and (a[2:] != c[2:]).all()
    kinds = [(e.kind, e.member) for e in store.events(run_id) if e.kind in ("lr", "bn")]
    assert kinds == [("lr", 1), ("bn", 2)]


def test_frozen_batchnorm_stops_updating_running_statistics():
    cfg = tiny()
    (member,), _ = build_members(cfg, 10, torch.device("cpu"), total_steps=4)
    member: Member
    bn = member.model.bn1
    member.bn_mode = "frozen"
    member.train_mode()
    before = bn.running_mean.clone()
    member.model(torch.randn(8, 3, 32, 32))
    assert torch.equal(bn.running_mean, before) and not bn.training
    assert member.model.training and member.model.conv1.training
    member.bn_mode = "batch"
    member.train_mode()
    member.model(torch.randn(8, 3, 32, 32))
    assert not torch.equal(bn.running_mean, before)


def test_scheduled_controls_fire_at_their_step(store):
    cfg = tiny(epochs=2, cohort="resnet8", controls="25% skip 0 member1,6 skip 1 member1")
    run_id, _ = train(store, cfg)
    events = [e for e in store.events(run_id) if e.kind == "skip"]
    assert [(e.step, e.payload["value"], e.payload["source"]) for e in events] == [
        (2, 0.0, "schedule"),
        (6, 1.0, "schedule"),
    ]
    a, b = losses(store, run_id, 0), losses(store, run_id, 1)
    assert (a[:2] == b[:2]).all() and a[2] != b[2]


def test_a_control_for_a_missing_member_or_stage_is_reported_not_fatal(store):
    run_id, summary = train(
        store,
        tiny(cohort="resnet14"),
        controls=[
            ("skip", {"value": 0, "member": 7}),
            ("skip", {"value": 0, "block": "layer3.1"}),
            ("skip", {"value": "off"}),
        ],
    )
    assert summary["status"] == "finished"
    messages = [e.message for e in store.events(run_id)]
    assert any("Ignored a skip control: There is no member 7" in m for m in messages)
    assert any("not applied: resnet8 has no block layer3.1" in m for m in messages)
    missed = next(e for e in store.events(run_id) if e.payload.get("block") == "layer3.1")
    assert missed.payload["not_applied"] == [0]  # resnet8 (member 0); resnet14 took it
    assert any("Ignored a skip control: A skip control needs a number" in m for m in messages)
    assert store.pending_controls(run_id) == []


def test_a_diverging_member_does_not_end_the_cohort(store):
    cfg = tiny(
        epochs=2,
        cohort="plain8 no-BN",
        controls="1 lr 100 member1",
        **{"optim.schedule": "constant", "optim.lr": 0.1},
    )
    run_id, summary = train(store, cfg)
    assert summary["status"] == "finished"
    ok, broken = summary["models"]
    assert ok["diverged_at"] is None and broken["diverged_at"] is not None
    assert (store.run_dir(run_id) / "model-0.safetensors").exists()
    assert not (store.run_dir(run_id) / "model-1.safetensors").exists()
    assert [e.member for e in store.events(run_id) if e.kind == "diverged"] == [1]
    steps, _ = store.scalars(run_id, "train/loss", 0)
    assert len(steps) == 8  # member 0 trained to the end


def test_a_control_arriving_during_evaluation_is_recorded_at_once_applied_after(store, monkeypatch):
    """An evaluation of a cohort takes seconds on a CPU: a live change is noted (event) while it
    runs, but every member of that evaluation is measured with the same nets."""
    from resnet_viz.train import trainer as trainer_mod

    cfg = tiny(epochs=2, cohort="resnet8")
    run_id = record_run(store, cfg)
    real_probe = trainer_mod.block_probe

    def probe_and_click(model, x):
        if not store.controls(run_id):  # the first evaluation, after member 0's val pass
            store.add_control(run_id, "skip", {"value": 0, "member": 1})
            monkeypatch.setattr(trainer_mod, "CONTROL_SECONDS", 0.0)
        return real_probe(model, x)

    monkeypatch.setattr(trainer_mod, "block_probe", probe_and_click)
    Trainer(cfg, store, run_id).run()
    (event,) = [e for e in store.events(run_id) if e.kind == "skip"]
    assert event.step == 2 and event.message.endswith("from step 3.")
    _, acc0 = store.scalars(run_id, "val/acc", 0)
    _, acc1 = store.scalars(run_id, "val/acc", 1)
    assert acc0[0] == acc1[0]  # member 1 was evaluated with its skips still on
    a, b = losses(store, run_id, 0), losses(store, run_id, 1)
    assert (a[:2] == b[:2]).all() and (a[2:] != b[2:]).all()


@pytest.mark.parametrize("schedule", ["constant", "cosine", "step", "onecycle"])
def test_lr_schedule_follows_the_trainers_scheduler(schedule):
    from resnet_viz.train.cohort import lr_schedule

    cfg = TrainConfig().with_overrides({"optim.schedule": schedule, "optim.lr": 0.2, "epochs": 4})
    epochs, lrs = lr_schedule(cfg, points=400)
    assert len(epochs) == len(lrs) == 400 and epochs[0] == 0 and epochs[-1] < 4
    lrs = np.array(lrs)
    assert lrs.max() == pytest.approx(0.2)
    if schedule == "constant":
        assert np.all(lrs == 0.2)
    elif schedule == "step":  # ÷10 at half and three quarters of the run
        assert lrs[199] == pytest.approx(0.2) and lrs[200] == pytest.approx(0.02)
        assert lrs[300] == pytest.approx(0.002)
    elif schedule == "cosine":
        assert np.all(np.diff(lrs) <= 1e-12) and lrs[-1] < 0.001
    else:  # one-cycle: warm up over the first quarter, then anneal far below the start
        assert lrs.argmax() == pytest.approx(100, abs=2) and lrs[-1] < lrs[0] / 100


def test_a_control_arriving_after_the_last_step_is_refused_with_its_reason(store, monkeypatch):
    """The analyses after training take seconds: a change sent then has no step to act on, and
    its event says so (the page waiting on it hears back at once)."""
    from resnet_viz.train import trainer as trainer_mod

    cfg = tiny(cohort="resnet8", analyses="lesion")
    run_id = record_run(store, cfg)
    real_save = Trainer._save_checkpoints

    def save_then_click(self, data):
        real_save(self, data)
        if self.step == self.total:
            store.add_control(run_id, "skip", {"value": 0, "member": 1})

    monkeypatch.setattr(Trainer, "_save_checkpoints", save_then_click)
    monkeypatch.setattr(trainer_mod, "CONTROL_SECONDS", 0.0)
    Trainer(cfg, store, run_id).run()
    (control,) = store.controls(run_id)
    (event,) = [e for e in store.events(run_id) if e.payload.get("control_id") == control.id]
    assert event.kind == "info" and "training ended at step 4" in event.message
    assert not [e for e in store.events(run_id) if e.kind == "skip"]


def test_each_member_steps_with_its_own_weight_decay(store):
    from resnet_viz.train.cohort import make_optimizer

    cfg = tiny(**{"model.weight_decay": "0", "cohort": "resnet8 wd 0.01"})
    members, _ = build_members(cfg, 10, torch.device("cpu"), 4)
    decays = [[g["weight_decay"] for g in m.optimizer.param_groups] for m in members]
    assert decays == [[0.0, 0.0], [0.01, 0.0]]  # conv/linear weights; BN and biases never
    opt, _ = make_optimizer(cfg, torch.nn.Linear(2, 2), 4)  # no member: the run's own
    assert opt.param_groups[0]["weight_decay"] == cfg.optim.weight_decay
