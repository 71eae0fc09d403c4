"""Tests for the models (resnet_viz.models): building, skip switches, block maths, torchvision
compatibility and pretrained weights through the torch hub cache."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import ResNet18_Weights

from resnet_viz.errors import ConfigError, DataError
from resnet_viz.models import (
    ARCHS,
    CIFAR_ARCHS,
    TORCHVISION_ARCHS,
    SkipSwitch,
    build_model,
    probe_layers,
    residual_blocks,
    set_skip,
    set_stage_skip,
    stages,
)


def _x(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _scales(model: nn.Module) -> list[float]:
    return [b.skip_scale for _, b in residual_blocks(model)]


@pytest.fixture
def resnet8() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet8", 10).eval()


# ---- building ---------------------------------------------------------------------------------
def test_arch_lists():
    assert CIFAR_ARCHS == ("resnet8", "resnet14", "resnet20", "resnet32", "resnet56", "resnet110")
    assert TORCHVISION_ARCHS == ("resnet18", "resnet34", "resnet50")
    assert ARCHS == CIFAR_ARCHS + TORCHVISION_ARCHS


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_builds_and_gives_logits(arch):
    torch.manual_seed(0)
    model = build_model(arch, 7).eval()
    with torch.no_grad():
        out = model(_x(1))
    assert out.shape == (1, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", CIFAR_ARCHS)
def test_cifar_depth_and_blocks(arch):
    depth = int(arch[6:])
    model = build_model(arch, 10)
    n = (depth - 2) // 6
    assert [len(s) for s in stages(model)] == [n, n, n]
    # 6n convolutions in the blocks + the stem + the classifier = depth weighted layers.
    assert len(probe_layers(model)) == depth


@pytest.mark.parametrize(
    ("arch", "params"),
    # He et al. (2015), Table 6: 0.27M, 0.46M, 0.85M, 1.7M for 20/32/56/110 layers.
    [("resnet20", 269_722), ("resnet32", 464_154), ("resnet56", 853_018), ("resnet110", 1_727_962)],
)
def test_cifar_parameter_counts_match_the_paper(arch, params):
    assert sum(p.numel() for p in build_model(arch, 10).parameters()) == params


def test_batch_of_two_on_resnet8(resnet8):
    with torch.no_grad():
        assert resnet8(_x(2)).shape == (2, 10)


@pytest.mark.parametrize("arch", CIFAR_ARCHS)
def test_plain_and_residual_twins_have_identical_parameters(arch):
    torch.manual_seed(123)
    res = build_model(arch, 10, skip=True)
    torch.manual_seed(123)
    plain = build_model(arch, 10, skip=False)
    assert _scales(res) == [1.0] * len(_scales(res))
    assert _scales(plain) == [0.0] * len(_scales(plain))
    a, b = res.state_dict(), plain.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert a[key].shape == b[key].shape, key
        assert torch.equal(a[key], b[key]), key
    count = sum(p.numel() for p in res.parameters())
    assert count == sum(p.numel() for p in plain.parameters())
    # Option-A shortcuts are parameter-free.
    for _, block in residual_blocks(res):
        assert sum(p.numel() for p in block.downsample.parameters()) == 0


def test_option_a_shortcut_subsamples_and_zero_pads():
    model = build_model("resnet8", 10)
    block = model.layer2[0]
    x = torch.randn(2, 16, 8, 8)
    s = block.shortcut(x)
    assert s.shape == (2, 32, 4, 4)
    assert torch.equal(s[:, 8:24], x[:, :, ::2, ::2])
    assert torch.count_nonzero(s[:, :8]) == 0 and torch.count_nonzero(s[:, 24:]) == 0


def test_unknown_arch_is_a_config_error():
    with pytest.raises(ConfigError, match="resnet9"):
        build_model("resnet9", 10)


def test_pretrained_cifar_arch_is_a_config_error():
    with pytest.raises(ConfigError, match="pretrained"):
        build_model("resnet20", 10, pretrained=True)


def test_pretrained_without_batchnorm_is_a_config_error():
    with pytest.raises(ConfigError, match="BatchNorm"):
        build_model("resnet18", 10, pretrained=True, batchnorm=False)


@pytest.mark.parametrize("arch", ["resnet8", "resnet18", "resnet50"])
def test_batchnorm_off_leaves_no_batchnorm(arch):
    with torch.device("meta"):
        model = build_model(arch, 10, batchnorm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(k.endswith("running_mean") for k in model.state_dict())


def test_no_batchnorm_model_trains_forward():
    torch.manual_seed(0)
    model = build_model("resnet8", 10, batchnorm=False).train()
    out = model(_x(2))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cifar_convolutions_get_a_bias_without_batchnorm():
    with_bn = build_model("resnet8", 10)
    without = build_model("resnet8", 10, batchnorm=False)
    assert all(m.bias is None for m in with_bn.modules() if isinstance(m, nn.Conv2d))
    assert all(m.bias is not None for m in without.modules() if isinstance(m, nn.Conv2d))


def test_probe_layers_are_in_network_order():
    names = [n for n, _ in probe_layers(build_model("resnet8", 10))]
    assert names == [
        "conv1",
        "layer1.0.conv1",
        "layer1.0.conv2",
        "layer2.0.conv1",
        "layer2.0.conv2",
        "layer3.0.conv1",
        "layer3.0.conv2",
        "fc",
    ]


def test_probe_layers_are_the_weights_of_the_modules():
    with torch.device("meta"):
        model = build_model("resnet18", 10)
    layers = probe_layers(model)
    assert layers[0][0] == "conv1" and layers[-1][0] == "fc"
    modules = dict(model.named_modules())
    for name, weight in layers:
        assert weight is modules[name].weight
    assert "layer2.0.downsample.0" in [n for n, _ in layers]


def test_residual_blocks_and_stages():
    with torch.device("meta"):
        model = build_model("resnet18", 10)
    names = [n for n, _ in residual_blocks(model)]
    assert names == [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert [len(s) for s in stages(model)] == [2, 2, 2, 2]
    assert all(isinstance(b, SkipSwitch) for s in stages(model) for b in s)


# ---- skip switches ----------------------------------------------------------------------------
def test_set_skip_bool_and_float(resnet8):
    set_skip(resnet8, False)
    assert _scales(resnet8) == [0.0, 0.0, 0.0]
    set_skip(resnet8, True)
    assert _scales(resnet8) == [1.0, 1.0, 1.0]
    set_skip(resnet8, 0.5)
    assert _scales(resnet8) == [0.5, 0.5, 0.5]
    assert all(type(s) is float for s in _scales(resnet8))


def test_set_skip_per_block():
    model = build_model("resnet14", 10)
    values = [1, 0, 0.5, True, False, 2.0]
    set_skip(model, values)
    assert _scales(model) == [1.0, 0.0, 0.5, 1.0, 0.0, 2.0]
    set_skip(model, tuple(values))
    assert _scales(model) == [1.0, 0.0, 0.5, 1.0, 0.0, 2.0]


@pytest.mark.parametrize("values", [[1, 0], [1, 1, 1, 1], []])
def test_set_skip_wrong_length_is_a_config_error(resnet8, values):
    with pytest.raises(ConfigError, match="3"):
        set_skip(resnet8, values)
    assert _scales(resnet8) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("value", [-0.1, 2.5, float("nan")])
def test_set_skip_out_of_range_is_a_config_error(resnet8, value):
    with pytest.raises(ConfigError):
        set_skip(resnet8, value)
    with pytest.raises(ConfigError):
        set_skip(resnet8, [1, value, 1])
    assert _scales(resnet8) == [1.0, 1.0, 1.0]  # nothing half-applied


def test_turning_skips_off_changes_output_and_back_on_restores_it(resnet8):
    x = _x(2)
    with torch.no_grad():
        before = resnet8(x)
        set_skip(resnet8, False)
        off = resnet8(x)
        set_skip(resnet8, 0.5)
        half = resnet8(x)
        set_skip(resnet8, True)
        after = resnet8(x)
    assert not torch.allclose(before, off)
    assert not torch.allclose(before, half) and not torch.allclose(off, half)
    assert torch.equal(before, after)


def test_skip_is_not_in_the_state_dict(resnet8):
    keys = list(resnet8.state_dict())
    set_skip(resnet8, False)
    assert list(resnet8.state_dict()) == keys
    assert not any("skip" in k for k in keys)


def test_set_stage_skip_per_stage():
    model = build_model("resnet14", 10)
    set_stage_skip(model, [1, 0, 0.5])
    assert [[b.skip_scale for b in s] for s in stages(model)] == [[1.0, 1.0], [0.0, 0.0], [0.5] * 2]


def test_set_stage_skip_single_value_broadcasts():
    with torch.device("meta"):
        model = build_model("resnet18", 10)
    set_stage_skip(model, [0])
    assert _scales(model) == [0.0] * 8
    set_stage_skip(model, (True,))
    assert _scales(model) == [1.0] * 8


@pytest.mark.parametrize(("arch", "values"), [("resnet8", [1, 0]), ("resnet18", [1, 0, 1])])
def test_set_stage_skip_wrong_count_is_a_config_error(arch, values):
    with torch.device("meta"):
        model = build_model(arch, 10)
    with pytest.raises(ConfigError, match="stages"):
        set_stage_skip(model, values)


def test_build_model_skip_forms():
    assert _scales(build_model("resnet8", 10, skip=False)) == [0.0] * 3
    assert _scales(build_model("resnet8", 10, skip=0.25)) == [0.25] * 3
    assert _scales(build_model("resnet8", 10, skip=(1, 0, 1))) == [1.0, 0.0, 1.0]
    assert _scales(build_model("resnet14", 10, skip=[0])) == [0.0] * 6
    with pytest.raises(ConfigError):
        build_model("resnet8", 10, skip=(1, 0))


def test_set_stage_skip_with_a_bad_value_changes_nothing():
    model = build_model("resnet8", 10)
    with pytest.raises(ConfigError):
        set_stage_skip(model, [0, 0, 5])
    assert _scales(model) == [1.0, 1.0, 1.0]


# ---- block maths ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blocks_under_test() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    torch.manual_seed(0)
    cifar = build_model("resnet8", 10).eval()
    tv18 = build_model("resnet18", 10).eval()
    tv50 = build_model("resnet50", 10).eval()
    return {
        "cifar identity": (cifar.layer1[0], torch.randn(2, 16, 8, 8)),
        "cifar option-A": (cifar.layer2[0], torch.randn(2, 16, 8, 8)),
        "basic projection": (tv18.layer2[0], torch.randn(1, 64, 8, 8)),
        "basic identity": (tv18.layer2[1], torch.randn(1, 128, 4, 4)),
        "bottleneck projection": (tv50.layer1[0], torch.randn(1, 64, 8, 8)),
        "bottleneck identity": (tv50.layer1[1], torch.randn(1, 256, 8, 8)),
    }


BLOCK_CASES = [
    "cifar identity",
    "cifar option-A",
    "basic projection",
    "basic identity",
    "bottleneck projection",
    "bottleneck identity",
]


@pytest.mark.parametrize("case", BLOCK_CASES)
def test_block_forward_is_relu_of_scaled_sum(blocks_under_test, case):
    block, x = blocks_under_test[case]
    block = copy.deepcopy(block)
    with torch.no_grad():
        r, s = block.residual(x), block.shortcut(x)
        assert r.shape == s.shape
        block.skip_scale = 1.0
        torch.testing.assert_close(block(x), F.relu(r + s))
        block.skip_scale = 0.0
        torch.testing.assert_close(block(x), F.relu(r))
        block.skip_scale = 0.5
        torch.testing.assert_close(block(x), F.relu(r + 0.5 * s))
        block.skip_scale = 1.0
        block.branch_scale = 0.0
        torch.testing.assert_close(block(x), F.relu(s))
        block.branch_scale = 0.5
        torch.testing.assert_close(block(x), F.relu(0.5 * r + s))


@pytest.mark.parametrize("case", BLOCK_CASES[2:])
def test_torchvision_blocks_compute_what_torchvision_blocks_compute(blocks_under_test, case):
    ours, x = blocks_under_test[case]
    base = next(c for c in type(ours).__mro__ if c.__module__ == "torchvision.models.resnet")
    theirs = copy.deepcopy(ours)
    theirs.__class__ = base  # same modules and weights, torchvision's forward
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize(
    ("arch", "skip"),
    [
        ("resnet8", True),
        ("resnet8", False),
        ("resnet18", True),
        ("resnet18", False),
        ("resnet50", True),
    ],
)
def test_each_relu_module_runs_once_and_not_in_place(arch, skip):
    with torch.device("meta"):  # shapes only: no weight init, no arithmetic
        model = build_model(arch, 10, skip=skip).eval()
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert not any(m.inplace for m in relus)
    calls = {id(m): 0 for m in relus}

    def count(module, _inputs, _output):
        calls[id(module)] += 1

    handles = [m.register_forward_hook(count) for m in relus]
    try:
        with torch.no_grad():
            model(torch.empty(1, 3, 32, 32, device="meta"))
    finally:
        for h in handles:
            h.remove()
    assert max(calls.values()) == 1
    per_block = 3 if arch == "resnet50" else 2
    expected = 1 + per_block * len(residual_blocks(model))  # the stem + each block's call sites
    assert sum(calls.values()) == expected


# ---- torchvision compatibility ----------------------------------------------------------------
@pytest.mark.parametrize("arch", TORCHVISION_ARCHS)
def test_state_dict_keys_are_torchvision_keys(arch):
    with torch.device("meta"):
        ours = build_model(arch, 10).state_dict()
        theirs = getattr(torchvision.models, arch)(num_classes=10).state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert ours[key].shape == theirs[key].shape, key


def test_torchvision_weights_load_both_ways_with_identical_outputs():
    arch = "resnet18"
    torch.manual_seed(1)
    theirs = getattr(torchvision.models, arch)(num_classes=10).eval()
    # Non-trivial BN statistics, so that buffers matter too.
    for m in theirs.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours = build_model(arch, 10).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = _x(1, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    back = getattr(torchvision.models, arch)(num_classes=10).eval()
    back.load_state_dict(ours.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(back(x), theirs(x))


# ---- pretrained weights via the hub cache -----------------------------------------------------
def _put_in_hub_cache(torch_home: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(5)
    state = torchvision.models.resnet18().state_dict()
    name = ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    target = torch_home / "hub" / "checkpoints" / name
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    return state


def test_pretrained_weights_load_from_the_hub_cache(_no_downloads):
    state = _put_in_hub_cache(_no_downloads)
    model = build_model("resnet18", 1000, pretrained=True)
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_pretrained_with_a_new_head_keeps_the_features(_no_downloads):
    state = _put_in_hub_cache(_no_downloads)
    model = build_model("resnet18", 10, pretrained=True)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert model.fc.weight.shape == (10, 512)
    assert model.fc.bias.shape == (10,)


def test_pretrained_without_cache_or_network_is_a_data_error():
    with pytest.raises(DataError, match="hub cache") as info:
        build_model("resnet18", 10, pretrained=True)
    assert "resnet18-f37072fd.pth" in str(info.value)


# ---- zero-initialised residual branches (Fixup-style, for nets without BatchNorm) ----------------
@pytest.mark.parametrize(
    ("arch", "batchnorm"),
    [("resnet8", True), ("resnet8", False), ("resnet18", True), ("resnet50", False)],
)
def test_zero_init_residual_makes_every_block_its_shortcut(arch, batchnorm):
    torch.manual_seed(0)
    model = build_model(arch, 10, batchnorm=batchnorm, zero_init_residual=True).eval()
    with torch.no_grad():
        for _, block in residual_blocks(model):
            inp = F.relu(torch.randn(2, block.conv1.in_channels, 8, 8))
            assert torch.count_nonzero(block.residual(inp)) == 0
            assert torch.equal(block(inp), F.relu(block.shortcut(inp)))
        assert torch.isfinite(model(_x(2, 32 if arch in CIFAR_ARCHS else 64))).all()
    last = ("bn" if batchnorm else "conv") + ("3" if arch == "resnet50" else "2")
    assert all(getattr(b, last).weight.abs().sum() == 0 for _, b in residual_blocks(model))


def test_zero_init_residual_is_off_by_default_and_keeps_the_state_dict_keys():
    torch.manual_seed(0)
    plain = build_model("resnet8", 10, batchnorm=False)
    zeroed = build_model("resnet8", 10, batchnorm=False, zero_init_residual=True)
    assert plain.layer1[0].conv2.weight.abs().sum() > 0
    assert plain.state_dict().keys() == zeroed.state_dict().keys()
    assert (
        plain.layer1[0].conv1.weight.abs().sum() > 0
        and zeroed.layer1[0].conv1.weight.abs().sum() > 0
    )


def test_zero_init_without_batchnorm_is_fixups_initialisation():
    """Zhang et al. (2019), §3: classifier and each branch's last layer at zero, the branch's
    other layers scaled by L ** (-1 / (2m - 2)) (L branches of m layers); the shortcut-free
    stem and the state-dict keys as in the plain twin."""
    for arch, m in (("resnet32", 2), ("resnet50", 3)):
        torch.manual_seed(0)
        base = build_model(arch, 10, batchnorm=False)
        torch.manual_seed(0)
        fixup = build_model(arch, 10, batchnorm=False, zero_init_residual=True)
        blocks = residual_blocks(fixup)
        scale = len(blocks) ** (-1 / (2 * m - 2))
        for name, block in blocks:
            inner = [block.conv1] + ([block.conv2] if m == 3 else [])
            ref = base.get_submodule(name)
            for conv in inner:
                ref_conv = ref.get_submodule(
                    next(n for n, c in block.named_children() if c is conv)
                )
                torch.testing.assert_close(conv.weight, ref_conv.weight * scale)
        assert fixup.fc.weight.abs().sum() == 0 and fixup.fc.bias.abs().sum() == 0
        torch.testing.assert_close(fixup.conv1.weight, base.conv1.weight)
        assert fixup.state_dict().keys() == base.state_dict().keys()


def test_zero_init_with_batchnorm_keeps_the_classifier():
    torch.manual_seed(0)
    model = build_model("resnet20", 10, zero_init_residual=True)
    assert model.fc.weight.abs().sum() > 0
    assert all(b.conv1.weight.abs().sum() > 0 for _, b in residual_blocks(model))
