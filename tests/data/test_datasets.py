"""Dataset sources on data the tests make: a tiny CIFAR-10 folder, image folders, Shapes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import CIFAR10

from resnet_viz.config import DataConfig
from resnet_viz.data import Batches, load_dataset
from resnet_viz.errors import DataError, InputError


def write_tiny_cifar(root, n_train_per_batch=4, n_test=6):
    """The real on-disk format (python pickles of uint8 rows) torchvision reads."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(n, offset):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(offset + i) % 10 for i in range(n)]
        return {"data": data, "labels": labels}

    for i in range(1, 6):
        with open(base / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch(n_train_per_batch, i), f)
    with open(base / "test_batch", "wb") as f:
        pickle.dump(batch(n_test, 0), f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)


@pytest.fixture
def no_md5(monkeypatch):
    # The files are ours, not the real release, so skip torchvision's checksum of the release.
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)


def test_cifar10_from_a_local_folder(tmp_path, no_md5):
    write_tiny_cifar(tmp_path / "cifar10")
    ds = load_dataset(DataConfig(dataset="cifar10", train_size=0, val_size=0), root=tmp_path)
    assert ds.classes[0] == "airplane" and ds.num_classes == 10
    assert ds.train.images.shape == (20, 3, 32, 32) and ds.train.images.dtype == torch.uint8
    assert len(ds.val) == 6
    assert ds.train.labels.tolist()[:4] == [1, 2, 3, 4]


def test_cifar10_caps_and_resizes(tmp_path, no_md5):
    write_tiny_cifar(tmp_path / "mine")
    cfg = DataConfig(dataset="cifar10", folder="mine", train_size=7, val_size=3, image_size=16)
    ds = load_dataset(cfg, root=tmp_path)
    assert ds.train.images.shape == (7, 3, 16, 16) and len(ds.val) == 3


