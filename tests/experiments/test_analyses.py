"""Tests for the after-training analyses (resnet_viz.experiments.analyses): what they yield for
a run's members, in which order, and that a consumer that stops iterating stops the work."""

from __future__ import annotations

import pytest
import torch

from resnet_viz import keys
from resnet_viz.config import TrainConfig
from resnet_viz.experiments import analyses
from resnet_viz.experiments.analyses import Finding, Trained, analyse
from resnet_viz.models import build_model


@pytest.fixture
def members() -> list[Trained]:
    torch.manual_seed(0)
    return [
        Trained(0, "resnet8", build_model("resnet8", 10).eval()),
        Trained(1, "plain8", build_model("resnet8", 10, skip=False).eval()),
    ]


def _val(n: int = 24, batch: int = 8):
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randn(batch, 3, 16, 16, generator=g), torch.randint(0, 10, (batch,), generator=g))
        for _ in range(n // batch)
    ]


def test_lesion_yields_a_note_then_a_finding_per_member(members):
    cfg = TrainConfig(analyses=("lesion",))
    items = list(analyse(cfg, members, _val(), num_classes=10, on_cpu=True))
    assert items[0] == "Lesion study of resnet8…" and items[2] == "Lesion study of plain8…"
    found = [i for i in items if isinstance(i, Finding)]
    assert [(f.member, f.kind) for f in found] == [(0, keys.LESION), (1, keys.LESION)]
    assert found[0].payload["images"] == 24 and len(found[0].payload["single"]) == 3
    assert found[0].payload["chance"] == pytest.approx(0.1)


def test_the_cpu_lesion_uses_a_capped_number_of_images(members, monkeypatch):
    monkeypatch.setattr(analyses, "CPU_LESION_IMAGES", 10)
    cfg = TrainConfig(analyses=("lesion",))
    on_cpu = [i for i in analyse(cfg, members[:1], _val(), num_classes=10, on_cpu=True)]
    on_gpu = [i for i in analyse(cfg, members[:1], _val(), num_classes=10, on_cpu=False)]
    assert on_cpu[-1].payload["images"] == 10 and on_gpu[-1].payload["images"] == 24


def test_shattering_yields_each_member_then_the_depth_sweep(members, monkeypatch):
    monkeypatch.setattr(analyses, "CPU_DEPTHS", (8,))
    cfg = TrainConfig(analyses=("shattering",)).with_overrides({"cohort": "plain14"})
    items = list(analyse(cfg, members, _val(), num_classes=10, on_cpu=True))
    found = [i for i in items if isinstance(i, Finding)]
    assert [(f.member, f.kind) for f in found] == [
        (0, keys.SHATTERING),
        (1, keys.SHATTERING),
        (keys.RUN_LEVEL, keys.SHATTERING_DEPTH),
    ]
    assert "Shattering at initialisation, by depth…" in items
    sweep = found[-1].payload
    assert sweep["depth"] == [8, 14]  # the base depths plus every CIFAR member's
    assert len(sweep["plain"]) == len(sweep["residual"]) == 2


def test_nothing_is_computed_that_the_config_does_not_ask_for(members):
    assert list(analyse(TrainConfig(), members, _val(), num_classes=10, on_cpu=True)) == []


def test_a_consumer_that_stops_stops_the_work(members, monkeypatch):
    calls = []
    real = analyses.lesion_study
    monkeypatch.setattr(analyses, "lesion_study", lambda *a, **k: calls.append(1) or real(*a, **k))
    for item in analyse(TrainConfig(analyses=("lesion",)), members, _val(), num_classes=10,
                        on_cpu=True):  # fmt: skip
        if isinstance(item, Finding):
            break  # as the trainer does when Stop is pressed
    assert calls == [1]  # the second member's study never ran


def test_sharpness_measures_the_hessian_and_the_fit_on_training_images(members, monkeypatch):
    monkeypatch.setattr(analyses, "SHARPNESS_STEPS", 4)
    monkeypatch.setattr(analyses, "SHARPNESS_SAMPLES", 2)
    cfg = TrainConfig(analyses=("sharpness",))
    train = _val(32)
    items = list(
        analyse(cfg, members, _val(), num_classes=10, on_cpu=True, train=lambda: iter(train))
    )
    assert items[0] == "Sharpness of resnet8…"
    found = {(f.member, f.kind): f.payload for f in items if isinstance(f, Finding)}
    assert set(found) == {(m, k) for m in (0, 1) for k in (keys.SHARPNESS, keys.TRAIN_FIT)}
    sharp = found[(0, keys.SHARPNESS)]
    assert sharp["max_eigenvalue"] >= sharp["min_eigenvalue"] and sharp["steps"] == 4
    fit = found[(0, keys.TRAIN_FIT)]
    assert fit["images"] == 32 and 0 <= fit["accuracy"] <= 1
    x = torch.cat([b[0] for b in train])
    y = torch.cat([b[1] for b in train])
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(members[0].model(x), y)
    assert fit["loss"] == pytest.approx(float(expected), rel=1e-5)  # eval mode, every image


def test_without_training_batches_sharpness_is_skipped(members):
    cfg = TrainConfig(analyses=("sharpness",))
    assert list(analyse(cfg, members, _val(), num_classes=10, on_cpu=True)) == []
