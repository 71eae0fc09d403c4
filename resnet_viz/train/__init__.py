"""Training: the loop (:mod:`.trainer`), presets, probes, and the worker launcher.

Run headless with ``python -m resnet_viz.train --preset default``.
"""

from .presets import PRESETS, Preset, get_preset
from .trainer import Trainer, member_label

__all__ = ["PRESETS", "Preset", "Trainer", "get_preset", "member_label"]
