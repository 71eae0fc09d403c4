"""resnet_viz.watch (in resnet_viz.watcher): a user's own loop recorded as a run of the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resnet_viz
from resnet_viz import keys
from resnet_viz.errors import ResNetVizError, StoreError
from resnet_viz.store import RunStore
from resnet_viz.train import launcher


class TinyNet(nn.Module):
    """Not one of this project's ResNets: linear layers, a LayerNorm, an embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(4, 8)
        self.body = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.embed(x))


def _batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(i)
    return torch.randint(0, 4, (16,), generator=g), torch.randint(0, 3, (16,), generator=g)


def _train(run, model, steps: int, lr: float = 0.1, expected: list | None = None) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for i in range(steps):
        x, y = _batch(i)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if expected is not None:  # the plain per-parameter computation, for comparison
            expected.append([m.weight.grad.norm().item() for m in _weighted(model)])
        run.step(loss=loss, lr=lr)
        opt.step()
        opt.zero_grad()
        if run.should_stop:
            break


def _weighted(model: nn.Module) -> list[nn.Module]:
    return [model.embed, model.body[0], model.body[1], model.body[3]]


def test_a_watched_loop_records_per_layer_gradient_norms_of_any_model(runs_dir):
    model, expected = TinyNet(), []
    with resnet_viz.watch(model, name="mine", runs_dir=runs_dir, config={"lr": 0.1}) as run:
        _train(run, model, 25, expected=expected)
        run.eval(val_acc=torch.tensor(0.5), val_loss=1.25, top5=0.9)
    store = RunStore(runs_dir)
    rec = store.get_run(run.id)
    assert rec.status == "finished" and rec.step == 25 and rec.from_script
    assert rec.name == "mine" and rec.members == ("TinyNet",)
    assert rec.describe() == "from a script · TinyNet · lr=0.1"
    series = store.layer_series(run.id, keys.GRAD_NORM)
    assert series.layers == ("embed", "body.0", "body.1", "body.3")  # named_modules order
    assert series.steps.tolist() == list(range(1, 26))
    np.testing.assert_allclose(series.values, np.array(expected), rtol=1e-5)
    steps, losses = store.scalars(run.id, keys.TRAIN_LOSS)
    assert steps.tolist() == list(range(1, 26)) and np.isfinite(losses).all()
    assert store.scalars(run.id, keys.LR)[1].tolist() == [0.1] * 25
    assert store.scalars(run.id, keys.VAL_ACC)[1].tolist() == [0.5]
    assert store.scalars(run.id, "top5")[0].tolist() == [25]
    ratio = store.layer_series(run.id, keys.UPDATE_RATIO)
    assert len(ratio.steps) >= 3 and (ratio.values > 0).all()
    assert rec.summary["models"][0]["best_val_acc"] == 0.5


def test_stop_in_the_app_reaches_should_stop(runs_dir):
    model = TinyNet()
    with resnet_viz.watch(model, runs_dir=runs_dir, log_every=1) as run:
        RunStore(runs_dir).add_control(run.id, "stop")
        deadline = time.monotonic() + 20
        while not run.should_stop and time.monotonic() < deadline:
            _train(run, model, 1)
            time.sleep(0.05)
    rec = RunStore(runs_dir).get_run(run.id)
    assert run.should_stop and rec.status == "stopped" and "Stopped from the app" in rec.reason


def test_an_exception_in_the_loop_fails_the_run_and_still_propagates(runs_dir):
    model = TinyNet()
    with pytest.raises(ZeroDivisionError), resnet_viz.watch(model, runs_dir=runs_dir) as run:
        _train(run, model, 3)
        1 / 0  # noqa: B018
    rec = RunStore(runs_dir).get_run(run.id)
    assert rec.status == "failed" and "ZeroDivisionError" in rec.reason and "step 3" in rec.reason


def test_a_non_finite_loss_marks_the_run_diverged_at_its_step(runs_dir):
    model = TinyNet()
    with resnet_viz.watch(model, runs_dir=runs_dir) as run:
        _train(run, model, 4)
        loss = model(_batch(0)[0]).sum() * float("nan")
        loss.backward()
        run.step(loss=loss)
    rec = RunStore(runs_dir).get_run(run.id)
    assert rec.status == "diverged" and "step 5" in rec.reason
    assert rec.summary["models"][0]["diverged_at"] == 5


