"""Landscapes of a finished run, in the store and from the command line: twins cut along the
same directions, the trained point at the grid's centre, clear messages for bad requests."""

from __future__ import annotations

import json

import pytest
import torch

from resnet_viz import keys
from resnet_viz.checkpoints import load_checkpoint
from resnet_viz.config import TrainConfig
from resnet_viz.errors import InputError
from resnet_viz.landscape.__main__ import main
from resnet_viz.landscape.run import Settings, member_indices, record_landscapes, record_sharpness
from resnet_viz.store import RunStore
from resnet_viz.train.launcher import record_run
from resnet_viz.train.trainer import Trainer

TINY = {"data.train_size": 128, "data.val_size": 64, "batch_size": 64, "epochs": 1}
SMALL = Settings(steps=3, span=0.5, images=32)


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """A finished resnet8 / plain8 cohort at 16 px."""
    store = RunStore(tmp_path_factory.mktemp("runs"))
    cfg = TrainConfig().with_overrides(
        {
            **TINY,
            "name": "twins",
            "cohort": "plain8",
            "data.image_size": 16,
            "analyses": "",
            "data.train_size": 192,
            "snapshots": 2,  # 3 steps: snapshots after steps 1 and 2
        }
    )
    run_id = record_run(store, cfg)
    Trainer(cfg, store, run_id).run()
    return store, run_id


def test_every_member_gets_a_surface_centred_on_its_trained_weights(twins):
    store, run_id = twins
    done = []
    found = record_landscapes(store, run_id, [0, 1], SMALL, progress=lambda a, b: done.append(a))
    # Per member: 9 grid points, 31 along the linear path, 9 on the trajectory's plane.
    assert sorted(found) == [0, 1] and done[-1] == 2 * (9 + 31 + 9)
    stored = store.analyses(run_id, keys.LANDSCAPE)
    for m, payload in found.items():
        assert stored[m] == payload
        assert payload["axis"] == [-0.5, 0.0, 0.5] and len(payload["loss"]) == 3
        assert payload["slice_1"] == [row[1] for row in payload["loss"]]
        assert payload["slice_2"] == payload["loss"][1]
        # The centre is the member's own loss on those images, in eval mode.
        model, _ = load_checkpoint(store.checkpoint_path(run_id, m))
        assert payload["loss"][1][1] == pytest.approx(_eval_loss(store, run_id, model), rel=1e-4)
    assert found[0]["loss"] != found[1]["loss"]  # two different nets
    # The trainer kept each member's initial weights: the linear path from them is drawn too.
    for payload in found.values():
        path = payload["path"]
        assert path["alpha"][0] == pytest.approx(-0.25) and path["alpha"][-1] == pytest.approx(1.25)
        at_one = path["alpha"].index(min(path["alpha"], key=lambda a: abs(a - 1)))
        assert path["loss"][at_one] == pytest.approx(payload["loss"][1][1], rel=1e-3)


def test_the_trajectory_runs_from_the_initial_weights_to_the_trained_ones(twins):
    store, run_id = twins
    assert [s for s, _ in store.snapshots(run_id, 0)] == [1, 2]
    found = record_landscapes(store, run_id, [0], SMALL)
    path = found[0]["trajectory"]
    assert path["steps"] == [0, 1, 2, 3]
    (x0, y0), *_, end = path["points"]
    assert end == [0.0, 0.0] and x0 < 0 and y0 <= 0  # it heads towards the trained weights
    assert sum(path["explained"]) == pytest.approx(1.0)  # three moves, centred, span a plane
    assert len(path["x"]) == len(path["y"]) == 3 and len(path["loss"]) == 3
    assert path["x"][0] < x0 < path["x"][-1]  # the map holds the path, with a margin
    # The trained weights (the origin) are on the plane: the loss there is the member's own.
    model, _ = load_checkpoint(store.checkpoint_path(run_id, 0))
    at = record_landscapes(store, run_id, [0], Settings(steps=3, span=0.5, images=32))
    assert at[0]["loss"][1][1] == pytest.approx(_eval_loss(store, run_id, model), rel=1e-4)


