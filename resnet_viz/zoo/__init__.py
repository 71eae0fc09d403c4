"""Where the models and pictures that the inspection pages look at come from.

- :mod:`.loaded`: :class:`LoadedModel`, a model with its classes and preprocessing;
- :mod:`.sources`: the bundled default (``assets/default_model.safetensors``, ResNet-8 trained on
  Shapes), a run's checkpoint, torchvision's ImageNet weights (torch hub cache, or a download
  when online), and which runs offer a checkpoint or a plain twin;
- :mod:`.weights`: a weights file the user uploads, never unpickled;
- :mod:`.pictures`: the bundled photographs, Shapes drawn with their masks, dataset draws.
"""

from .loaded import IMAGENET_MEAN, IMAGENET_STD, LoadedModel
from .pictures import Sample, dataset_samples, picture_warnings, sample_images
from .sources import (
    DEFAULT_MODEL,
    is_plain_twin,
    load_default,
    load_run,
    load_torchvision,
    plain_twins,
    run_checkpoints,
)
from .weights import MAX_WEIGHTS_BYTES, load_user_weights

__all__ = [
    "DEFAULT_MODEL",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_WEIGHTS_BYTES",
    "LoadedModel",
    "Sample",
    "dataset_samples",
    "is_plain_twin",
    "load_default",
    "load_run",
    "load_torchvision",
    "load_user_weights",
    "picture_warnings",
    "plain_twins",
    "run_checkpoints",
    "sample_images",
]
