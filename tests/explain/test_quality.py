"""Pointing game and mask-energy share against ground-truth masks."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_viz.explain import attribute, method_info
from resnet_viz.explain.quality import energy_share, pointing_hit, score

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MASK = np.zeros((8, 8), dtype=bool)
MASK[2:4, 2:4] = True  # 4 of 64 pixels


def test_hit_miss_and_chance():
    on = np.zeros((8, 8))
    on[3, 3] = 1.0
    off = np.zeros((8, 8))
    off[7, 7] = 1.0
    s = score(on, MASK, "positive")
    assert s.hit is True and s.energy == 1.0 and s.chance == s.hit_chance == 4 / 64
    s = score(off, MASK, "positive")
    assert s.hit is False and s.energy == 0.0


def test_tolerance_dilates_the_mask_and_the_chance():
    near = np.zeros((8, 8))
    near[4, 4] = 1.0  # one pixel diagonally off the square
    assert score(near, MASK, "positive").hit is False
    s = score(near, MASK, "positive", tolerance=1)
    assert s.hit is True and s.hit_chance == 16 / 64 and s.chance == 4 / 64


def test_plateau_needs_half_of_its_peak_on_the_object():
    plateau = np.zeros((8, 8))
    plateau[2:4, 2:6] = 1.0  # 8 peak pixels, 4 on the object
    assert pointing_hit(plateau, MASK)
    plateau[2:4, 2:7] = 1.0  # 10 peak pixels, 4 on the object
    assert not pointing_hit(plateau, MASK)


def test_sign_decides_what_counts():
    attr = np.zeros((8, 8))
    attr[3, 3] = 0.5
    attr[7, 7] = -1.0  # strong negative evidence off the object
    assert score(attr, MASK, "positive").hit is True
    assert score(attr, MASK, "all").hit is True  # signed maps: the positive part
    s = score(attr, MASK, "absolute_value")
    assert s.hit is False and s.energy == pytest.approx(0.5 / 1.5)
    assert energy_share(np.abs(attr), MASK) == pytest.approx(1 / 3)


def test_empty_map_has_no_score_and_says_so():
    s = score(-np.ones((8, 8)), MASK, "positive")
    assert s.hit is None and s.energy is None and s.empty.startswith("map is empty")
    assert s.chance == 4 / 64


def test_mask_must_match_the_map():
    with pytest.raises(ValueError, match="put both on one grid"):
        score(np.ones((4, 4)), MASK, "positive")


def test_trained_model_maps_beat_chance_on_shapes(trained, shapes):
    """On the trained Shapes model every method puts more of its mass on the shape than a
    uniform map would (the shapes cover about a third of the image)."""
    model = trained[0]
    for method in ("gradcam", "saliency", "integrated_gradients", "occlusion"):
        scores = [
            score(attribute(model, x[None], method), mask, method_info(method).sign)
            for x, mask in zip(shapes.images, shapes.masks, strict=True)
        ]
        energy = np.mean([s.energy for s in scores])
        chance = np.mean([s.chance for s in scores])
        assert energy > chance + 0.05, (method, energy, chance)
        assert np.mean([s.hit for s in scores]) > chance, method