def test_misuse_gets_a_clear_message_before_or_without_breaking_the_loop(runs_dir, tmp_path):
    with pytest.raises(ResNetVizError, match="no layer with a trainable weight"):
        resnet_viz.watch(nn.ReLU(), runs_dir=runs_dir)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(StoreError, match="cannot use the runs dir"):
        resnet_viz.watch(TinyNet(), runs_dir=not_a_dir)
    model = TinyNet()
    with resnet_viz.watch(model, runs_dir=runs_dir) as run:
        with pytest.warns(RuntimeWarning, match=r"before backward\(\)"):
            run.step(loss=1.0)  # no gradients yet: said once, not recorded
        _train(run, model, 2)
        model(_batch(0)[0]).sum().backward()
        with pytest.warns(RuntimeWarning, match="could not record a step"):
            run.step(loss="not a number")  # a bad value: said once, the loop goes on
    assert RunStore(runs_dir).get_run(run.id).step == 2


def test_a_store_that_stops_taking_writes_warns_once_and_training_goes_on(runs_dir, monkeypatch):
    model = TinyNet()
    with resnet_viz.watch(model, runs_dir=runs_dir, log_every=1) as run:

        def full(*args, **kwargs):
            raise StoreError("The run store is on a full disk.")

        monkeypatch.setattr(run.store, "write_batch", full)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _train(run, model, 5)
            deadline = time.monotonic() + 10  # the writer thread meets the errors
            while not run._writes.empty() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
        monkeypatch.undo()
    assert run.step_count == 5  # the loop went on
    said = [w for w in caught if "stopped taking writes" in str(w.message)]
    assert len(said) == 1


def test_a_grad_scaler_s_steps_are_recorded_unscaled_and_skips_marked(runs_dir):
    model, expected = TinyNet(), []
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with resnet_viz.watch(model, runs_dir=runs_dir) as run:
        for i in range(3):
            x, y = _batch(i)
            loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            expected.append([m.weight.grad.norm().item() / 1024.0 for m in _weighted(model)])
            if i == 2:
                model.body[0].weight.grad[0, 0] = float("inf")  # an overflow: skipped
            run.step(loss=loss, scaler=scaler)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
    store = RunStore(runs_dir)
    values = store.layer_series(run.id, keys.GRAD_NORM).values
    np.testing.assert_allclose(values[:2], np.array(expected[:2]), rtol=1e-5)
    assert store.scalars(run.id, keys.SKIPPED)[1].tolist() == [0.0, 0.0, 1.0]
    assert store.get_run(run.id).status == "finished"  # a skipped step is not divergence


