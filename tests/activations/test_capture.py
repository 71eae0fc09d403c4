"""Hook capture: equals a manual forward, keeps only what is asked, never leaves a hook behind."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from resnet_viz.activations import Reduce, capture, forward_hooks, reduce_capture
from resnet_viz.activations.capture import HIST_BINS
from resnet_viz.errors import InputError

from .conftest import assert_unchanged, fingerprint


def test_capture_equals_a_manual_forward(trained8, image32):
    before = fingerprint(trained8)
    caps = capture(trained8, image32, ["relu", "layer1.0.conv1", "layer2.0"], stop_early=False)
    m = trained8
    with torch.no_grad():
        stem = m.relu(m.bn1(m.conv1(image32)))
        conv = m.layer1[0].conv1(stem)
        block = m.layer2[0](m.layer1(stem))
    torch.testing.assert_close(caps["relu"].maps, stem)
    torch.testing.assert_close(caps["layer1.0.conv1"].maps, conv)
    torch.testing.assert_close(caps["layer2.0"].maps, block)
    cap = caps["layer2.0"]
    assert cap.shape == (1, 32, 16, 16) and cap.num_channels == 32
    assert cap.channels.tolist() == list(range(32))
    torch.testing.assert_close(cap.mean[0], block[0].mean((1, 2)))
    torch.testing.assert_close(cap.std[0], block[0].std((1, 2), correction=0))
    torch.testing.assert_close(cap.max[0], block[0].amax((1, 2)))
    torch.testing.assert_close(cap.active[0], (block[0] > 0).float().mean((1, 2)))
    assert cap.hist_counts.shape == (1, HIST_BINS)
    assert int(cap.hist_counts.sum()) == block.numel()  # every value counted once
    assert cap.hist_edges[0, 0] == block.min() and cap.hist_edges[0, -1] == block.max()
    assert cap.input is None  # not asked for
    assert_unchanged(trained8, before)


def test_top_k_keeps_the_strongest_channels_and_max_side_pools(trained8, image32):
    full = capture(trained8, image32, ["layer1.0"])["layer1.0"]
    cap = capture(trained8, image32, ["layer1.0"], reduce=Reduce(top_k=4, max_side=8))["layer1.0"]
    strongest = full.mean[0].argsort(descending=True)[:4]
    assert cap.channels.tolist() == strongest.tolist()
    assert cap.maps.shape == (1, 4, 8, 8)
    pooled = nn.functional.avg_pool2d(full.maps[:, strongest], 4)
    torch.testing.assert_close(cap.maps, pooled)
    # Statistics still describe every channel of the full-size output.
    torch.testing.assert_close(cap.mean, full.mean)
    torch.testing.assert_close(cap.hist_counts, full.hist_counts)


def test_large_layers_of_resnet50_at_224_stay_small(resnet50):
    x = torch.randn(1, 3, 224, 224)
    cap = capture(resnet50, x, ["layer1.0"], reduce=Reduce(top_k=8, max_side=28))["layer1.0"]
    assert cap.shape == (1, 256, 56, 56)  # 3.2 MB in full…
    assert cap.maps.shape == (1, 8, 28, 28)  # …25 kB kept
    assert cap.maps.untyped_storage().nbytes() == 8 * 28 * 28 * 4  # not a view of the full map


def test_stop_early_skips_the_rest_of_the_network(trained8, image32):
    calls = []
    handle = trained8.fc.register_forward_hook(lambda *a: calls.append(1))
    try:
        capture(trained8, image32, ["layer1.0"])
        assert calls == []
        capture(trained8, image32, ["layer1.0"], stop_early=False)
        assert calls == [1]
    finally:
        handle.remove()


def test_no_hooks_remain_after_an_error_inside_the_context(trained8, image32):
    before = fingerprint(trained8)
    with (
        pytest.raises(RuntimeError, match="boom"),
        forward_hooks(trained8, {"layer1.0": lambda *a: None, "fc": lambda *a: None}),
    ):
        assert len(trained8.layer1[0]._forward_hooks) == 1
        raise RuntimeError("boom")
    assert_unchanged(trained8, before)


def test_no_hooks_remain_when_the_forward_pass_or_a_hook_fails(trained8, image32):
    before = fingerprint(trained8)
    with pytest.raises(RuntimeError):  # 1 channel instead of 3: conv1 fails
        capture(trained8, image32[:, :1], ["layer1.0", "layer2.0"])

    def bad_hook(*args):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError), forward_hooks(trained8, {"layer1.0": bad_hook}):
        trained8(image32)
    assert_unchanged(trained8, before)


def test_unknown_layer_registers_nothing(trained8, image32):
    before = fingerprint(trained8)
    with pytest.raises(InputError, match=r"no layer called 'layer9\.0'"):
        capture(trained8, image32, ["layer1.0", "layer9.0"])
    assert_unchanged(trained8, before)


def test_train_mode_models_are_refused(image32):
    from resnet_viz.models import build_model

    model = build_model("resnet8", 10)  # train mode: a forward pass would move BN statistics
    with pytest.raises(ValueError, match="eval mode"):
        capture(model, image32, ["layer1.0"])


def test_capture_inputs_when_asked(trained8, image32):
    caps = capture(trained8, image32, ["layer2.0", "layer1.0"], reduce=Reduce(inputs=True))
    torch.testing.assert_close(caps["layer2.0"].input, caps["layer1.0"].maps)


def test_explicit_channels_for_a_page_of_all_channels(trained8, image32):
    full = capture(trained8, image32, ["layer1.0"])["layer1.0"]
    cap = capture(trained8, image32, ["layer1.0"], reduce=Reduce(channels=(15, 3)))["layer1.0"]
    assert cap.channels.tolist() == [15, 3]
    torch.testing.assert_close(cap.maps, full.maps[:, [15, 3]])
    with pytest.raises(InputError, match="channels 0…15"):
        capture(trained8, image32, ["layer1.0"], reduce=Reduce(channels=(16,)))


def test_reduce_capture_equals_reducing_in_the_hook(trained8, image32):
    full = capture(trained8, image32, ["layer2.0"], reduce=Reduce(inputs=True))["layer2.0"]
    small = Reduce(top_k=5, max_side=4)
    direct = capture(trained8, image32, ["layer2.0"], reduce=small)["layer2.0"]
    later = reduce_capture(full, small)
    torch.testing.assert_close(later.maps, direct.maps)
    assert later.channels.tolist() == direct.channels.tolist()
    assert later.input is None and full.input is not None
    with pytest.raises(ValueError, match="already reduced"):
        reduce_capture(later, small)


def test_hooks_ignore_forward_passes_of_other_threads(trained8, image32):
    """One cached model serves every browser session, each in its own thread."""
    calls = []
    with forward_hooks(trained8, {"layer1.0": lambda *a: calls.append(threading.get_ident())}):
        other = threading.Thread(target=lambda: trained8(image32))
        other.start()
        other.join()
        assert calls == []
        with torch.no_grad():
            trained8(image32)
        assert calls == [threading.get_ident()]