def test_a_coarse_grid_comes_first_and_a_cancel_keeps_what_was_finished(twins):
    from resnet_viz.landscape.run import refinement_strides

    assert refinement_strides(21) == [5, 1] and refinement_strides(11) == [5, 1]
    assert refinement_strides(51) == [5, 1] and refinement_strides(3) == [1]
    store, run_id = twins
    settings = Settings(steps=5, span=0.5, images=16)
    seen = []
    record_landscapes(store, run_id, [0, 1], settings, update=lambda p: seen.append(p))
    coarse = [(sorted(p), [p[m].get("coarse", False) for m in sorted(p)]) for p in seen]
    # 3×3 for both members first, then each member's full 5×5 grid, stored at once.
    assert coarse == [([0], [True]), ([0, 1], [True, True]), ([0, 1], [False, True]),
                      ([0, 1], [False, False])]  # fmt: skip
    assert seen[1][0]["axis"] == [-0.5, 0.0, 0.5] and len(seen[-1][1]["axis"]) == 5
    assert seen[-1][0]["loss"][0][0] == seen[1][0]["loss"][0][0]  # refined in place, not redone

    store.put_analysis(run_id, 0, keys.LANDSCAPE, {"old": True})
    store.put_analysis(run_id, 1, keys.LANDSCAPE, {"old": True})
    finished = []

    class Stop(Exception):
        pass

    def cancel_once_member_0_is_done(done: int, total: int) -> None:
        if finished:  # a Cancel click: Streamlit raises out of the page's next progress update
            raise Stop

    with pytest.raises(Stop):
        record_landscapes(
            store, run_id, [0, 1], settings, progress=cancel_once_member_0_is_done,
            update=lambda p: finished.extend(m for m, q in p.items() if not q.get("coarse")),
        )  # fmt: skip
    stored = store.analyses(run_id, keys.LANDSCAPE)
    assert "old" not in stored[0] and stored[1] == {"old": True}  # member 0 is kept


def _eval_loss(store, run_id, model) -> float:
    from resnet_viz.data import load_dataset

    run = store.get_run(run_id)
    data = load_dataset(run.config.data, seed=run.config.seed, cache_dir=store.root / ".cache")
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (data.mean, data.std))
    x = (data.train.images[:32].float() / 255 - mean) / std
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(model(x), data.train.labels[:32]))


def test_members_are_chosen_by_name_and_unknown_ones_named(twins):
    store, run_id = twins
    assert member_indices(store, run_id) == [0, 1]
    assert member_indices(store, run_id, ["plain8"]) == [1]
    with pytest.raises(InputError, match="no member resnet99"):
        member_indices(store, run_id, ["resnet99"])
    with pytest.raises(InputError, match="No run"):
        member_indices(store, "20990101-000000-abcdef")


def test_an_even_grid_is_refused_so_the_trained_point_stays_on_it():
    with pytest.raises(InputError, match="odd number"):
        Settings(steps=20)


def test_a_member_without_a_checkpoint_is_named(twins):
    store, run_id = twins
    path = store.checkpoint_path(run_id, 1)
    kept = path.read_bytes()
    path.unlink()
    try:
        with pytest.raises(InputError, match="no checkpoint for plain8"):
            record_landscapes(store, run_id, [1], SMALL)
    finally:
        path.write_bytes(kept)


def test_the_command_line_writes_the_same_records_and_prints_a_summary(twins, capsys):
    store, run_id = twins
    args = [run_id, "--member", "resnet8", "--grid", "3", "--span", "0.5", "--images", "32"]
    assert main([*args, "--runs-dir", str(store.root)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (member,) = summary["members"]
    assert member["name"] == "resnet8" and member["min"] <= member["loss_at_trained"]
    assert store.analyses(run_id, keys.LANDSCAPE)[0]["steps"] == 3
    assert main([run_id, "--grid", "4", "--runs-dir", str(store.root)]) == 2
    assert "odd number" in capsys.readouterr().err


def test_sharpness_is_measured_and_stored_per_member(twins):
    store, run_id = twins
    found = record_sharpness(store, run_id, [1], images=32, steps=6, samples=2)
    (payload,) = found.values()
    assert payload["max_eigenvalue"] >= payload["min_eigenvalue"]
    assert payload["ratio"] == pytest.approx(
        abs(payload["min_eigenvalue"] / payload["max_eigenvalue"])
    )
    assert store.analyses(run_id, keys.SHARPNESS) == {1: payload}


def test_a_single_snapshot_is_too_few_for_a_path_and_the_rest_is_still_drawn(tmp_path):
    """One snapshot and the initial weights span only a line: no trajectory, no error."""
    store = RunStore(tmp_path / "runs")
    cfg = TrainConfig().with_overrides(
        {**TINY, "data.train_size": 192, "data.image_size": 16, "analyses": "", "snapshots": 1}
    )
    run_id = record_run(store, cfg)
    Trainer(cfg, store, run_id).run()
    assert len(store.snapshots(run_id, 0)) == 1
    done = []
    (payload,) = record_landscapes(
        store, run_id, [0], SMALL, progress=lambda a, b: done.append((a, b))
    ).values()
    assert "trajectory" not in payload and "path" in payload
    assert done[-1] == (9 + 31, 9 + 31)  # the work counted is the work done
