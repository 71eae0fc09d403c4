"""resnet_viz.export: runs out as tidy CSV and as TensorBoard logs, read back by TensorBoard."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from resnet_viz import export, keys
from resnet_viz.config import TrainConfig
from resnet_viz.store import RunStore


@pytest.fixture
def recorded(runs_dir):
    """A two-member run: 3 steps of loss and per-layer gradient norms, one evaluation."""
    store = RunStore(runs_dir)
    cfg = TrainConfig(name="a/b").with_overrides({"model.arch": "resnet8", "cohort": "plain8"})
    run_id = store.create_run(cfg)
    for m in (0, 1):
        store.set_layers(run_id, m, {keys.CONV_LAYERS: ["conv1", "layer1.0.conv1"]})
    scalars = [(m, keys.TRAIN_LOSS, s, 2.0 - s / 10 - m) for m in (0, 1) for s in (1, 2, 3)]
    scalars += [(0, keys.VAL_ACC, 3, 0.25)]
    stats = [
        (m, keys.GRAD_NORM, s, np.array([s, 10 * s + m], np.float32))
        for m in (0, 1)
        for s in (1, 2, 3)
    ]
    store.write_batch(run_id, step=3, scalars=scalars, layer_stats=stats)
    return store, run_id


def test_csv_rows_are_tidy_and_hold_every_value(recorded):
    store, run_id = recorded
    names = store.get_run(run_id).members
    text = export.csv_text(store, [run_id])
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == ["run_id", "member", "step", "key", "value"]
    got = {(r["member"], int(r["step"]), r["key"]): float(r["value"]) for r in table}
    assert len(got) == len(table) == 6 + 1 + 12  # loss, val acc, two layers' grad norms
    assert got[(names[0], 3, keys.VAL_ACC)] == 0.25
    assert got[(names[1], 2, keys.TRAIN_LOSS)] == pytest.approx(0.8)
    assert got[(names[1], 3, "grad_norm/layer1.0.conv1")] == 31.0
    assert got[(names[0], 1, "grad_norm/conv1")] == 1.0


def test_tensorboard_logs_read_back_with_tensorboard_s_own_reader(recorded, tmp_path):
    store, run_id = recorded
    folders = export.write_tensorboard(store, [run_id], tmp_path / "tb")
    assert len(folders) == 2 and all(f.parent.name == f"a_b-{run_id}" for f in folders)
    acc = EventAccumulator(str(folders[1]), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {keys.TRAIN_LOSS, "grad_norm/conv1", "grad_norm/layer1.0.conv1"} <= set(tags["scalars"])
    loss = [(e.step, e.value) for e in acc.Scalars(keys.TRAIN_LOSS)]
    assert loss == [(1, pytest.approx(0.9)), (2, pytest.approx(0.8)), (3, pytest.approx(0.7))]
    assert [e.value for e in acc.Scalars("grad_norm/layer1.0.conv1")] == [11.0, 21.0, 31.0]
    hist = acc.Histograms(keys.GRAD_NORM)
    assert [h.step for h in hist] == [1, 2, 3]
    assert (hist[2].histogram_value.min, hist[2].histogram_value.max) == (3.0, 31.0)
    assert hist[2].histogram_value.num == 2  # one value per layer


def test_the_command_line_writes_both_and_names_a_missing_run(recorded, tmp_path, capsys):
    store, run_id = recorded
    out = tmp_path / "rows.csv"
    assert export.main([run_id, "--runs-dir", str(store.root), "--csv", str(out),
                        "--tensorboard", str(tmp_path / "tb")]) == 0  # fmt: skip
    assert out.read_text().startswith("run_id,member,step,key,value")
    assert "tensorboard --logdir" in capsys.readouterr().err
    assert export.main(["20990101-000000-abcdef", "--runs-dir", str(store.root), "--csv", "-"]) == 1
    assert "is not in the run store" in capsys.readouterr().err
