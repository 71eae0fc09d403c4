"""Training: the loop (:mod:`.trainer`), cohorts and live controls, presets, probes, and the
worker launcher.

Run headless with ``python -m resnet_viz.train --preset default`` (or a Skip Lab cohort:
``--preset degradation``).
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): a queued worker runs this package's __main__ and must not
# pay for torch until its turn comes.
_LAZY = {
    "LAB_PRESETS": "presets",
    "PRESETS": "presets",
    "Preset": "presets",
    "get_preset": "presets",
    "preset_for_device": "presets",
    "Trainer": "trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LAB_PRESETS",
    "PRESETS",
    "Preset",
    "Trainer",
    "get_preset",
    "preset_for_device",
]