def test_cifar10_missing_offline_says_what_to_do(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(DataError, match="cifar-10-batches-py") as err:
        load_dataset(DataConfig(dataset="cifar10"), root=tmp_path)
    assert "network is unreachable" in str(err.value) and "Shapes" in str(err.value)


def write_folder(root, classes=("cat", "dog"), per_class=5, size=(40, 30)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            colour = (200 * c, 10 * i, 100)
            Image.new("RGB", size, colour).save(root / name / f"{i}.png")


def test_image_folder_split_by_seed(tmp_path):
    write_folder(tmp_path / "pets")
    ds = load_dataset(DataConfig(dataset="folder", folder="pets", image_size=24), root=tmp_path)
    assert ds.classes == ("cat", "dog")
    assert len(ds.train) + len(ds.val) == 10 and len(ds.val) == 2
    assert ds.train.images.shape[1:] == (3, 24, 24)
    again = load_dataset(DataConfig(dataset="folder", folder="pets", image_size=24), root=tmp_path)
    assert torch.equal(ds.val.labels, again.val.labels)


def test_image_folder_with_train_and_val(tmp_path):
    write_folder(tmp_path / "pets" / "train")
    write_folder(tmp_path / "pets" / "val", per_class=2)
    ds = load_dataset(DataConfig(dataset="folder", folder="pets"), root=tmp_path)
    assert (len(ds.train), len(ds.val)) == (10, 4)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        load_dataset(DataConfig(dataset="folder", folder="nope"), root=tmp_path)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="No images found"):
        load_dataset(DataConfig(dataset="folder", folder="empty"), root=tmp_path)
    write_folder(tmp_path / "broken")
    (tmp_path / "broken" / "cat" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png"):
        load_dataset(DataConfig(dataset="folder", folder="broken"), root=tmp_path)


def test_paths_cannot_leave_the_data_root(tmp_path):
    (tmp_path / "root").mkdir()
    write_folder(tmp_path / "outside")
    with pytest.raises(InputError, match="outside the data root"):
        load_dataset(DataConfig(dataset="folder", folder="../outside"), root=tmp_path / "root")
    (tmp_path / "root" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InputError, match="outside the data root"):
        load_dataset(DataConfig(dataset="folder", folder="link"), root=tmp_path / "root")


def test_a_link_inside_a_class_folder_cannot_lead_out_of_the_data_root(tmp_path):
    """The top-level folder is inside the root, but a class folder (or one picture) in it is a
    link to elsewhere: every file is checked after resolving links."""
    write_folder(tmp_path / "root" / "class", classes=("cat",))
    write_folder(tmp_path / "outside", classes=("dog",))
    (tmp_path / "root" / "class" / "dog").symlink_to(tmp_path / "outside" / "dog")
    with pytest.raises(DataError, match="leads outside the data root"):
        load_dataset(DataConfig(dataset="folder", folder="class"), root=tmp_path / "root")
    (tmp_path / "root" / "class" / "dog").unlink()
    (tmp_path / "root" / "class" / "cat" / "x.png").symlink_to(tmp_path / "outside/dog/0.png")
    with pytest.raises(DataError, match=r"x\.png leads outside"):
        load_dataset(DataConfig(dataset="folder", folder="class"), root=tmp_path / "root")
    # A link that stays inside the root is fine.
    (tmp_path / "root" / "class" / "cat" / "x.png").unlink()
    (tmp_path / "root" / "class" / "cat" / "y.png").symlink_to(tmp_path / "root/class/cat/0.png")
    ds = load_dataset(DataConfig(dataset="folder", folder="class"), root=tmp_path / "root")
    assert len(ds.train) + len(ds.val) == 6


def test_shapes_split_cache_and_stats(tmp_path):
    cfg = DataConfig(train_size=200, val_size=50)
    first = load_dataset(cfg, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    cached = load_dataset(cfg, cache_dir=tmp_path)
    assert torch.equal(first.train.images, cached.train.images)
    assert torch.equal(first.val.masks, cached.val.masks)
    assert not torch.equal(first.train.images[:50], first.val.images)  # distinct streams
    assert first.train.masks.dtype == torch.bool
    assert all(0 < s < 1 for s in first.std)
    # A corrupt cache file is regenerated, not trusted.
    for f in tmp_path.glob("*.safetensors"):
        f.write_bytes(b"garbage")
    again = load_dataset(cfg, cache_dir=tmp_path)
    assert torch.equal(first.train.images, again.train.images)


def test_batches_are_normalised_shuffled_by_epoch_and_drop_ragged(tmp_path):
    ds = load_dataset(DataConfig(train_size=100, val_size=10), cache_dir=tmp_path)
    b = Batches(ds.train, 32, mean=ds.mean, std=ds.std, device=torch.device("cpu"), seed=1)
    assert len(b) == 3
    e0 = [y for _, y in b.epoch(0)]
    assert next(y for _, y in b.epoch(0)).tolist() == e0[0].tolist()  # same epoch, same order
    assert e0[0].tolist() != next(b.epoch(1))[1].tolist()
    x = torch.cat([x for x, _ in b.epoch(0)])
    assert abs(x.mean().item()) < 0.2 and 0.8 < x.std().item() < 1.2
    val = Batches(ds.val, 4, mean=ds.mean, std=ds.std, device=torch.device("cpu"), shuffle=False)
    assert len(val) == 3 and sum(len(y) for _, y in val.epoch()) == 10


def test_augmentation_changes_images_but_not_labels(tmp_path):
    ds = load_dataset(DataConfig(train_size=64, val_size=0), cache_dir=tmp_path)
    kw = {"mean": ds.mean, "std": ds.std, "device": torch.device("cpu")}
    plain = next(Batches(ds.train, 64, **kw).epoch(0))
    torch.manual_seed(0)
    aug = next(Batches(ds.train, 64, augment=True, **kw).epoch(0))
    assert torch.equal(plain[1], aug[1]) and not torch.equal(plain[0], aug[0])


def test_a_cache_that_cannot_be_written_is_only_a_slower_start(tmp_path, monkeypatch, capsys):
    from resnet_viz.data import datasets

    def full_disk(tensors, path):
        Path(path).write_bytes(b"")  # what a failed write leaves: a 0-byte file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(datasets, "save_file", full_disk)
    cache = tmp_path / "cache"
    ds = load_dataset(DataConfig(train_size=64, val_size=16), cache_dir=cache)
    assert len(ds.train) == 64 and len(ds.val) == 16  # the run goes on
    assert list(cache.iterdir()) == []  # no temporary file left
    assert "Dataset cache not written" in capsys.readouterr().err
    monkeypatch.setattr(
        datasets.tempfile,
        "mkstemp",
        lambda **k: (_ for _ in ()).throw(PermissionError(13, "Read-only")),
    )
    assert len(load_dataset(DataConfig(train_size=64, val_size=16), cache_dir=cache).train) == 64


def test_a_cifar_batch_file_linked_from_outside_the_data_root_is_refused(tmp_path):
    from resnet_viz.errors import DataError

    batches = tmp_path / "root" / "cifar10" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    (tmp_path / "secret").write_bytes(b"not yours")
    (batches / "data_batch_1").symlink_to(tmp_path / "secret")
    with pytest.raises(DataError, match="data_batch_1 leads outside the data root"):
        load_dataset(DataConfig(dataset="cifar10"), root=tmp_path / "root")
