"""Activation figure builders: check the traces and arrays they build, not pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet_viz.activations import Anatomy, Reduce
from resnet_viz.activations.capture import summarize
from resnet_viz.figures.activations import (
    DIVERGING,
    SEQUENTIAL,
    anatomy_figure,
    channel_overlay,
    channel_scatter,
    channel_table,
    compare_grid,
    depth_lines,
    feature_grid,
    histogram,
    layer_figures,
    tile,
    top_bars,
)


def colourscale_name(scale) -> str:
    """Plotly expands named scales; compare by their end colours."""
    import plotly.graph_objects as go

    reference = {name: go.Heatmap(colorscale=name).colorscale for name in (SEQUENTIAL, DIVERGING)}
    return next(name for name, ref in reference.items() if tuple(scale) == tuple(ref))


def test_tile_lays_maps_out_in_rows_with_nan_gaps():
    maps = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    z = tile(maps, cols=2)
    assert z.shape == (5, 5)  # 2 rows, 2 cols, 1-pixel gaps
    np.testing.assert_array_equal(z[:2, :2], maps[0])
    np.testing.assert_array_equal(z[:2, 3:], maps[1])
    np.testing.assert_array_equal(z[3:, :2], maps[2])
    assert np.isnan(z[2]).all() and np.isnan(z[:, 2]).all() and np.isnan(z[3:, 3:]).all()


def test_feature_grid_one_heatmap_labelled_by_channel():
    maps = np.random.default_rng(0).random((5, 4, 4)).astype(np.float32)
    fig = feature_grid(maps, [7, 3, 9, 0, 1], cols=4, title="layer1.0")
    (heat,) = fig.data
    assert heat.type == "heatmap"
    assert np.asarray(heat.z).shape == (9, 19)
    assert [a.text for a in fig.layout.annotations] == ["7", "3", "9", "0", "1"]
    assert colourscale_name(heat.colorscale) == SEQUENTIAL  # non-negative: sequential
    assert heat.zmin == pytest.approx(maps.min()) and heat.zmax == pytest.approx(maps.max())
    assert fig.layout.yaxis.autorange == "reversed"  # image orientation
    assert fig.layout.title.text == "layer1.0"


def test_feature_grid_defaults_to_a_near_square_layout():
    z = np.asarray(feature_grid(np.ones((16, 3, 3)), list(range(16))).data[0].z)
    assert z.shape == (4 * 4 - 1, 4 * 4 - 1)  # 4×4 tiles of 3 px with 1 px gaps
    z = np.asarray(feature_grid(np.ones((5, 3, 3)), list(range(5))).data[0].z)
    assert z.shape == (2 * 4 - 1, 3 * 4 - 1)  # 3 columns, 2 rows


def test_feature_grid_signed_values_get_a_diverging_scale_centred_on_zero():
    maps = np.array([[[-2.0, 1.0]], [[0.5, 0.0]]], dtype=np.float32)
    heat = feature_grid(maps, [0, 1]).data[0]
    assert colourscale_name(heat.colorscale) == DIVERGING
    assert (heat.zmin, heat.zmax) == (-2.0, 2.0)


def test_feature_grid_per_channel_stretches_each_tile():
    maps = np.array([[[0.0, 10.0]], [[1.0, 2.0]]], dtype=np.float32)
    z = np.asarray(feature_grid(maps, [0, 1], per_channel=True).data[0].z, dtype=float)
    np.testing.assert_allclose(z[0], [0, 1, np.nan, 0, 1])


def capture_of(values: torch.Tensor):
    return summarize("layer", values, Reduce())


def test_channel_table_and_histogram_describe_the_full_layer():
    values = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]], [[-1.0, 0.0], [0.0, 0.0]]]])
    cap = capture_of(values)
    table = channel_table(cap)
    assert list(table) == ["channel", "mean", "std", "min", "max", "active (> 0)"]
    np.testing.assert_allclose(table["mean"], [1.5, -0.25])
    np.testing.assert_allclose(table["active (> 0)"], [0.75, 0.0])
    fig = histogram(cap.hist_counts[0].numpy(), cap.hist_edges[0].numpy())
    (bars,) = fig.data
    assert bars.type == "bar" and len(bars.x) == len(cap.hist_counts[0])
    assert sum(bars.y) == 8
    assert fig.layout.yaxis.type == "log"
    assert bars.x[0] == pytest.approx(-1 + 4 / 120)  # first bin centre: range −1…3 in 60 bins


def test_channel_overlay_upsamples_and_blends():
    image = np.full((8, 8, 3), 100, dtype=np.uint8)
    channel = np.array([[0.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    out = channel_overlay(image, channel, alpha=1.0)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[-1, -1], [253, 231, 37])  # Viridis top at the maximum
    np.testing.assert_array_equal(out[0, 0], [68, 1, 84])  # Viridis bottom at the minimum
    np.testing.assert_array_equal(channel_overlay(image, channel, alpha=0.0), image)


def anatomy(kind: str = "identity", skip: float = 1.0) -> Anatomy:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 4, generator=g)
    if kind == "zero-pad":
        f = torch.randn(4, 2, 2, generator=g)
        shortcut = torch.nn.functional.pad(x[:, ::2, ::2], (0, 0, 0, 0, 1, 1))
    elif kind == "projection":
        f = torch.randn(3, 4, 4, generator=g)
        shortcut = torch.randn(3, 4, 4, generator=g) * 10
    else:
        f = torch.randn(2, 4, 4, generator=g)
        shortcut = x
    out = torch.relu(f + skip * shortcut)
    return Anatomy(
        "layer1.0", x, f, shortcut, out, skip, 1.0, kind, pad_before=1 if kind == "zero-pad" else 0
    )


def test_anatomy_panel_identity_shares_one_scale_across_all_four():
    a = anatomy("identity")
    fig = anatomy_figure(a)
    assert [t.type for t in fig.data] == ["heatmap"] * 4
    assert {t.coloraxis for t in fig.data} == {"coloraxis"}
    np.testing.assert_allclose(fig.data[0].z, a.x.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(fig.data[1].z, a.residual.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(fig.data[3].z, a.output.mean(0).numpy(), rtol=1e-6)
    axis = fig.layout.coloraxis
    assert axis.cmin == -axis.cmax  # F(x) is signed: diverging, centred on 0
    titles = [ann.text for ann in fig.layout.annotations]
    assert titles == ["input x (mean of channels)", "F(x)", "shortcut(x)", "output = ReLU(sum)"]
    assert f"{a.ratio:.3f}" in fig.layout.title.text


def test_anatomy_panel_projection_gives_x_its_own_scale_and_channel_view():
    a = anatomy("projection")
    fig = anatomy_figure(a, channel=2)
    assert [t.coloraxis for t in fig.data] == ["coloraxis2", "coloraxis", "coloraxis", "coloraxis"]
    np.testing.assert_allclose(fig.data[2].z, a.shortcut[2].numpy(), rtol=1e-6)
    assert fig.layout.annotations[0].text == "input x (mean of channels)"
    assert "channel 2" in fig.layout.title.text


def test_anatomy_panel_zero_pad_channel_maps_to_its_input_channel_and_skip_off_says_so():
    a = anatomy("zero-pad", skip=0.0)
    fig = anatomy_figure(a, channel=2)  # pad_before=1 → input channel 1
    assert fig.layout.annotations[0].text == "input x, channel 1"
    np.testing.assert_allclose(fig.data[0].z, a.x[1].numpy())
    assert fig.layout.annotations[2].text == "skip off (s = 0)"
    assert not np.asarray(fig.data[2].z, dtype=float).any()
    padded = anatomy_figure(a, channel=0)  # a zero-padded channel: no input channel
    assert padded.data[0].coloraxis == "coloraxis2"


def test_depth_lines_one_line_per_model():
    fig = depth_lines(
        ["layer1.0", "layer2.0"],
        {"this model": np.array([1.0, 2.0]), "plain twin": np.array([3.0, 4.0])},
        title="Response std",
        y_title="std",
    )
    assert [t.name for t in fig.data] == ["this model", "plain twin"]
    assert list(fig.data[1].x) == ["layer1.0", "layer2.0"] and list(fig.data[1].y) == [3.0, 4.0]
    assert fig.layout.xaxis.type == "category"


def test_compare_grid_rows_per_image_on_one_scale():
    a, b = np.zeros((2, 3, 3)), np.ones((2, 3, 3)) * 5
    fig = compare_grid([a, b], ["cat.jpg", "dog.jpg"], [4, 9])
    (heat,) = fig.data
    z = np.asarray(heat.z, dtype=float)
    assert z.shape == (7, 7)  # 2 images × 2 channels of 3×3, 1-pixel gaps
    assert (z[:3, :3] == 0).all() and (z[4:, 4:] == 5).all()  # row = image, column = channel
    assert (heat.zmin, heat.zmax) == (0.0, 5.0)
    assert [a.text for a in fig.layout.annotations] == ["ch 4", "ch 9"]
    assert list(fig.layout.yaxis.ticktext) == ["cat.jpg", "dog.jpg"]
    assert fig.layout.yaxis.scaleanchor == "x"  # square pixels


def test_channel_scatter_reports_the_correlation():
    fig = channel_scatter([np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])], ["a", "b"])
    assert "correlation 1.00" in fig.layout.title.text
    assert list(fig.data[1].x) == [1.0, 2.0, 3.0]


def test_top_bars_side_by_side_most_likely_on_top():
    fig = top_bars({"unchanged": (["cat", "dog"], [0.7, 0.2]), "skips off": (["dog"], [0.9])})
    assert [t.name for t in fig.data] == ["unchanged", "skips off"]
    assert list(fig.data[0].y) == ["dog", "cat"]  # plotly draws the first category at the bottom
    assert list(fig.data[0].x) == [0.2, 0.7]
    assert fig.data[1].xaxis == "x2"
    assert tuple(fig.layout.xaxis.range) == (0, 1) and tuple(fig.layout.xaxis2.range) == (0, 1)


def test_layer_figures_show_the_kept_channels_and_the_chosen_one_large():
    from resnet_viz.activations.capture import reduce_capture

    values = torch.arange(4 * 2 * 2, dtype=torch.float32).reshape(1, 4, 2, 2)
    cap = reduce_capture(capture_of(values), Reduce(top_k=2))  # channels 3 and 2
    picture = np.zeros((4, 4, 3), dtype=np.uint8)
    figs = layer_figures(cap, picture)
    assert figs.channel == 3  # the strongest by default
    assert [a.text for a in figs.grid.layout.annotations] == ["3", "2"]
    assert figs.grid.layout.title.text == "layer: 2 of 4 channels (strongest)"
    assert figs.overlay.shape == (4, 4, 3)
    assert len(figs.table["mean"]) == 4  # statistics of every channel
    assert figs.histogram.layout.title.text == "All 16 values of layer"
    chosen = layer_figures(cap, picture, channel=2)
    assert chosen.channel == 2
    assert layer_figures(cap, picture, channel=0).channel == 3  # not shown: falls back


def test_a_page_of_channels_says_which_ones_not_strongest():
    from resnet_viz.activations.capture import reduce_capture

    values = torch.arange(4 * 2 * 2, dtype=torch.float32).reshape(1, 4, 2, 2)
    cap = reduce_capture(capture_of(values), Reduce(channels=(0, 1)))
    figs = layer_figures(cap, np.zeros((4, 4, 3), dtype=np.uint8), ranked=False)
    assert figs.grid.layout.title.text == "layer: channels 0–1 of 4"
    every = reduce_capture(capture_of(values), Reduce(channels=(0, 1, 2, 3)))
    title = layer_figures(every, np.zeros((4, 4, 3), dtype=np.uint8), ranked=False)
    assert title.grid.layout.title.text == "layer: 4 of 4 channels (all)"
