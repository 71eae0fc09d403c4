"""Model and picture sources (resnet_viz.zoo): the bundled default, runs, torchvision weights
through the hub cache, uploaded weights (never unpickled), samples and dataset draws."""

from __future__ import annotations

import io
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save as save_safetensors
from torchvision.models import ResNet18_Weights

from resnet_viz import zoo
from resnet_viz.checkpoints import save_checkpoint
from resnet_viz.errors import CheckpointError, DataError
from resnet_viz.models import build_model
from resnet_viz.store import RunStore


@pytest.fixture(scope="module")
def default() -> zoo.LoadedModel:
    return zoo.load_default()


def _pth(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# ---- the bundled default -----------------------------------------------------------------------
def test_default_model_knows_its_classes_and_preprocessing(default):
    assert default.arch == "resnet8" and default.dataset == "shapes"
    assert default.classes[:3] == ("circle", "square", "triangle") and len(default.classes) == 10
    assert default.image_size == 32 and not default.model.training
    assert all(0 < s < 1 for s in default.std)


def test_default_model_classifies_fresh_shapes_samples(default):
    samples = zoo.sample_images(default)
    shapes = [s for s in samples if s.label is not None]
    assert len(shapes) == 10 and all(s.mask is not None for s in shapes)
    hits = sum(default.predict(default.to_tensor(s.image), 1)[0][0] == s.label for s in shapes)
    assert hits >= 8  # a 95% model on ten fresh drawings


def test_predict_returns_sorted_probabilities_that_sum_below_one(default):
    top = default.predict(default.to_tensor(zoo.sample_images(default)[0].image), 5)
    probs = [p for _, _, p in top]
    assert len(top) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    assert all(default.classes[i] == name for i, name, _ in top)


def test_clone_is_private(default):
    copy = default.clone()
    with torch.no_grad():
        next(copy.parameters()).add_(1)
    assert not torch.equal(next(copy.parameters()), next(default.model.parameters()))


# ---- geometry ----------------------------------------------------------------------------------
def test_input_image_centre_crops_without_distorting():
    loaded = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet18", ("a",), (0.5,) * 3, (0.5,) * 3, 224, resize_size=256
    )
    wide = Image.new("RGB", (600, 300), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 100, 300))  # a blue band on the left is cropped away
    seen = loaded.input_image(wide)
    assert seen.size == (224, 224)
    assert np.asarray(seen)[..., 2].max() < 10
    x = loaded.to_tensor(wide)
    assert x.shape == (1, 3, 224, 224)
    assert torch.allclose(x[0, 0], torch.ones(224, 224))  # (1 - 0.5) / 0.5


def test_masks_follow_the_image_geometry():
    loaded = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet8", ("a",), (0.5,) * 3, (0.5,) * 3, 32, resize_size=32
    )
    mask = np.zeros((64, 128), dtype=bool)
    mask[:, 60:68] = True  # a vertical bar in the middle survives the centre crop
    out = loaded.input_mask(mask)
    assert out.shape == (32, 32) and out.dtype == bool
    assert out[:, 15:17].all() and not out[:, :10].any()


def test_tiny_images_are_upsampled(default):
    assert default.to_tensor(Image.new("RGB", (1, 1), (9, 9, 9))).shape == (1, 3, 32, 32)


# ---- runs ----------------------------------------------------------------------------------------
def test_load_run_reads_a_members_checkpoint(runs_dir, default):
    store = RunStore(runs_dir)
    run_id = store.create_run("mine", {}, [("resnet8", {})])
    save_checkpoint(store.run_dir(run_id) / "model-0.safetensors", default.model, default.meta)
    loaded = zoo.load_run(store, run_id)
    assert loaded.classes == default.classes and "mine" in loaded.name
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), default.model(x))


def test_load_run_without_a_checkpoint_says_why(runs_dir):
    store = RunStore(runs_dir)
    run_id = store.create_run("busy", {}, [("resnet8", {})])
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


# ---- pictures --------------------------------------------------------------------------------
def test_samples_include_the_bundled_photos_for_any_model(default):
    imagenet_like = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet18", ("a",), (0.5,) * 3, (0.5,) * 3, 224
    )
    photos = zoo.sample_images(imagenet_like)
    assert {s.name for s in photos} == {"flower", "grace hopper", "temple"}
    assert all(s.image.mode == "RGB" and s.mask is None for s in photos)
    assert len(zoo.sample_images(default)) == len(photos) + 10


def test_shapes_draws_are_deterministic_have_masks_and_differ_by_seed(default):
    a, b = zoo.dataset_samples(default, 3, 5), zoo.dataset_samples(default, 3, 5)
    c = zoo.dataset_samples(default, 3, 6)
    assert [np.asarray(s.image).tobytes() for s in a] == [np.asarray(s.image).tobytes() for s in b]
    assert [np.asarray(s.image).tobytes() for s in a] != [np.asarray(s.image).tobytes() for s in c]
    for s in a:
        assert s.mask.shape == (32, 32) and s.mask.any() and s.label is not None


def test_dataset_draws_for_a_model_without_a_dataset_say_what_to_do():
    loaded = zoo.LoadedModel(
        torch.nn.Identity(), "t", "resnet8", ("a",), (0.5,) * 3, (0.5,) * 3, 32
    )
    with pytest.raises(DataError, match="upload a picture"):
        zoo.dataset_samples(loaded, 2, 0)
