"""Shattered gradients (Balduzzi et al. 2017): the measurement, and the effect at init."""

from __future__ import annotations

import torch
from torch import nn

from resnet_viz.experiments.shattering import (
    calibrate_batchnorm,
    gradient_correlation,
    input_gradients,
    shattering_by_depth,
)
from resnet_viz.models import build_model


def test_input_gradients_are_per_input_gradients_of_the_top_logit():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).eval()
    x = torch.randn(3, 3, 2, 2)
    grads = input_gradients(model, x)
    top = model(x).argmax(1)
    assert torch.allclose(grads, model[1].weight[top])


def test_a_linear_model_does_not_shatter():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    result = gradient_correlation(model, torch.randn(2, 3, 8, 8), points=16, max_lag=4)
    assert result.lags == (1, 2, 3, 4) and result.corr == (1.0, 1.0, 1.0, 1.0)


def test_correlation_falls_with_distance_and_mode_is_restored():
    torch.manual_seed(0)
    model = build_model("resnet8", 10).train()
    result = gradient_correlation(model, torch.randn(2, 3, 32, 32), points=24, max_lag=6)
    assert model.training
    assert all(-1 <= c <= 1 for c in result.corr)
    assert result.corr[0] > result.corr[-1]
    assert result.neighbour == result.corr[0]


def test_calibrated_batchnorm_holds_the_exact_statistics():
    torch.manual_seed(0)
    model = build_model("resnet8", 10)
    x = torch.randn(96, 3, 32, 32)
    calibrate_batchnorm(model, x, batch=32)
    with torch.no_grad():
        h = model.conv1(x)
    assert torch.allclose(model.bn1.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    assert model.bn1.momentum == 0.1 and model.training


def test_plain_nets_shatter_with_depth_residual_nets_much_less():
    """The published effect at initialisation, with BatchNorm: neighbour correlation of a plain
    net falls from depth 8 to 32; the residual net of depth 32 keeps more of it."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32, generator=g)
    sweep = shattering_by_depth((8, 32), 10, x, x[:2])
    assert sweep["depth"] == [8, 32]
    plain, residual = sweep["plain"], sweep["residual"]
    assert plain[0] - plain[1] > 0.1, sweep
    assert residual[1] > plain[1] + 0.1, sweep
