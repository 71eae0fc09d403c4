"""Residual anatomy: the pieces add up to what the block really output."""

from __future__ import annotations

import pytest
import torch

from resnet_viz.activations import block_anatomy, block_stats, with_skips
from resnet_viz.errors import InputError
from resnet_viz.models import build_model, residual_blocks

from .conftest import assert_unchanged, fingerprint


def check_sums(model, x, block):
    anatomy = block_anatomy(model, x, block)
    # output == ReLU(b·F(x) + s·shortcut(x)), within float tolerance
    torch.testing.assert_close(anatomy.recombined, anatomy.output, atol=1e-5, rtol=1e-5)
    assert anatomy.residual.shape == anatomy.shortcut.shape == anatomy.output.shape
    return anatomy


def test_cifar_blocks_sum_correctly_including_option_a_downsampling(trained8, image32):
    before = fingerprint(trained8)
    kinds = {}
    for name, _ in residual_blocks(trained8):
        kinds[name] = check_sums(trained8, image32, name).kind
    assert kinds == {"layer1.0": "identity", "layer2.0": "zero-pad", "layer3.0": "zero-pad"}
    assert_unchanged(trained8, before)


def test_deeper_cifar_model_with_random_weights():
    torch.manual_seed(0)
    model = build_model("resnet14", 10).eval()
    x = torch.randn(2, 3, 32, 32)
    for name, _ in residual_blocks(model):
        check_sums(model, x, name)


def test_torchvision_basic_block_and_bottleneck_with_projection(resnet18, resnet50):
    x = torch.randn(1, 3, 64, 64)
    cases = (
        (resnet18, {"layer1.1": "identity", "layer2.0": "projection"}),
        (resnet50, {"layer1.0": "projection", "layer1.1": "identity"}),
    )
    for model, expected in cases:
        before = fingerprint(model)
        assert {b: check_sums(model, x, b).kind for b in expected} == expected
        assert_unchanged(model, before)


def test_scaled_and_switched_off_skips_still_sum(trained8, image32):
    for scale in (0.0, 0.5):
        model = with_skips(trained8, [scale] * 3)
        for name, _ in residual_blocks(model):
            anatomy = check_sums(model, image32, name)
            assert anatomy.skip_scale == scale
            if scale == 0:
                torch.testing.assert_close(anatomy.output, torch.relu(anatomy.residual))


def test_ratio_and_zero_pad_channels(trained8, image32):
    anatomy = block_anatomy(trained8, image32, "layer2.0")
    m = trained8
    with torch.no_grad():
        x = m.layer1(m.relu(m.bn1(m.conv1(image32))))
        f = m.layer2[0].residual(x)
    torch.testing.assert_close(anatomy.x, x[0])
    assert anatomy.ratio == pytest.approx(float(f.norm() / x.norm()), rel=1e-5)
    # Option A: 16 input channels, 32 output channels, 8 zero channels on each side.
    assert anatomy.pad_before == 8
    assert anatomy.input_channel(0) is None and anatomy.input_channel(31) is None
    assert anatomy.input_channel(8) == 0
    torch.testing.assert_close(anatomy.shortcut[8 + 5], x[0, 5, ::2, ::2])
    assert float(anatomy.shortcut[:8].abs().sum()) == 0.0


def test_projection_has_no_channel_correspondence(resnet18):
    anatomy = block_anatomy(resnet18, torch.randn(1, 3, 64, 64), "layer2.0")
    assert anatomy.input_channel(0) is None


def test_block_stats_match_anatomy_and_the_logits(trained8, image32):
    before = fingerprint(trained8)
    stats = block_stats(trained8, image32)
    assert stats.names == ("layer1.0", "layer2.0", "layer3.0")
    for i, name in enumerate(stats.names):
        anatomy = block_anatomy(trained8, image32, name)
        assert stats.ratio[i] == pytest.approx(anatomy.ratio, rel=1e-5)
        assert stats.branch_std[i] == pytest.approx(float(anatomy.residual.std()), rel=1e-5)
        assert stats.output_std[i] == pytest.approx(float(anatomy.output.std()), rel=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(stats.logits, trained8(image32))
    assert_unchanged(trained8, before)


def test_not_a_block(trained8, image32):
    with pytest.raises(InputError, match="not a residual block"):
        block_anatomy(trained8, image32, "layer1.0.conv1")


def test_anatomy_reuses_a_full_capture(trained8, image32):
    from resnet_viz.activations import Reduce, capture

    cap = capture(trained8, image32, ["layer2.0"], reduce=Reduce(inputs=True))["layer2.0"]
    reused = block_anatomy(trained8, image32, "layer2.0", captured=cap)
    fresh = block_anatomy(trained8, image32, "layer2.0")
    torch.testing.assert_close(reused.residual, fresh.residual)
    torch.testing.assert_close(reused.output, fresh.output)
    thin = capture(trained8, image32, ["layer2.0"], reduce=Reduce(top_k=2))["layer2.0"]
    with pytest.raises(ValueError, match="full capture"):
        block_anatomy(trained8, image32, "layer2.0", captured=thin)
