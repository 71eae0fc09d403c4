"""Tests for checkpoints (resnet_viz.checkpoints): safetensors + JSON header, never a pickle."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from resnet_viz import checkpoints
from resnet_viz.checkpoints import FORMAT, load_checkpoint, read_meta, save_checkpoint
from resnet_viz.errors import CheckpointError
from resnet_viz.models import build_model, residual_blocks, set_stage_skip


def _meta(arch: str = "resnet8", skip=(1.0,), batchnorm: bool = True, num_classes: int = 10):
    return {
        "model": {"arch": arch, "skip": list(skip), "batchnorm": batchnorm, "pretrained": False},
        "num_classes": num_classes,
        "classes": [f"c{i}" for i in range(num_classes)],
        "step": 12,
    }


def _trained_model(arch: str = "resnet8", num_classes: int = 10, **kwargs) -> nn.Module:
    """A model whose weights and BN statistics differ from a fresh build."""
    torch.manual_seed(0)
    model = build_model(arch, num_classes, **kwargs)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 32, 32))  # moves the running statistics
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval()


def _x() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_round_trip_gives_identical_outputs_and_meta(tmp_path):
    model = _trained_model()
    set_stage_skip(model, [1, 0, 0.5])
    meta = _meta(skip=(1, 0, 0.5))
    path = save_checkpoint(tmp_path / "ckpt" / "model-0.safetensors", model, meta)
    assert path == tmp_path / "ckpt" / "model-0.safetensors" and path.is_file()

    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == {"format": FORMAT, **meta}
    assert read_meta(path) == loaded_meta
    assert not loaded.training
    assert [b.skip_scale for _, b in residual_blocks(loaded)] == [1.0, 0.0, 0.5]
    with torch.no_grad():
        assert torch.equal(loaded(_x()), model(_x()))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_round_trip_without_batchnorm(tmp_path):
    model = _trained_model(batchnorm=False)
    path = save_checkpoint(tmp_path / "m.safetensors", model, _meta(batchnorm=False))
    loaded, meta = load_checkpoint(path)
    assert meta["model"]["batchnorm"] is False
    assert not any(isinstance(m, nn.BatchNorm2d) for m in loaded.modules())
    with torch.no_grad():
        assert torch.equal(loaded(_x()), model(_x()))


def test_no_temporary_file_is_left(tmp_path):
    folder = tmp_path / "run"
    save_checkpoint(folder / "a.safetensors", _trained_model(), _meta())
    save_checkpoint(folder / "a.safetensors", _trained_model(), _meta(num_classes=10))  # overwrite
    assert [p.name for p in folder.iterdir()] == ["a.safetensors"]


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    path = save_checkpoint(folder / "a.safetensors", _trained_model(), _meta())
    before = path.read_bytes()

    def broken_save(state, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _trained_model(), _meta(num_classes=3))
    assert path.read_bytes() == before
    assert [p.name for p in folder.iterdir()] == ["a.safetensors"]


def test_the_file_is_plain_safetensors(tmp_path):
    model = _trained_model()
    path = save_checkpoint(tmp_path / "m.safetensors", model, _meta())
    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == set(model.state_dict())
        header = f.metadata()
    assert json.loads(header["resnet_viz"])["format"] == FORMAT
    # The layout is an 8-byte length, a JSON header, raw tensor bytes: nothing to unpickle.
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    parsed = json.loads(raw[8 : 8 + length])
    assert parsed["__metadata__"] == header
    assert not raw.startswith(b"\x80") and not raw.startswith(b"PK")  # not pickle, not zip


# ---- errors -----------------------------------------------------------------------------------
class _Evil:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _expect_error(path: Path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert path.name in str(info.value)
    assert isinstance(info.value, ValueError)
    return info.value


def test_empty_file(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    _expect_error(path, "not a readable safetensors file")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=torch.Generator()).tolist()))
    _expect_error(path, "not a readable safetensors file")


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nowhere.safetensors", "not a readable")


@pytest.mark.parametrize("zipped", [True, False], ids=["torch.save", "raw pickle"])
def test_pickle_files_are_refused_without_unpickling(tmp_path, zipped):
    marker = tmp_path / "unpickled"
    path = tmp_path / "model.pt"
    payload = {"conv1.weight": torch.zeros(1), "evil": _Evil(marker)}
    if zipped:
        torch.save(payload, path)
    else:
        import pickle

        path.write_bytes(pickle.dumps(payload))
    _expect_error(path, "not a readable safetensors file")
    assert not marker.exists()


def test_truncated_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _trained_model(), _meta())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    _expect_error(path, "not a readable safetensors file")


def test_safetensors_without_our_metadata(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file(_trained_model().state_dict(), str(path))
    _expect_error(path, "not saved by this app")
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    _expect_error(path, "not saved by this app")


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("{not json", "damaged configuration header"),
        (json.dumps({"format": "resnet-viz-checkpoint/99"}), "unknown checkpoint format"),
        (json.dumps({"model": {"arch": "resnet8"}}), "unknown checkpoint format"),
    ],
)
def test_bad_headers(tmp_path, header, match):
    path = tmp_path / "bad.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"resnet_viz": header})
    _expect_error(path, match)


def _save_with_meta(tmp_path: Path, model: nn.Module, meta: dict) -> Path:
    return save_checkpoint(tmp_path / "wrong.safetensors", model, meta)


def test_weights_of_a_smaller_arch(tmp_path):
    path = _save_with_meta(tmp_path, _trained_model("resnet8"), _meta("resnet14"))
    err = _expect_error(path, "does not fit resnet14")
    assert "missing" in str(err) and "layer1.1." in str(err)
    assert "unexpected" not in str(err)


def test_weights_of_a_larger_arch(tmp_path):
    path = _save_with_meta(tmp_path, _trained_model("resnet14"), _meta("resnet8"))
    err = _expect_error(path, "does not fit resnet8")
    assert "unexpected" in str(err) and "layer1.1." in str(err)
    assert "missing" not in str(err)


def test_weights_of_another_head(tmp_path):
    path = _save_with_meta(tmp_path, _trained_model(num_classes=10), _meta(num_classes=5))
    err = _expect_error(path, "shape mismatches")
    assert "fc.weight" in str(err) and "(10, 64)" in str(err) and "(5, 64)" in str(err)


def test_weights_with_batchnorm_described_without(tmp_path):
    path = _save_with_meta(tmp_path, _trained_model(), _meta(batchnorm=False))
    err = _expect_error(path, "does not fit resnet8")
    assert "missing" in str(err) and "unexpected" in str(err)
    assert "bias" in str(err) and "bn1" in str(err)


def test_cifar_weights_described_as_torchvision(tmp_path):
    path = _save_with_meta(tmp_path, _trained_model(), _meta("resnet18"))
    _expect_error(path, "does not fit resnet18")


@pytest.mark.parametrize(
    "model_meta",
    [
        {"arch": "resnet9", "skip": [1], "batchnorm": True, "pretrained": False},
        {"arch": "resnet8", "batchnorm": True, "pretrained": False},
        {"arch": "resnet8", "skip": [1], "batchnorm": True, "pretrained": False, "depth": 8},
        ["resnet8"],
    ],
    ids=["unknown arch", "no skip", "unknown field", "not a mapping"],
)
def test_bad_model_descriptions(tmp_path, model_meta):
    meta = {**_meta(), "model": model_meta}
    path = _save_with_meta(tmp_path, _trained_model(), meta)
    _expect_error(path, "bad model description")


def test_missing_num_classes(tmp_path):
    meta = _meta()
    del meta["num_classes"]
    path = _save_with_meta(tmp_path, _trained_model(), meta)
    _expect_error(path, "bad model description")


@pytest.mark.parametrize(
    "change",
    ["skip for 2 stages", "skip out of range", "num_classes not a number", "header is a list"],
)
def test_inconsistent_metadata_is_a_checkpoint_error(tmp_path, change):
    model = _trained_model()
    path = tmp_path / "odd.safetensors"
    if change == "header is a list":
        save_file(model.state_dict(), str(path), metadata={"resnet_viz": json.dumps([FORMAT])})
    else:
        meta = {
            "skip for 2 stages": _meta(skip=(1, 0)),
            "skip out of range": _meta(skip=(1, 0, 5)),
            "num_classes not a number": {**_meta(), "num_classes": "ten"},
        }[change]
        save_checkpoint(path, model, meta)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


# ---- loading from bytes (an upload) ---------------------------------------------------------
def test_bytes_load_like_the_file(tmp_path):
    model = _trained_model()
    path = save_checkpoint(tmp_path / "m.safetensors", model, _meta())
    from_bytes, meta = load_checkpoint(path.read_bytes(), name="upload.safetensors")
    from_path, _ = load_checkpoint(path)
    assert meta == read_meta(path)
    with torch.no_grad():
        assert torch.equal(from_bytes(_x()), from_path(_x()))
    assert checkpoints.is_checkpoint(path.read_bytes())


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"", "not a valid safetensors"), (b"\x02" + b"\0" * 7 + b"{}", "no ResNet Viz")],
)
def test_bad_bytes_name_the_upload(data, match):
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(data, name="mine.safetensors")
    assert "mine.safetensors" in str(err.value)


def test_truncated_bytes_are_refused(tmp_path):
    data = save_checkpoint(tmp_path / "m.safetensors", _trained_model(), _meta()).read_bytes()
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(data[: len(data) // 2], name="half.safetensors")


def test_state_dict_mismatch_counts_and_names_what_differs():
    model = build_model("resnet8", 10)
    state = dict(model.state_dict())
    assert checkpoints.state_dict_mismatch(model, state) == (0, "")
    state.pop("fc.bias")
    state["extra"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(5, 64)
    count, why = checkpoints.state_dict_mismatch(model, state)
    assert count == 3
    assert "missing 1 keys (e.g. fc.bias)" in why and "1 unexpected keys (e.g. extra)" in why
    assert "fc.weight: file (5, 64) vs model (10, 64)" in why
