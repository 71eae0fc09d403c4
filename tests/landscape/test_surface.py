"""The loss on a grid around the trained weights: exact at the origin and at a hand-computed
point, the same batched or one point at a time, and the model untouched afterwards."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_viz.landscape import (
    filter_normalized_direction,
    grid,
    linear_path,
    loss_surface,
    loss_surface_loop,
)
from resnet_viz.models import build_model


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = build_model("resnet8", 10)
    model.train()  # a mode the surface must restore
    with torch.no_grad():  # running statistics that differ from a fresh net's
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    x, y = torch.randn(24, 3, 16, 16), torch.randint(0, 10, (24,))
    gen = torch.Generator().manual_seed(0)
    dirs = [filter_normalized_direction(model, generator=gen) for _ in range(2)]
    return model, x, y, dirs


def test_at_the_origin_it_is_the_models_own_eval_loss(net):
    model, x, y, dirs = net
    (loss,) = loss_surface(model, x, y, dirs, torch.zeros(1, 2))
    model.eval()
    with torch.no_grad():
        want = F.cross_entropy(model(x), y)
    model.train()
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)


def test_a_hand_computed_point_on_a_linear_model():
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        model.bias.copy_(torch.tensor([0.0, 0.5, -0.5]))
    x, y = torch.tensor([[1.0, 2.0], [-1.0, 0.5]]), torch.tensor([2, 0])
    d = {"weight": torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]]), "bias": torch.zeros(3)}
    (loss,) = loss_surface(model, x, y, [d], torch.tensor([[0.5]]))
    w = model.weight.detach() + 0.5 * d["weight"]
    logits = x @ w.T + model.bias.detach()
    want = -torch.log_softmax(logits, dim=1)[torch.arange(2), y].mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)


@pytest.mark.parametrize("per_call", [1, 4])
def test_batched_and_one_at_a_time_agree_and_leave_the_model_as_it_was(net, per_call):
    model, x, y, dirs = net
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _, coords = grid(3, 0.5)
    done = []
    got = loss_surface(
        model, x, y, dirs, coords, points_per_call=per_call, batch_size=10,
        progress=lambda a, b: done.append((a, b)),
    )  # fmt: skip
    want = loss_surface_loop(model, x, y, dirs, coords)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert got.shape == (9,) and done[-1] == (9, 9)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training  # the mode it came in


def test_the_grid_runs_row_by_row_over_the_span():
    axis, coords = grid(3, 2.0)
    assert axis.tolist() == [-2.0, 0.0, 2.0]
    assert coords[:3].tolist() == [[-2.0, -2.0], [-2.0, 0.0], [-2.0, 2.0]]


def test_coordinates_of_the_wrong_width_are_refused(net):
    model, x, y, dirs = net
    with pytest.raises(ValueError, match=r"coords must be \(P, 2\)"):
        loss_surface(model, x, y, dirs, torch.zeros(4, 3))


def test_the_linear_path_runs_from_the_initial_weights_to_the_trained_ones(net):
    trained, x, y, _ = net
    torch.manual_seed(1)
    initial = build_model("resnet8", 10)
    losses = linear_path(trained, initial, x, y, torch.tensor([0.0, 0.5, 1.0]))
    trained.eval()
    with torch.no_grad():
        at_trained = F.cross_entropy(trained(x), y)
    trained.train()
    assert losses[2].item() == pytest.approx(at_trained.item(), rel=1e-5)
    # α = 0: the initial net's weights with the trained net's BatchNorm statistics.
    hybrid = build_model("resnet8", 10)
    hybrid.load_state_dict(trained.state_dict())
    with torch.no_grad():
        for (_, p), (_, q) in zip(
            hybrid.named_parameters(), initial.named_parameters(), strict=True
        ):
            p.copy_(q)
    hybrid.eval()
    with torch.no_grad():
        want = F.cross_entropy(hybrid(x), y)
    assert losses[0].item() == pytest.approx(want.item(), rel=1e-4)