def test_a_killed_script_is_marked_interrupted(runs_dir, monkeypatch):
    script = textwrap.dedent(
        f"""
        import sys, time, torch
        sys.path.insert(0, {str(os.getcwd())!r})
        import resnet_viz
        model = torch.nn.Linear(2, 2)
        run = resnet_viz.watch(model, runs_dir={str(runs_dir)!r})
        model(torch.ones(1, 2)).sum().backward()
        run.step(loss=1.0)
        print(run.id, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = RunStore(runs_dir)
    assert store.get_run(run_id).status == "running"
    monkeypatch.setattr(launcher, "STALE_AFTER_S", 0.0)
    assert launcher.reap_dead(store) == [run_id]
    assert store.get_run(run_id).status == "interrupted"


def test_watch_sees_through_compile_and_ddp_wrappers():
    from resnet_viz.watcher import unwrap, weighted_layers

    model = TinyNet()
    compiled = torch.compile(model)  # wrapping only; nothing is compiled until it runs
    assert unwrap(compiled) is model
    assert [n for n, _ in weighted_layers(compiled)] == ["embed", "body.0", "body.1", "body.3"]


def test_under_torchrun_rank_0_alone_records_one_run_and_stop_reaches_every_rank(runs_dir):
    """examples/watch_ddp.py on two CPU processes (gloo): one run, every step, and Stop from
    the app ends both ranks at the same step (a rank left waiting in DDP's all-reduce would
    hang the script, and this test with it)."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(root / "examples" / "watch_ddp.py"), "--epochs", "1000",
           "--train-size", "256", "--batch-size", "32", "--runs-dir", str(runs_dir)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store, deadline = RunStore(runs_dir), time.monotonic() + 180
        while time.monotonic() < deadline:
            runs = store.list_runs()
            if runs and runs[0].step >= 8:
                break
            time.sleep(0.2)
        (run,) = store.list_runs()
        store.add_control(run.id, "stop")
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    run = store.get_run(run.id)
    assert run.status == "stopped" and 8 <= run.step < 4000  # 1000 epochs of 4 steps
    assert run.script["config"]["world_size"] == 2 and run.script["config"]["backend"] == "gloo"
    steps = store.layer_series(run.id, keys.GRAD_NORM).steps.tolist()
    assert steps == list(range(1, run.step + 1))
    assert f"run {run.id}" in out


def _resnet_loop(run, model, steps: int = 3) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x, y = torch.randn(4, 3, 32, 32, generator=g), torch.randint(0, 10, (4,), generator=g)
        F.cross_entropy(model(x), y).backward()
        run.step(loss=1.0)
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize("builder", ["app", "torchvision"])
def test_run_save_keeps_a_checkpoint_that_activations_and_explain_open(runs_dir, builder):
    from resnet_viz import zoo
    from resnet_viz.models import build_model, set_skip

    if builder == "app":
        model = build_model("resnet8", 10)
        set_skip(model, [1.0, 0.0, 1.0])  # the middle block's shortcut off: kept in the file
    else:
        import torchvision

        model = torchvision.models.resnet18(num_classes=10)  # its keys are the app's resnet18's
    classes = [f"shape {i}" for i in range(10)]
    with resnet_viz.watch(model, runs_dir=runs_dir) as run:
        _resnet_loop(run, model)
        path = run.save(classes=classes, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    store = RunStore(runs_dir)
    assert path == store.checkpoint_path(run.id)
    assert [r[1] for r in zoo.run_checkpoints(store)] == [run.id]
    loaded = zoo.load_run(store, run.id)
    assert loaded.arch == ("resnet8" if builder == "app" else "resnet18")
    assert loaded.classes == tuple(classes) and loaded.mean == (0.5, 0.5, 0.5)
    assert loaded.image_size == (32 if builder == "app" else 224) and loaded.note == ""
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.model(x), model(x))  # the same network, skips included
    events = store.events(run.id)
    assert [e.step for e in events if e.kind == "checkpoint"] == [3]


def test_run_save_without_names_says_what_the_pages_assume(runs_dir):
    from resnet_viz import zoo
    from resnet_viz.models import build_model

    model = build_model("resnet8", 10)
    with resnet_viz.watch(model, runs_dir=runs_dir) as run:
        _resnet_loop(run, model, 1)
        run.save()
    loaded = zoo.load_run(RunStore(runs_dir), run.id)
    assert loaded.classes[0] == "class 0"
    assert "numbered classes and ImageNet's normalisation" in loaded.note


def test_run_save_of_a_model_the_app_cannot_rebuild_keeps_its_weights_only(runs_dir):
    from safetensors.torch import load_file

    from resnet_viz import zoo
    from resnet_viz.watcher import WEIGHTS_ONLY

    model = TinyNet()
    with resnet_viz.watch(model, runs_dir=runs_dir) as run:
        _train(run, model, 2)
        with pytest.warns(RuntimeWarning, match="not one of the app's ResNets"):
            path = run.save()
        run.save()  # said once
    store = RunStore(runs_dir)
    assert path == store.run_dir(run.id) / WEIGHTS_ONLY
    saved = load_file(path)
    torch.testing.assert_close(saved["body.0.weight"], model.body[0].weight.detach())
    assert zoo.run_checkpoints(store) == []  # not offered where it cannot be opened


def test_run_save_that_cannot_write_warns_and_training_goes_on(runs_dir, monkeypatch):
    from resnet_viz import watcher
    from resnet_viz.models import build_model

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    model = build_model("resnet8", 10)
    with resnet_viz.watch(model, runs_dir=runs_dir) as run:
        _resnet_loop(run, model, 1)
        monkeypatch.setattr(watcher, "save_checkpoint", full)
        with pytest.warns(RuntimeWarning, match="could not save the model.*No space"):
            assert run.save() is None
        with pytest.warns(RuntimeWarning, match="should be 10 names"):
            assert run.save(classes=["circle", "square"]) is None
        _resnet_loop(run, model, 1)
    assert RunStore(runs_dir).get_run(run.id).status == "finished"


def test_a_watched_run_records_its_steps_per_second(runs_dir):
    model = TinyNet()
    with resnet_viz.watch(model, runs_dir=runs_dir, log_every=5) as run:
        _train(run, model, 10)
    steps, rates = RunStore(runs_dir).scalars(run.id, keys.STEP_RATE)
    assert steps[-1] == 10 and len(steps) >= 2 and (rates > 0).all()
