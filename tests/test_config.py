"""Tests for the run configuration (resnet_viz.config)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from resnet_viz.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    config_keys,
    parse_member,
)
from resnet_viz.errors import ConfigError


def _custom() -> TrainConfig:
    """A configuration that differs from the defaults in every group and every field type."""
    return TrainConfig(
        name="plain vs res",
        model=ModelConfig(arch="resnet20", skip=(1.0, 0.0, 0.5), batchnorm=False),
        data=DataConfig(dataset="folder", folder="pets", image_size=64, augment=True),
        optim=OptimConfig(optimizer="adamw", lr=0.0005, momentum=0.0, schedule="cosine"),
        batch_size=32,
        epochs=3,
        seed=7,
        device="cpu",
        log_every=2,
        evals_per_epoch=4,
    ).validate()


def test_defaults_validate():
    cfg = TrainConfig()
    assert cfg.validate() is cfg
    assert cfg.model.arch == "resnet8"
    assert cfg.model.skip == (1.0,)


def test_config_keys_are_the_flat_dotted_names():
    keys = config_keys()
    assert "model.arch" in keys and "optim.lr" in keys and "epochs" in keys
    assert "model" not in keys  # groups are not settings
    assert len(keys) == len(set(keys))


def test_with_overrides_list_form():
    cfg = TrainConfig().with_overrides(["optim.lr=0.05", " epochs = 3 ", "model.arch=resnet14"])
    assert cfg.optim.lr == 0.05
    assert cfg.epochs == 3
    assert cfg.model.arch == "resnet14"
    # Everything else untouched.
    assert cfg.data == DataConfig()
    assert cfg.batch_size == TrainConfig().batch_size


def test_with_overrides_dict_form_accepts_strings_and_values():
    cfg = TrainConfig().with_overrides(
        {"optim.lr": "0.05", "epochs": 4, "data.augment": True, "model.skip": [1, 0, 1]}
    )
    assert cfg.optim.lr == 0.05
    assert cfg.epochs == 4 and isinstance(cfg.epochs, int)
    assert cfg.data.augment is True
    assert cfg.model.skip == (1.0, 0.0, 1.0)


def test_with_overrides_does_not_mutate_the_original():
    base = TrainConfig()
    base.with_overrides(["epochs=9"])
    assert base.epochs == TrainConfig().epochs


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("epochs", "7", 7),
        ("epochs", "7.0", 7),
        ("batch_size", "1e2", 100),
        ("optim.lr", "1e-3", 0.001),
        ("optim.lr", " 0.25 ", 0.25),
        ("model.skip", "1,0,1", (1.0, 0.0, 1.0)),
        ("model.skip", "1, 0.5", (1.0, 0.5)),
        ("model.skip", "0", (0.0,)),
        ("model.arch", "resnet18", "resnet18"),
        ("name", "my run", "my run"),
    ],
)
def test_values_are_parsed_to_the_field_type(key, raw, expected):
    cfg = TrainConfig().with_overrides({key: raw})
    value = cfg
    for part in key.split("."):
        value = getattr(value, part)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, tuple):
        assert all(type(v) is float for v in value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_bool_words(raw, expected):
    cfg = TrainConfig().with_overrides({"model.batchnorm": raw})
    assert cfg.model.batchnorm is expected


def test_round_trip_through_dict_and_json():
    cfg = _custom()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg

    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_round_trip_through_flat_overrides():
    cfg = _custom()
    flat = cfg.flat()
    assert all(isinstance(v, str) for v in flat.values())
    assert flat["model.skip"] == "1,0,0.5"
    assert flat["model.batchnorm"] == "false"
    assert TrainConfig().with_overrides(flat) == cfg
    # ... and in the CLI's list form too.
    assert TrainConfig().with_overrides([f"{k}={v}" for k, v in flat.items()]) == cfg


def test_defaults_round_trip():
    cfg = TrainConfig()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig().with_overrides(cfg.flat()) == cfg


def test_to_dict_is_plain_json_data():
    d = _custom().to_dict()
    assert d["model"]["skip"] == [1.0, 0.0, 0.5]
    assert d["optim"]["optimizer"] == "adamw"


def test_from_dict_ignores_unknown_keys():
    d = _custom().to_dict()
    d["from_the_future"] = 1
    d["model"]["width_multiplier"] = 2
    assert TrainConfig.from_dict(d) == _custom()


def test_from_dict_fills_missing_keys_with_defaults():
    cfg = TrainConfig.from_dict({"epochs": 2, "model": {"arch": "resnet14"}})
    assert cfg.epochs == 2
    assert cfg.model == ModelConfig(arch="resnet14")
    assert cfg.optim == OptimConfig()


def test_from_dict_rejects_a_non_mapping_group():
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"model": ["resnet8"]})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"nonsense": "1"}, "Unknown setting"),
        ({"model.nonsense": "1"}, "Unknown setting"),
        ({"epochs.deep": "1"}, "Unknown setting"),
        ({"model": "resnet8"}, "group"),
        ({"epochs": "two"}, "epochs"),
        ({"epochs": "1.5"}, "epochs"),
        ({"optim.lr": "nan"}, "optim.lr"),
        ({"optim.lr": "inf"}, "optim.lr"),
        ({"model.batchnorm": "maybe"}, "model.batchnorm"),
        ({"model.skip": "1,x"}, "model.skip"),
        ({"model.arch": "resnet9"}, "model.arch"),
        ({"data.dataset": "folder"}, "data.folder"),
        ({"data.dataset": "mnist"}, "data.dataset"),
        ({"epochs": "0"}, "epochs"),
        ({"batch_size": "0"}, "batch_size"),
        ({"optim.lr": "0"}, "optim.lr"),
        ({"optim.momentum": "1"}, "momentum"),
        ({"optim.grad_clip": "-1"}, "grad_clip"),
        ({"model.skip": "3"}, "model.skip"),
        ({"model.skip": ""}, "model.skip"),
        ({"data.image_size": "4"}, "image_size"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_invalid_overrides_raise_config_error(overrides, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig().with_overrides(overrides)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        TrainConfig().with_overrides({"epochs": "0"})


def test_list_item_without_equals_sign_is_rejected():
    with pytest.raises(ConfigError, match="key=value"):
        TrainConfig().with_overrides(["epochs"])


def test_validate_rejects_folder_dataset_without_folder():
    cfg = dataclasses.replace(TrainConfig(), data=DataConfig(dataset="folder"))
    with pytest.raises(ConfigError, match=r"data\.folder"):
        cfg.validate()
    dataclasses.replace(cfg, data=DataConfig(dataset="folder", folder="x")).validate()


def test_configs_are_frozen_and_hashable():
    cfg = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # type: ignore[misc]
    assert hash(cfg) == hash(TrainConfig())


# ---- cohorts (Skip Lab) -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model",
    [
        ModelConfig("resnet20"),
        ModelConfig("resnet20", skip=(0.0,)),
        ModelConfig("resnet20", skip=(1.0, 0.0, 0.5)),
        ModelConfig("resnet56", skip=(0.0,), batchnorm=False),
        ModelConfig("resnet32", batchnorm=False, zero_init_residual=True),
        ModelConfig("resnet18", pretrained=True),
    ],
)
def test_member_labels_read_back(model):
    assert parse_member(model.label) == model


def test_member_labels_are_short_names():
    assert ModelConfig("resnet20").label == "resnet20"
    assert ModelConfig("resnet20", skip=(0.0,)).label == "plain20"
    assert ModelConfig("resnet20", skip=(1, 0, 1), batchnorm=False).label == (
        "resnet20 skip 1,0,1 no-BN"
    )
    assert ModelConfig("resnet20", skip=(1, 0.5, 1), batchnorm=False).label == (
        "resnet20 skip 1,0.5,1 no-BN"
    )
    assert parse_member("Plain56  no-bn") == ModelConfig("resnet56", skip=(0.0,), batchnorm=False)


@pytest.mark.parametrize("text", ["", "resnet20 fast", "resnet20 skip", "plain20 skip x"])
def test_bad_member_specs_say_how_to_write_them(text):
    with pytest.raises(ConfigError):
        parse_member(text)


def test_cohort_round_trips_through_flat_dict_and_json():
    cfg = TrainConfig().with_overrides(
        {"cohort": "plain8; resnet8 skip 1,0.5,1 no-BN", "controls": "35% skip 0 stage2 member1"}
    )
    assert cfg.cohort == (
        ModelConfig("resnet8", skip=(0.0,)),
        ModelConfig("resnet8", skip=(1.0, 0.5, 1.0), batchnorm=False),
    )
    assert cfg.members == (cfg.model, *cfg.cohort)
    assert cfg.flat()["cohort"] == "plain8;resnet8 skip 1,0.5,1 no-BN"
    assert TrainConfig().with_overrides(cfg.flat()) == cfg
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert hash(cfg) == hash(TrainConfig.from_dict(cfg.to_dict()))


def test_single_model_configs_are_unchanged_and_old_records_load():
    cfg = TrainConfig()
    assert cfg.cohort == () and cfg.members == (cfg.model,)
    assert cfg.flat()["cohort"] == "" and TrainConfig().with_overrides(cfg.flat()) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("cohort", "controls", "analyses")}
    assert TrainConfig.from_dict(old) == cfg


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"cohort": "resnet9"}, "cohort"),
        ({"cohort": "resnet8 skip 3"}, "cohort"),
        ({"cohort": ";".join(["plain8"] * 6)}, "at most"),
        ({"analyses": "lesion,magic"}, "analyses"),
        ({"controls": "35% skip 0 stage2 member1"}, "member 1"),  # no member 1 without a cohort
        ({"controls": "half-way skip 0"}, "scheduled control"),
        ({"controls": "50% skip 3"}, "between 0 and 2"),
        ({"controls": "50% bn sometimes"}, "BatchNorm mode"),
    ],
)
def test_invalid_cohort_settings(overrides, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig().with_overrides(overrides)


def test_with_twin_adds_the_plain_or_residual_twin():
    residual = TrainConfig(name="r", model=ModelConfig("resnet20"))
    cohort = residual.with_twin()
    assert cohort.members == (ModelConfig("resnet20"), ModelConfig("resnet20", skip=(0.0,)))
    assert cohort.name == "r + plain20" and "lesion" in cohort.analyses
    plain = TrainConfig(model=ModelConfig("resnet20", skip=(0.0,), batchnorm=False))
    assert plain.with_twin().cohort == (ModelConfig("resnet20", batchnorm=False),)
    # Everything else (data, optimiser, seed) is the single run's.
    assert dataclasses.replace(cohort, name="r", cohort=(), analyses=()) == residual


def test_setup_names_say_what_a_run_is():
    assert TrainConfig().setup_name() == "resnet8 · shapes"
    plain = TrainConfig().with_overrides({"model.arch": "resnet20", "model.skip": "0"})
    assert plain.setup_name() == "plain20 · shapes"
    pair = TrainConfig().with_overrides({"cohort": "plain8", "data.dataset": "cifar10"})
    assert pair.setup_name() == "resnet8 vs plain8 · cifar10"


def test_a_member_can_have_its_own_weight_decay_and_it_round_trips():
    from resnet_viz.config import parse_member

    cfg = TrainConfig().with_overrides({"model.weight_decay": "0", "cohort": "resnet8 wd 5e-3"})
    assert cfg.member_names() == ["resnet8 wd 0", "resnet8 wd 0.005"]
    assert [m.weight_decay for m in cfg.members] == [0.0, 0.005]
    assert parse_member("resnet8 wd 0.005") == cfg.members[1]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig().with_overrides(cfg.flat()) == cfg  # the URL / CLI form
    assert (
        TrainConfig().model.weight_decay is None
        and TrainConfig().flat()["model.weight_decay"] == ""
    )
    with pytest.raises(ConfigError, match="weight decay must be ≥ 0"):
        TrainConfig().with_overrides({"cohort": "resnet8 wd -1"})
