"""What an empty map tells a student (resnet_viz.explain.display): why, and what to try."""

from __future__ import annotations

import numpy as np

from resnet_viz.explain import empty_hint, empty_reason, method_info
from resnet_viz.explain.display import scale_note


def test_an_empty_grad_cam_says_why_and_to_pick_a_later_layer():
    info = method_info("gradcam")
    assert empty_reason(np.zeros((4, 4)), info.sign).startswith("map is empty")
    hint = empty_hint(uses_layer=info.uses_layer)
    assert "ReLU" in hint and "Pick a later layer" in hint


def test_other_methods_suggest_another_class_or_picture():
    hint = empty_hint(uses_layer=method_info("occlusion").uses_layer)
    assert hint.startswith("Try another class or another picture")


def test_the_scale_note_says_what_left_and_right_mean_and_what_is_clipped():
    note = scale_note({"positive"}, {"Grad-CAM": 0.0, "Saliency": 2.0})
    assert "left = 0, right = that map's strongest evidence for the class" in note
    assert "clipped to the right end: the top 2% of Saliency" in note
    assert "Grad-CAM" not in note
    same = scale_note({"absolute_value"}, {"Saliency": 2.0, "Integrated gradients": 2.0})
    assert "with its top 2% clipped to the right end" in same and "magnitude" in same
    assert "clipped" not in scale_note({"positive"}, {"Grad-CAM": 0.0})
