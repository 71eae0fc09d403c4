"""What an empty map tells a student (resnet_viz.explain.display): why, and what to try."""

from __future__ import annotations

import numpy as np

from resnet_viz.explain import empty_hint, empty_reason, method_info


def test_an_empty_grad_cam_says_why_and_to_pick_a_later_layer():
    info = method_info("gradcam")
    assert empty_reason(np.zeros((4, 4)), info.sign).startswith("map is empty")
    hint = empty_hint(uses_layer=info.uses_layer)
    assert "ReLU" in hint and "Pick a later layer" in hint


def test_other_methods_suggest_another_class_or_picture():
    hint = empty_hint(uses_layer=method_info("occlusion").uses_layer)
    assert hint.startswith("Try another class or another picture")
