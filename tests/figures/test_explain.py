"""Explain figure builders: overlay arrays, PNG bytes, sanity curves, quality scores."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from resnet_viz.explain.quality import Summary, score, summarise
from resnet_viz.explain.sanity import PASS_BELOW, SanityResult
from resnet_viz.figures.explain import (
    COLORMAPS,
    DIVERGING,
    colour_table,
    colourise,
    enlarge,
    overlay,
    png_bytes,
    quality_figure,
    quality_table,
    sanity_figure,
    sanity_table,
)


def test_colour_tables_run_from_the_scales_ends():
    jet = colour_table("Jet")
    assert jet.shape == (256, 3) and jet.dtype == np.uint8
    assert tuple(jet[0]) == (0, 0, 131) and tuple(jet[-1]) == (128, 0, 0)  # plotly's Jet ends
    for name in COLORMAPS:
        assert len(np.unique(colour_table(name), axis=0)) > 50, name
    with pytest.raises(ValueError, match="Unknown colour map"):
        colour_table("NoSuchMap")


def test_colourise_maps_zero_and_one_to_the_ends_and_signed_zero_to_the_middle():
    heat = np.array([[0.0, 1.0], [np.nan, 2.0]])
    rgb = colourise(heat, "Viridis")
    table = colour_table("Viridis")
    assert (rgb[0, 0] == table[0]).all() and (rgb[0, 1] == table[-1]).all()
    assert (rgb[1, 0] == table[0]).all() and (rgb[1, 1] == table[-1]).all()  # NaN→0, clipped
    signed = colourise(np.array([[-1.0, 0.0, 1.0]]), DIVERGING, signed=True)
    mid = colour_table(DIVERGING)[128]
    assert (signed[0, 1] == mid).all()
    assert signed[0, 0, 2] > signed[0, 0, 0] and signed[0, 2, 0] > signed[0, 2, 2]  # blue…red


def test_overlay_blends_by_opacity():
    image = np.full((4, 4, 3), 200, dtype=np.uint8)
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    assert (overlay(image, heat, opacity=0.0) == image).all()
    full = overlay(image, heat, "Jet", opacity=1.0)
    assert (full[0, 0] == colour_table("Jet")[-1]).all()
    half = overlay(image, heat, "Jet", opacity=0.5)
    expected = np.rint(0.5 * 200 + 0.5 * colour_table("Jet")[0].astype(float))
    assert (half[1, 1] == expected).all()
    assert half.dtype == np.uint8 and half.shape == (4, 4, 3)


def test_overlay_of_an_empty_map_is_just_a_tint():
    image = np.zeros((3, 3, 3), dtype=np.uint8)
    out = overlay(image, np.zeros((3, 3)), "Jet", 0.4)
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1  # uniform, no crash


def test_overlay_rejects_mismatches():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="map is"):
        overlay(image, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="uint8"):
        overlay(image.astype(float), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="opacity"):
        overlay(image, np.zeros((4, 4)), opacity=1.5)


def test_enlarge_repeats_pixels():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = enlarge(image, min_side=5)
    assert big.shape == (6, 9, 3)  # factor 3: short side 2 → 6 ≥ 5
    assert (big[:3, :3] == image[0, 0]).all()
    assert enlarge(image, min_side=1).shape == image.shape


def test_png_bytes_round_trip():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (np.asarray(Image.open(io.BytesIO(data))) == image).all()


def result() -> SanityResult:
    return SanityResult(
        steps=("original", "fc", "layer3.0", "stem"),
        correlations={"gradcam": (1.0, 0.2, 0.1, 0.0), "guided_backprop": (1.0, 0.9, 0.8, 0.7)},
        empty={"gradcam": (0, 1, 0, 0), "guided_backprop": (0, 0, 0, 0)},
        images=2,
        targets=(1, 2),
        layer="layer3",
    )


def test_sanity_figure_one_line_per_method_over_the_steps():
    fig = sanity_figure(result(), {"gradcam": "Grad-CAM"})
    lines = [t for t in fig.data if t.type == "scatter"]
    assert [t.name for t in lines] == ["Grad-CAM", "guided_backprop"]
    assert list(lines[0].x) == ["original", "fc", "layer3.0", "stem"]
    assert list(lines[1].y) == [1.0, 0.9, 0.8, 0.7]
    assert list(lines[0].customdata) == [0, 1, 0, 0]  # empty maps shown on hover
    assert any(s.y0 == PASS_BELOW for s in fig.layout.shapes if s.type == "line")
    assert tuple(fig.layout.yaxis.range) == (-1.05, 1.05)


def test_sanity_table_sets_each_verdict_beside_the_published_one():
    rows = sanity_table(result(), ["gradcam", "guided_backprop"], {"gradcam": "Grad-CAM"})
    assert rows == [
        {
            "method": "Grad-CAM",
            "mean ρ over the cascade": 0.1,
            "here": "passes",
            "Adebayo et al. 2018": "passes",
        },
        {
            "method": "guided_backprop",  # no label given: the method's name
            "mean ρ over the cascade": 0.8,
            "here": "fails",
            "Adebayo et al. 2018": "fails",
        },
    ]
    occlusion = replace(
        result(),
        correlations={"occlusion": (1.0, 0.5, 0.45, 0.5)},
        empty={"occlusion": (0, 0, 0, 0)},
    )
    (row,) = sanity_table(occlusion, ["occlusion"])
    assert (row["here"], row["Adebayo et al. 2018"]) == ("borderline", "not stated")


def test_quality_summary_table_and_figure():
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :2] = True
    on, off = np.zeros((4, 4)), np.zeros((4, 4))
    on[0, 0], off[3, 3] = 1.0, 1.0
    scores = [score(on, mask, "positive"), score(off, mask, "positive")]
    scores.append(score(np.zeros((4, 4)), mask, "positive"))  # empty: not scored
    s = summarise(scores)
    assert s == Summary(0.5, 0.5, 0.25, 0.25, 3, 1)
    none = summarise([score(np.zeros((4, 4)), mask, "positive")])
    table = quality_table({"Grad-CAM": s, "Saliency": none})
    assert table[0] == {
        "method": "Grad-CAM",
        "pointing game hits %": 50.0,
        "energy on object %": 50.0,
        "chance %": 25.0,
        "images": 3,
        "empty maps": 1,
    }
    assert table[1]["pointing game hits %"] is None
    fig = quality_figure({"Grad-CAM": s, "Saliency": none})
    hits, energy, chance = fig.data
    assert [hits.name, energy.name] == ["pointing game: hit rate", "energy on the object"]
    assert list(hits.x) == ["Grad-CAM", "Saliency"]
    assert list(hits.y) == [0.5, None] and list(energy.y) == [0.5, None]
    assert chance.type == "scatter" and list(chance.y) == [0.25, 0.25]
    assert chance.name.startswith("chance ≈ 25%")


def test_the_colour_bar_is_the_overlay_scale_from_0_to_1():
    from resnet_viz.figures.colors import colour_table
    from resnet_viz.figures.explain import colour_bar

    bar = colour_bar("Viridis", width=64, height=4)
    assert bar.shape == (4, 64, 3) and bar.dtype == np.uint8
    table = colour_table("Viridis")
    assert (bar[0, 0] == table[0]).all() and (bar[-1, -1] == table[-1]).all()
