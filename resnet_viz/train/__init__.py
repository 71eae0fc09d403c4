"""Training: the loop (:mod:`.trainer`), cohorts and live controls, presets, probes, and the
worker launcher.

Run headless with ``python -m resnet_viz.train --preset default`` (or a Skip Lab cohort:
``--preset degradation``).
"""

from .presets import LAB_PRESETS, PRESETS, Preset, get_preset, preset_for_device
from .trainer import Trainer

__all__ = [
    "LAB_PRESETS",
    "PRESETS",
    "Preset",
    "Trainer",
    "get_preset",
    "preset_for_device",
]
