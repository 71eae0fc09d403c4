"""Data: the built-in Shapes set, CIFAR-10 and ImageFolder, as in-memory tensors."""

from .datasets import CIFAR10_CLASSES, Dataset, Split, load_dataset
from .loader import Batches
from .shapes import SHAPE_CLASSES, make_shapes

__all__ = [
    "CIFAR10_CLASSES",
    "SHAPE_CLASSES",
    "Batches",
    "Dataset",
    "Split",
    "load_dataset",
    "make_shapes",
]
