"""Filter-normalised directions (Li et al. 2018, §4): each filter of the direction has the norm
of the same filter in the model; one-dimensional parameters get none."""

from __future__ import annotations

import torch

from resnet_viz.landscape import filter_normalized_direction, same_shapes
from resnet_viz.models import build_model


def test_each_filter_has_the_norm_of_the_models_filter_and_1d_parameters_get_zeros():
    model = build_model("resnet8", 10)
    d = filter_normalized_direction(model, generator=torch.Generator().manual_seed(0))
    assert list(d) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert d[name].shape == p.shape, name
        if p.dim() <= 1:  # biases, BatchNorm's scale and shift
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            want = p.detach().flatten(1).norm(dim=1)
            got = d[name].flatten(1).norm(dim=1)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
            assert not torch.allclose(d[name], p.detach())  # a direction, not the weights


def test_the_same_seed_gives_the_same_direction_to_twins_and_another_seed_another():
    residual, plain = build_model("resnet8", 10), build_model("resnet8", 10, skip=False)
    plain.load_state_dict(residual.state_dict())
    assert same_shapes(residual, plain)
    a = filter_normalized_direction(residual, generator=torch.Generator().manual_seed(3))
    b = filter_normalized_direction(plain, generator=torch.Generator().manual_seed(3))
    c = filter_normalized_direction(residual, generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_nets_of_different_depths_cannot_share_directions():
    assert not same_shapes(build_model("resnet8", 10), build_model("resnet20", 10))


def test_the_model_is_left_as_it_was():
    model = build_model("resnet8", 10)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    filter_normalized_direction(model)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
