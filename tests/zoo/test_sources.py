"""Model sources (resnet_viz.zoo.sources): the bundled default, runs, torchvision weights through
the hub cache, and which runs offer a checkpoint or a plain twin."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import ResNet18_Weights

from resnet_viz import zoo
from resnet_viz.checkpoints import save_checkpoint
from resnet_viz.config import TrainConfig
from resnet_viz.errors import CheckpointError
from resnet_viz.store import RunStore


# ---- runs ----------------------------------------------------------------------------------------
def test_load_run_reads_a_members_checkpoint(runs_dir, default):
    store = RunStore(runs_dir)
    run_id = store.create_run(TrainConfig(name="mine"))
    save_checkpoint(store.checkpoint_path(run_id), default.model, default.meta)
    loaded = zoo.load_run(store, run_id)
    assert loaded.classes == default.classes and "mine" in loaded.name
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), default.model(x))


def test_load_run_without_a_checkpoint_says_why(runs_dir):
    store = RunStore(runs_dir)
    run_id = store.create_run(TrainConfig(name="busy"))
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        zoo.load_run(store, run_id)
    with pytest.raises(CheckpointError, match="no run"):
        zoo.load_run(store, "nope")


# ---- torchvision weights ---------------------------------------------------------------------
def test_torchvision_weights_come_from_the_hub_cache(_no_downloads):
    torch.manual_seed(3)
    state = torchvision.models.resnet18().state_dict()
    target = _no_downloads / "hub" / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    loaded = zoo.load_torchvision("resnet18")
    assert loaded.dataset == "imagenet" and len(loaded.classes) == 1000
    assert (loaded.image_size, loaded.resize_size) == (224, 256)
    assert loaded.classes[0] == "tench"
    assert torch.equal(loaded.model.state_dict()["fc.weight"], state["fc.weight"])


def test_torchvision_weights_offline_say_where_to_put_the_file():
    with pytest.raises(CheckpointError, match="torch hub cache"):
        zoo.load_torchvision("resnet18")


# ---- runs that offer a checkpoint or a plain twin ---------------------------------------------
def _finished(store: RunStore, default, name: str, *, save: bool = True, **overrides) -> str:
    run_id = store.create_run(TrainConfig(name=name).with_overrides(overrides))
    if save:
        save_checkpoint(store.checkpoint_path(run_id), default.model, default.meta)
    store.finish(run_id, "finished")
    return run_id


def test_plain_twins_need_same_arch_dataset_all_skips_off_finished_and_saved(runs_dir, default):
    store = RunStore(runs_dir)
    running = store.create_run(TrainConfig(name="running").with_overrides({"model.skip": "0"}))
    others = [
        _finished(store, default, "residual"),
        _finished(store, default, "deeper", **{"model.arch": "resnet20", "model.skip": "0"}),
        _finished(store, default, "cifar", **{"data.dataset": "cifar10", "model.skip": "0"}),
        _finished(store, default, "one stage", **{"model.skip": "1,0,0"}),
        _finished(store, default, "unsaved", save=False, **{"model.skip": "0"}),
    ]
    good = _finished(store, default, "plain", **{"model.skip": "0,0,0"})
    single_zero = _finished(store, default, "plain too", **{"model.skip": "0"})
    twins = zoo.plain_twins(store, "resnet8", "shapes")
    assert [r.id for r in twins] == [single_zero, good]  # newest first
    assert running not in {r.id for r in twins} and not set(others) & {r.id for r in twins}
    assert zoo.plain_twins(store, "resnet8", None) == []  # unknown dataset: no twin to trust


def test_run_checkpoints_name_each_saved_member(runs_dir, default):
    store = RunStore(runs_dir)
    single = _finished(store, default, "solo")
    cohort = store.create_run(TrainConfig(name="pair").with_overrides({"cohort": "plain8"}))
    save_checkpoint(store.checkpoint_path(cohort, 1), default.model, default.meta)
    _finished(store, default, "unsaved", save=False)
    assert zoo.run_checkpoints(store) == [
        (f"pair · plain8 · queued · {cohort}", cohort, 1),
        (f"solo · finished · {single}", single, 0),
    ]
