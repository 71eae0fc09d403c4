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
    note = scale_note({"Grad-CAM": ("positive", 0.0), "Saliency": ("absolute_value", 2.0)})
    assert note.startswith("Colour scale: left = 0, right = the map's strongest value: ")
    assert "Grad-CAM: evidence for the class" in note and "Saliency: magnitude" in note
    assert note.endswith("The top of Saliency (2%) is clipped to the right end.")
    one = scale_note({"Grad-CAM": ("positive", 0.0)})
    assert "strongest evidence for the class (below 0" in one and "clipped" not in one
