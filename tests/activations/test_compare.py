"""Skips toggled at inference on a private copy; plain twins; response strength across depth."""

from __future__ import annotations

import torch

from resnet_viz.activations import (
    DEPTH_MEASURES,
    Reduce,
    chosen_scales,
    compare_skips,
    inspect,
    is_plain,
    off_label,
    per_block,
    response_depth,
    runs_before,
    skip_scales,
    stage_blocks,
    switched_off,
    with_skips,
)
from resnet_viz.models import set_skip

from .conftest import assert_unchanged, fingerprint


def test_toggling_changes_the_output_and_restoring_gives_it_back(trained8, image32):
    before = fingerprint(trained8)
    with torch.no_grad():
        original = trained8(image32)
        off = with_skips(trained8, [1.0, 0.0, 1.0])
        assert skip_scales(off) == [1.0, 0.0, 1.0]
        toggled = off(image32)
        assert not torch.allclose(toggled, original, atol=1e-3)
        set_skip(off, [1.0, 1.0, 1.0])  # switch it back on, on the copy
        torch.testing.assert_close(off(image32), original)
    assert skip_scales(trained8) == [1.0, 1.0, 1.0]
    assert_unchanged(trained8, before)


def test_compare_skips_reports_both_models(trained8, image32):
    before = fingerprint(trained8)
    unchanged, toggled = compare_skips(trained8, image32, [1.0, 1.0, 0.0], ["layer3.0", "layer1.0"])
    reference = inspect(trained8, image32, ["layer3.0", "layer1.0"])
    torch.testing.assert_close(unchanged.stats.logits, reference.stats.logits)
    torch.testing.assert_close(unchanged.probs, reference.probs)
    assert unchanged.probs.shape == unchanged.classes.shape == (1, 5)
    assert torch.all(unchanged.probs[0, :-1] >= unchanged.probs[0, 1:])  # descending
    # Blocks before the switched-off one see the same input: same maps, same ratios.
    torch.testing.assert_close(
        toggled.captures["layer1.0"].maps, unchanged.captures["layer1.0"].maps
    )
    assert toggled.stats.ratio[:2].tolist() == unchanged.stats.ratio[:2].tolist()
    # The switched-off block outputs ReLU(F(x)) instead of ReLU(F(x) + x).
    assert not torch.allclose(
        toggled.captures["layer3.0"].maps, unchanged.captures["layer3.0"].maps
    )
    assert not torch.allclose(toggled.stats.logits, unchanged.stats.logits)
    assert_unchanged(trained8, before)


def test_response_depth_with_and_without_twin(trained8, image32):
    before = fingerprint(trained8)
    alone = response_depth(trained8, image32)
    assert list(alone) == ["this model"]
    plain = with_skips(trained8, [0.0, 0.0, 0.0])
    both = response_depth(trained8, image32, plain)
    assert list(both) == ["this model", "plain twin"]
    assert both["plain twin"].branch_std.shape == (3,)
    # Same first block input → same F(x) in block 1; the outputs differ by the missing skip.
    assert both["plain twin"].branch_std[0] == both["this model"].branch_std[0]
    assert both["plain twin"].output_std[0] != both["this model"].output_std[0]
    assert_unchanged(trained8, before)


def test_toggled_maps_show_the_same_channels_as_the_unchanged_ones(trained8, image32):
    unchanged, toggled = compare_skips(
        trained8, image32, [0.0, 0.0, 0.0], ["layer2.0"], reduce=Reduce(top_k=4)
    )
    on, off = unchanged.captures["layer2.0"], toggled.captures["layer2.0"]
    assert on.channels.tolist() == off.channels.tolist() and len(on.channels) == 4
    full = inspect(with_skips(trained8, [0.0] * 3), image32, ["layer2.0"]).captures["layer2.0"]
    torch.testing.assert_close(off.maps, full.maps[:, on.channels])


def test_the_private_copy_carries_no_hooks_of_the_shared_model(trained8, image32):
    calls = []
    handle = trained8.layer1[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        copy_ = with_skips(trained8, [1.0, 1.0, 1.0])
    finally:
        handle.remove()
    with torch.no_grad():
        copy_(image32)
    assert calls == []


def test_plain_and_the_blocks_of_each_stage(trained8, resnet18):
    assert not is_plain(trained8)
    assert is_plain(with_skips(trained8, [0.0, 0.0, 0.0]))
    assert not is_plain(with_skips(trained8, [0.0, 0.5, 0.0]))
    assert stage_blocks(trained8) == [["layer1.0"], ["layer2.0"], ["layer3.0"]]
    assert stage_blocks(resnet18) == [[f"layer{i}.0", f"layer{i}.1"] for i in range(1, 5)]


def test_chosen_scales_keep_the_trained_scale_where_the_skip_is_on():
    blocks = ["layer1.0", "layer2.0", "layer3.0"]
    assert chosen_scales(blocks, [1.0, 0.5, 1.0], {"layer1.0", "layer2.0", "layer3.0"}) == (
        1.0,
        0.5,
        1.0,
    )
    assert chosen_scales(blocks, [1.0, 0.5, 1.0], ["layer2.0"]) == (0.0, 0.5, 0.0)
    # A block trained without its skip gets the plain skip (scale 1) when switched on.
    assert chosen_scales(blocks, [0.0, 0.0, 0.0], ["layer3.0"]) == (0.0, 0.0, 1.0)
    assert chosen_scales(blocks, [1.0, 1.0, 1.0], []) == (0.0, 0.0, 0.0)


def test_the_switched_off_blocks_and_their_label():
    blocks = [f"layer{i}.{j}" for i in range(1, 4) for j in range(2)]
    off = switched_off(blocks, (1.0, 0.0, 1.0, 0.0, 0.0, 1.0))
    assert off == ["layer1.1", "layer2.1", "layer3.0"]
    assert off_label(off) == "skips off in layer1.1, layer2.1, layer3.0"
    assert off_label(["layer2.0"]) == "skips off in layer2.0"
    assert off_label(switched_off(blocks, [0.0] * 6)) == "6 skips off"


def test_a_layer_before_the_first_switched_off_block_cannot_change():
    order = ["conv1", "layer1.0.conv1", "layer1.0", "layer2.0.conv1", "layer2.0", "layer3.0"]
    assert runs_before(order, "layer2.0.conv1", ["layer2.0"])  # inside the block: its input
    assert runs_before(order, "conv1", ["layer3.0", "layer1.0"])
    assert not runs_before(order, "layer2.0", ["layer2.0"])
    assert not runs_before(order, "layer3.0", ["layer3.0", "layer1.0"])
    assert not runs_before(order, "conv1", [])  # nothing switched off


def test_per_block_reads_each_measure_for_every_model(trained8, image32):
    stats = response_depth(trained8, image32, with_skips(trained8, [0.0, 0.0, 0.0]))
    for measure, field in DEPTH_MEASURES.items():
        names, lines = per_block(stats, measure)
        assert names == ("layer1.0", "layer2.0", "layer3.0")
        assert list(lines) == ["this model", "plain twin"]
        assert lines["plain twin"] is getattr(stats["plain twin"], field)
    assert set(DEPTH_MEASURES.values()) == {"branch_std", "output_std", "ratio"}
