"""The bundled default model loads safely and is as good as its header says."""

from pathlib import Path

import torch

from resnet_viz.checkpoints import load_checkpoint
from resnet_viz.config import TrainConfig
from resnet_viz.data import SHAPE_CLASSES, Batches, load_dataset

ASSET = Path(__file__).resolve().parents[1] / "assets" / "default_model.safetensors"


def test_default_model_is_the_default_preset_and_classifies_shapes(tmp_path):
    model, meta = load_checkpoint(ASSET)
    assert meta["model"]["arch"] == "resnet8" and tuple(meta["classes"]) == SHAPE_CLASSES
    assert meta["train_config"]["name"] == "default"
    assert meta["best_val_acc"] >= 0.9
    cfg = TrainConfig.from_dict(meta["train_config"])
    data = load_dataset(cfg.data, cache_dir=tmp_path)
    val = Batches(
        data.val, 500, mean=meta["mean"], std=meta["std"], device=torch.device("cpu"), shuffle=False
    )
    correct = 0
    with torch.no_grad():
        for x, y in val.epoch():
            correct += (model(x).argmax(1) == y).sum().item()
    assert correct / len(data.val) >= 0.9
