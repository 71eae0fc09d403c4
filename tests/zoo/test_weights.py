"""Uploaded weights (resnet_viz.zoo.weights): recognised by their keys, never unpickled."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save as save_safetensors

from resnet_viz import zoo
from resnet_viz.checkpoints import save_checkpoint
from resnet_viz.errors import CheckpointError
from resnet_viz.models import build_model

from .conftest import _pth


# ---- uploaded weights ------------------------------------------------------------------------
def test_a_pth_state_dict_is_recognised_by_its_keys():
    state = build_model("resnet20", 7).state_dict()
    loaded = zoo.load_user_weights(_pth(state), "mine.pth")
    assert loaded.arch == "resnet20" and len(loaded.classes) == 7 and loaded.note
    assert torch.equal(loaded.model.state_dict()["fc.weight"], state["fc.weight"])


def test_dataparallel_and_nested_state_dicts_are_unwrapped():
    state = build_model("resnet8", 10, batchnorm=False).state_dict()
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    loaded = zoo.load_user_weights(_pth(wrapped), "ckpt.pt")
    assert loaded.arch == "resnet8"
    assert not any("running_mean" in k for k in loaded.model.state_dict())


def test_an_imagenet_state_dict_gets_imagenet_classes_and_preprocessing():
    state = torchvision.models.resnet18().state_dict()  # stock torchvision, reused ReLU and all
    loaded = zoo.load_user_weights(save_safetensors(state), "r18.safetensors")
    assert loaded.arch == "resnet18" and loaded.classes[0] == "tench"
    assert loaded.image_size == 224 and loaded.mean == zoo.IMAGENET_MEAN


def test_our_own_checkpoint_uploaded_keeps_its_metadata(tmp_path, default):
    path = save_checkpoint(tmp_path / "x.safetensors", default.model, default.meta)
    loaded = zoo.load_user_weights(path.read_bytes(), "x.safetensors")
    assert loaded.classes == default.classes and loaded.mean == default.mean


def test_pickled_objects_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (marker,))

    data = pickle.dumps({"fc.weight": Boom()})
    with pytest.raises(CheckpointError, match="could run arbitrary code"):
        zoo.load_user_weights(_pth({"x": torch.zeros(1), "evil": Boom()}), "evil.pth")
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        zoo.load_user_weights(data, "evil.pth")  # a bare pickle, not torch.save's format
    assert not marker.exists()


def test_wrong_architecture_names_what_differs():
    state = build_model("resnet20", 10).state_dict()
    with pytest.raises(CheckpointError, match=r"does not fit resnet32: missing \d+ keys"):
        zoo.load_user_weights(_pth(state), "r20.pth", arch="resnet32")
    state["fc.weight"] = torch.zeros(10, 65)
    with pytest.raises(CheckpointError, match=r"closest: resnet20.*shape mismatches: fc.weight"):
        zoo.load_user_weights(_pth(state), "bent.pth")


@pytest.mark.parametrize(
    ("data", "name", "match"),
    [
        (b"", "empty.pth", "empty"),
        (b"hello", "x.txt", "expected a .safetensors"),
        (b"not a zip or pickle", "x.pth", "not a PyTorch weights file"),
        (struct.pack("<Q", 999) + b"{}", "x.safetensors", "not a valid safetensors"),
        (struct.pack("<Q", 2) + b"[]", "x.safetensors", "not a valid safetensors"),
        (_pth([1, 2, 3]), "list.pth", "does not contain a state dict"),
        (_pth({"conv.weight": torch.zeros(1)}), "nofc.pth", "no fc.weight"),
    ],
)
def test_bad_weight_files_get_a_clear_message(data, name, match):
    with pytest.raises(CheckpointError, match=match):
        zoo.load_user_weights(data, name)


def test_a_safetensors_header_that_lies_is_refused():
    data = bytearray(save_safetensors({"fc.weight": torch.zeros(2, 2)}))
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    header["fc.weight"]["data_offsets"] = [0, 10_000]
    raw = json.dumps(header).encode()
    bad = struct.pack("<Q", len(raw)) + raw + bytes(data[8 + n :])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        zoo.load_user_weights(bad, "liar.safetensors")
