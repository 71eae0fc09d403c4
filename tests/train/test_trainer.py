"""The training loop end to end on tiny runs: what it records, stop, divergence, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet_viz.checkpoints import load_checkpoint
from resnet_viz.config import TrainConfig
from resnet_viz.data import Batches, load_dataset
from resnet_viz.models import build_model
from resnet_viz.store import RunStore
from resnet_viz.train import Trainer
from resnet_viz.train import trainer as trainer_mod
from resnet_viz.train.launcher import record_run

TINY = {"data.train_size": 256, "data.val_size": 128, "batch_size": 64, "epochs": 2}


def tiny(**overrides) -> TrainConfig:
    return TrainConfig().with_overrides({**TINY, **overrides})


def train(store: RunStore, cfg: TrainConfig, **kwargs) -> tuple[str, dict]:
    run_id = record_run(store, cfg)
    return run_id, Trainer(cfg, store, run_id, **kwargs).run()


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_finished_run_records_everything(store):
    run_id, summary = train(store, tiny(log_every=3))
    run = store.get_run(run_id)
    assert run.status == "finished" and summary["status"] == "finished"
    steps_per_epoch = 256 // 64
    assert summary["steps"] == run.step == run.total_steps == 2 * steps_per_epoch
    # One train/loss row per step, in order, all finite.
    steps, loss = store.scalars(run_id, "train/loss")
    assert steps.tolist() == list(range(1, 9))
    assert np.isfinite(loss).all()
    assert summary["models"][0]["final_train_loss"] == pytest.approx(loss[-1], rel=1e-5)
    # Validation: evals_per_epoch=2 → 4 evaluations, best matches the summary.
    vsteps, vacc = store.scalars(run_id, "val/acc")
    assert vsteps.tolist() == [2, 4, 6, 8]
    assert summary["models"][0]["best_val_acc"] == pytest.approx(vacc.max(), abs=1e-6)
    # Gradient norms: one vector per step, one column per conv/linear layer, network order.
    grads = store.layer_series(run_id, "grad_norm")
    assert grads.layers[0] == "conv1" and grads.layers[-1] == "fc"
    assert grads.values.shape == (8, len(grads.layers))
    assert (grads.values > 0).all()
    # Per-block probes at each evaluation.
    ratio = store.layer_series(run_id, "residual_ratio")
    assert ratio.layers == ("layer1.0", "layer2.0", "layer3.0")
    assert ratio.steps.tolist() == [2, 4, 6, 8]
    # LR follows the one-cycle schedule: rises then falls.
    _, lr = store.scalars(run_id, "lr")
    assert lr.argmax() not in (0, len(lr) - 1)


def test_grad_norms_match_a_plain_per_parameter_computation(store, monkeypatch):
    """What the store holds for step 1 equals ‖∂L/∂W‖ computed the obvious way."""
    cfg = tiny(epochs=1)
    run_id, _ = train(store, cfg)
    recorded = store.layer_series(run_id, "grad_norm").values[0]

    from resnet_viz.models import probe_layers

    data = load_dataset(cfg.data, cache_dir=store.root / ".cache")
    batches = Batches(data.train, 64, mean=data.mean, std=data.std, device=torch.device("cpu"))
    torch.manual_seed(cfg.seed)
    model = build_model("resnet8", 10)
    x, y = next(batches.epoch(0))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    expected = np.array([p.grad.norm().item() for _, p in probe_layers(model)])
    np.testing.assert_allclose(recorded, expected, rtol=1e-4)


def test_same_seed_same_losses(store):
    _, a = train(store, tiny(epochs=1))
    _, b = train(store, tiny(epochs=1))
    assert a["models"][0]["final_train_loss"] == b["models"][0]["final_train_loss"]


def test_checkpoint_reloads_the_trained_model(store):
    run_id, _ = train(store, tiny(epochs=1))
    model, meta = load_checkpoint(store.run_dir(run_id) / "model-0.safetensors")
    assert meta["run_id"] == run_id and meta["classes"][0] == "circle"
    assert meta["train_config"]["epochs"] == 1
    cfg = TrainConfig.from_dict(meta["train_config"])
    data = load_dataset(cfg.data, cache_dir=store.root / ".cache")
    val = Batches(
        data.val, 128, mean=meta["mean"], std=meta["std"], device=torch.device("cpu"), shuffle=False
    )
    x, y = next(val.epoch())
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    _, vacc = store.scalars(run_id, "val/acc")
    assert acc == pytest.approx(vacc[-1], abs=1e-6)


def test_gradient_clipping_bounds_each_step_and_the_charts_show_the_raw_gradient(store):
    """optim.grad_clip caps every step's global gradient norm; the recorded gradient norms are
    those before clipping, the same with and without it."""
    cfg = tiny(epochs=1, **{"optim.weight_decay": 0, "optim.momentum": 0, "optim.lr": 0.1})
    clip = 1e-4
    moved, grads = {}, {}
    for c in (0.0, clip):
        run_id, _ = train(store, cfg.with_overrides({"optim.grad_clip": c}))
        torch.manual_seed(cfg.seed)  # the trainer's initial weights (as in the test above)
        start = build_model("resnet8", 10).state_dict()
        end, _ = load_checkpoint(store.run_dir(run_id) / "model-0.safetensors")
        moved[c] = torch.cat(
            [
                (p - start[k]).flatten()
                for k, p in end.state_dict().items()
                if p.is_floating_point() and "running" not in k
            ]
        ).norm()
        grads[c] = store.layer_series(run_id, "grad_norm").values[0]
    steps = 256 // 64
    # Plain SGD moves the weights by lr × (clipped) gradient per step, at most lr × clip each.
    assert moved[clip] <= steps * 0.1 * clip * 1.01, moved[clip]
    assert moved[0.0] > 100 * steps * 0.1 * clip
    np.testing.assert_array_equal(grads[0.0], grads[clip])


def test_stop_control_ends_the_run_and_keeps_a_checkpoint(store, monkeypatch):
    cfg = tiny(epochs=3, log_every=1)
    run_id = record_run(store, cfg)
    store.add_control(run_id, "stop")  # already waiting when the first interval is flushed
    summary = Trainer(cfg, store, run_id).run()
    run = store.get_run(run_id)
    assert run.status == "stopped" and "Stopped from the app at step 1" in run.reason
    assert summary["steps"] == 1
    assert (store.run_dir(run_id) / "model-0.safetensors").exists()
    assert store.pending_controls(run_id) == []


def test_divergence_is_detected_and_marked(store):
    # A plain net without BatchNorm at lr 10: the loss blows up within a few steps.
    cfg = tiny(
        **{
            "model.batchnorm": False,
            "model.skip": "0",
            "optim.lr": 10.0,
            "optim.schedule": "constant",
            "log_every": 1,
        }
    )
    run_id, summary = train(store, cfg)
    run = store.get_run(run_id)
    assert run.status == "diverged", run.reason
    n = summary["models"][0]["diverged_at"]
    assert n is not None and 1 <= n < run.total_steps
    assert f"diverged at step {n}" in run.reason
    events = [e for e in store.events(run_id) if e.kind == "diverged"]
    assert events and events[0].step == n
    # Training stopped there: nothing recorded after the flush that saw it, and no NaN checkpoint.
    assert run.step < run.total_steps
    assert not (store.run_dir(run_id) / "model-0.safetensors").exists()


def test_exploding_loss_threshold(store, monkeypatch):
    monkeypatch.setattr(trainer_mod, "EXPLODE_FACTOR", 1e-3)  # any loss "explodes"
    _, summary = train(store, tiny(epochs=1, log_every=1))
    assert summary["status"] == "diverged"
    assert summary["models"][0]["diverged_at"] == 1  # step 1 is checked against itself too


def test_bad_data_fails_with_a_readable_reason(store, tmp_path):
    cfg = tiny(**{"data.dataset": "folder", "data.folder": "missing"})
    run_id, summary = train(store, cfg, data_root=tmp_path)
    run = store.get_run(run_id)
    assert run.status == "failed" and "is not a folder" in run.reason
    assert summary["steps"] == 0


def test_crash_inside_the_loop_fails_the_run_not_the_caller(store, monkeypatch):
    def boom(self, m, x, y):
        raise RuntimeError("simulated kernel failure")

    monkeypatch.setattr(Trainer, "_step", boom)
    run_id, summary = train(store, tiny(epochs=1))
    run = store.get_run(run_id)
    assert run.status == "failed" and "simulated kernel failure" in run.reason
    assert summary["status"] == "failed"


def test_out_of_memory_says_what_to_do(store, monkeypatch):
    def oom(self, m, x, y):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(Trainer, "_step", oom)
    run_id, _ = train(store, tiny(epochs=1))
    run = store.get_run(run_id)
    assert run.status == "failed" and "Lower the batch size" in run.reason


def test_a_stop_mid_run_ends_at_the_step_its_reason_names(store, monkeypatch):
    """The stop reason, the run's last step and the checkpoint agree (they were a step apart:
    the reason was written when the control was read, the run went on to the next flush)."""
    monkeypatch.setattr(trainer_mod, "CONTROL_SECONDS", 0.0)
    cfg = tiny(epochs=3, log_every=100)
    run_id = record_run(store, cfg)
    trainer = Trainer(cfg, store, run_id)
    step = trainer._step

    def step_then_ask(m, x, y):
        step(m, x, y)
        if trainer.step == 2:
            store.add_control(run_id, "stop")

    monkeypatch.setattr(trainer, "_step", step_then_ask)
    summary = trainer.run()
    run = store.get_run(run_id)
    assert run.status == "stopped"
    assert run.reason == f"Stopped from the app at step {summary['steps']}."
    assert run.step == summary["steps"] == 3  # asked during step 3, stopped right after it


def test_snapshots_fall_evenly_between_the_initial_and_final_weights():
    from resnet_viz.train.trainer import snapshot_steps

    assert snapshot_steps(100, 3) == {25, 50, 75}
    assert snapshot_steps(2, 5) == {1}  # a short run keeps what it has steps for
    assert snapshot_steps(100, 0) == set()


def test_a_store_that_turns_read_only_mid_run_ends_it_failed_with_the_reason(store, monkeypatch):
    """The disk goes read-only (or fills) during training: the worker does not crash on its
    own error handler; it returns, saying why, and what was recorded before stays readable."""
    import sqlite3

    from resnet_viz.store import runstore

    cfg = TrainConfig().with_overrides({**TINY, "epochs": 2, "log_every": 1})
    run_id = record_run(store, cfg)
    trainer = Trainer(cfg, store, run_id)
    real, between = sqlite3.connect, trainer._between_steps

    def read_only_after_step_2():
        if trainer.step == 2:
            monkeypatch.setattr(
                runstore.sqlite3, "connect",
                lambda path, *a, **k: real(f"file:{path}?mode=ro", *a, uri=True, **k),
            )  # fmt: skip
        between()

    trainer._between_steps = read_only_after_step_2
    monkeypatch.setattr(trainer_mod, "FINAL_WRITE_WAIT_S", 0.0)  # the store stays read-only
    summary = trainer.run()
    assert summary["status"] == "failed" and "is read-only" in summary["reason"]
    steps, _ = store.scalars(run_id, "train/loss")
    assert list(steps[:1]) == [1]  # the first step's record is kept


def test_once_the_store_takes_writes_again_the_run_ends_failed_with_the_real_reason(
    store, monkeypatch
):
    """A full disk mid-run: the worker waits (alive, so it is not taken for dead) and records
    why the run failed once space is freed."""
    import sqlite3

    from resnet_viz.store import runstore

    cfg = TrainConfig().with_overrides({**TINY, "epochs": 2, "log_every": 1})
    run_id = record_run(store, cfg)
    trainer = Trainer(cfg, store, run_id)
    real, between = sqlite3.connect, trainer._between_steps
    monkeypatch.setattr(trainer_mod, "FINAL_WRITE_RETRY_S", 0.05)
    full = {"on": False, "retries": 0}

    class Full(sqlite3.Connection):
        def execute(self, sql, *args):
            if full["on"] and sql.startswith(("INSERT", "UPDATE")):
                full["retries"] += 1
                if full["retries"] > 3:
                    full["on"] = False  # space freed
                raise sqlite3.OperationalError("database or disk is full")
            return super().execute(sql, *args)

        def executemany(self, sql, rows):
            if full["on"]:
                raise sqlite3.OperationalError("database or disk is full")
            return super().executemany(sql, rows)

    monkeypatch.setattr(runstore.sqlite3, "connect", lambda *a, **k: real(*a, factory=Full, **k))

    def full_after_step_2():
        if trainer.step == 2:
            full["on"] = True
        between()

    trainer._between_steps = full_after_step_2
    summary = trainer.run()
    run = store.get_run(run_id)
    assert run.status == "failed" and "full disk" in run.reason
    assert summary["status"] == "failed" and summary["reason"] == run.reason
    assert list(store.scalars(run_id, "train/loss")[0][:1]) == [1]
