"""Presets: the Train page's single models and the Skip Lab's cohorts, sized for the device."""

from __future__ import annotations

import pytest
import torch

from resnet_viz.errors import ConfigError
from resnet_viz.train import presets
from resnet_viz.train.presets import LAB_PRESETS, PRESETS, get_preset, preset_for_device


def _cost(cfg) -> float:
    """Relative training cost: images seen × layers of every member × pixels."""
    layers = sum(int(m.arch[6:]) for m in cfg.members)
    return cfg.data.train_size * cfg.epochs * layers * cfg.data.image_size**2


@pytest.mark.parametrize("name", list(LAB_PRESETS))
def test_lab_presets_are_valid_cohorts_with_an_explanation(name):
    preset = LAB_PRESETS[name]
    for cfg in (preset.config, preset.gpu):
        assert cfg.validate() is cfg
        assert cfg.experiment == name and len(cfg.members) >= 2
    assert preset.title and len(preset.watch) > 200
    assert _cost(preset.gpu) > 2 * _cost(preset.config)  # deeper and/or longer on a GPU


def test_train_page_presets_are_single_models():
    assert all(p.config.cohort == () for p in PRESETS.values())
    assert not set(PRESETS) & set(LAB_PRESETS)


def test_sized_for_the_device(monkeypatch):
    gpu = (torch.device("cuda", 0), "a GPU")
    monkeypatch.setattr(presets, "pick_device", lambda requested: gpu)
    assert preset_for_device("degradation") == LAB_PRESETS["degradation"].gpu
    # Forcing the CPU gives the CPU size even where a GPU is.
    monkeypatch.setattr(
        presets, "pick_device", lambda r: (torch.device(r), "") if r == "cpu" else gpu
    )
    cfg = preset_for_device("degradation", ["device=cpu", "epochs=1"])
    assert cfg.data == LAB_PRESETS["degradation"].config.data and cfg.epochs == 1
    assert preset_for_device("default") == get_preset("default")  # no GPU version: unchanged


def test_unknown_preset_lists_every_name():
    with pytest.raises(ConfigError, match="degradation") as err:
        get_preset("nope")
    assert "default" in str(err.value)
