"""Tests for the training probes (resnet_viz.train.probes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_viz.models import build_model, probe_layers, residual_blocks, set_stage_skip
from resnet_viz.train.probes import GradNormProbe, WeightProbe, block_probe


def _batch(n: int = 4, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet8", 10).train()


def _step(model: nn.Module, opt: torch.optim.Optimizer, seed: int) -> None:
    x, y = _batch(seed=seed)
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


# ---- gradient norms ---------------------------------------------------------------------------
def test_grad_norms_match_a_plain_computation(model):
    probe = GradNormProbe(model)
    assert probe.names == tuple(n for n, _ in probe_layers(model))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    expected = []
    for seed in range(3):
        _step(model, opt, seed)
        probe.record()
        expected.append([p.grad.norm().item() for _, p in probe_layers(model)])
        opt.step()
    rows = probe.drain()
    assert rows.dtype == np.float32
    assert rows.shape == (3, len(probe.names))
    np.testing.assert_allclose(rows, np.array(expected, dtype=np.float32), rtol=1e-5)
    assert np.all(rows > 0)
    # Rows differ from step to step: each is that step's gradient, not a running value.
    assert not np.allclose(rows[0], rows[1])


def test_drain_empties_the_buffer(model):
    probe = GradNormProbe(model)
    assert probe.drain().shape == (0, len(probe.names))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _step(model, opt, 0)
    probe.record()
    assert probe.drain().shape == (1, len(probe.names))
    assert probe.drain().shape == (0, len(probe.names))
    for seed in range(2):
        _step(model, opt, seed)
        probe.record()
    assert probe.drain().shape == (2, len(probe.names))


def test_unused_projection_gives_zero_not_an_error():
    torch.manual_seed(0)
    model = build_model("resnet18", 10).train()
    set_stage_skip(model, [1, 0, 1, 1])  # layer2's projection shortcut is never used
    probe = GradNormProbe(model)
    x, y = _batch(1, 64)
    F.cross_entropy(model(x), y).backward()
    unused = dict(model.named_parameters())["layer2.0.downsample.0.weight"]
    assert unused.grad is None
    probe.record()
    row = probe.drain()[0]
    names = list(probe.names)
    assert row[names.index("layer2.0.downsample.0")] == 0.0
    used = names.index("layer3.0.downsample.0")
    assert row[used] == pytest.approx(dict(probe_layers(model))[names[used]].grad.norm().item())
    assert np.count_nonzero(row) == len(names) - 1


# ---- weight norms and update ratios -----------------------------------------------------------
def _ratios(now: list[torch.Tensor], before: list[torch.Tensor]) -> list[float]:
    return [
        (w.detach() - b).norm().item() / b.norm().item() for w, b in zip(now, before, strict=True)
    ]


def test_weight_probe_matches_a_manual_computation(model):
    probe = WeightProbe(model)
    weights = [p for _, p in probe_layers(model)]
    before = [w.detach().clone() for w in weights]
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    _step(model, opt, 0)
    opt.step()
    norms, ratios = probe.measure()
    assert norms.shape == ratios.shape == (len(weights),)
    assert norms.dtype == ratios.dtype == np.float32
    np.testing.assert_allclose(norms, [w.detach().norm().item() for w in weights], rtol=1e-5)
    np.testing.assert_allclose(ratios, _ratios(weights, before), rtol=1e-4)
    assert np.all(ratios > 0)

    # The next call measures from the snapshot the first one took.
    assert np.all(probe.measure()[1] == 0)  # nothing moved since
    middle = [w.detach().clone() for w in weights]
    _step(model, opt, 1)
    opt.step()
    _, ratios2 = probe.measure()
    np.testing.assert_allclose(ratios2, _ratios(weights, middle), rtol=1e-4)
    assert not np.allclose(ratios2, _ratios(weights, before), rtol=1e-3)


def test_weight_probe_snapshot_is_a_copy(model):
    probe = WeightProbe(model)
    with torch.no_grad():
        model.fc.weight.mul_(2.0)  # in-place, as optimisers do
    _, ratios = probe.measure()
    assert ratios[-1] == pytest.approx(1.0, rel=1e-5)
    assert np.all(ratios[:-1] == 0)


# ---- block probes -----------------------------------------------------------------------------
def _manual_block_stats(model: nn.Module, x: torch.Tensor):
    inputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        return lambda _module, args: inputs.__setitem__(name, args[0])

    handles = [block.register_forward_pre_hook(keep(n)) for n, block in residual_blocks(model)]
    model.eval()
    with torch.no_grad():
        model(x)
        ratios, stds = [], []
        for name, block in residual_blocks(model):
            f = block.residual(inputs[name])
            ratios.append((f.norm() / inputs[name].norm()).item())
            stds.append(f.std().item())
    for h in handles:
        h.remove()
    return ratios, stds


@pytest.mark.parametrize("arch", ["resnet8", "resnet14"])
def test_block_probe_matches_a_manual_computation(arch):
    torch.manual_seed(0)
    model = build_model(arch, 10, skip=(1, 0, 0.5))
    # Non-trivial BN statistics, so eval mode matters.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    x, _ = _batch(3)
    model.train()
    names, ratios, stds = block_probe(model, x)
    assert names == tuple(n for n, _ in residual_blocks(model))
    assert ratios.shape == stds.shape == (len(names),)
    manual_ratios, manual_stds = _manual_block_stats(model, x)
    np.testing.assert_allclose(ratios, manual_ratios, rtol=1e-5)
    np.testing.assert_allclose(stds, manual_stds, rtol=1e-5)
    assert np.all(ratios > 0) and np.all(stds > 0)


@pytest.mark.parametrize("training", [True, False])
def test_block_probe_restores_mode_and_removes_hooks(model, training):
    model.train(training)
    own = model.layer1[0].register_forward_hook(lambda *a: None)  # someone else's hook
    block_probe(model, _batch(2)[0])
    assert model.training is training
    assert all(m.training is training for m in model.modules())
    assert list(model.layer1[0]._forward_hooks) == [own.id]
    own.remove()
    assert all(len(b._forward_hooks) == 0 for _, b in residual_blocks(model))


@pytest.mark.parametrize("training", [True, False])
def test_block_probe_cleans_up_when_the_forward_fails(model, training):
    model.train(training)
    with pytest.raises(RuntimeError):
        block_probe(model, torch.randn(1, 5, 32, 32))  # wrong number of channels
    assert model.training is training
    assert all(len(b._forward_hooks) == 0 for _, b in residual_blocks(model))
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_block_probe_does_not_touch_bn_statistics_or_gradients(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    block_probe(model, _batch(4)[0])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())
