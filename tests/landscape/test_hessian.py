"""Sharpness from Hessian-vector products: on quadratics with a known spectrum, both ends of
it and the trace are found; on a network, the model is left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet_viz.landscape import hutchinson_trace, sharpness, spectrum
from resnet_viz.landscape.hessian import hessian_vector_product, lanczos_extremes, top_eigenvalue
from resnet_viz.models import build_model


def quadratic(eigenvalues: list[float], seed: int = 0):
    """loss(θ) = ½ θᵀAθ with A = Q diag(λ) Qᵀ for a random rotation Q: its Hessian is A."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=gen))
    a = q @ torch.diag(torch.tensor(eigenvalues)) @ q.T
    theta = torch.randn(len(eigenvalues), generator=gen, requires_grad=True)

    def hvp(v):
        return hessian_vector_product(lambda: 0.5 * theta @ a @ theta, [theta], v)

    return hvp, [theta]


@pytest.mark.parametrize(
    "eigenvalues",
    [[5.0, 2.0, -1.0, -3.0], [1.0, 0.5, -4.0], [3.0, 1.0, 0.25]],
    ids=["positive-dominant", "negative-dominant", "convex"],
)
def test_both_ends_of_a_known_spectrum_and_its_trace(eigenvalues):
    hvp, like = quadratic(eigenvalues)
    gen = torch.Generator().manual_seed(1)
    found = spectrum(hvp, like, steps=len(eigenvalues), samples=4000, generator=gen)
    assert found.max_eigenvalue == pytest.approx(max(eigenvalues), rel=1e-3)
    assert found.min_eigenvalue == pytest.approx(min(eigenvalues), rel=1e-3, abs=1e-3)
    assert found.trace == pytest.approx(sum(eigenvalues), abs=0.3)
    assert found.ratio == pytest.approx(abs(min(eigenvalues) / max(eigenvalues)), rel=1e-2)


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    theta = torch.randn(6, requires_grad=True)
    d = torch.tensor([3.0, -1.0, 0.5, 2.0, 0.0, 4.0])

    def hvp(v):
        return hessian_vector_product(lambda: 0.5 * (d * theta * theta).sum(), [theta], v)

    assert hutchinson_trace(hvp, [theta], samples=3) == pytest.approx(float(d.sum()))


def test_a_networks_sharpness_leaves_it_as_it_was():
    torch.manual_seed(0)
    model = build_model("resnet8", 10)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    s = sharpness(model, x, y, steps=5, samples=2, batch_size=8)
    assert s.max_eigenvalue >= s.min_eigenvalue and s.max_eigenvalue > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and all(p.grad is None for p in model.parameters())


def test_power_iteration_finds_the_dominant_eigenvalue():
    hvp, like = quadratic([5.0, 2.0, -1.0, -3.0])
    gen = torch.Generator().manual_seed(1)
    assert top_eigenvalue(hvp, like, iters=2000, tol=1e-9, generator=gen) == pytest.approx(5.0)


def test_lanczos_finds_a_negative_end_hidden_under_many_near_zero_eigenvalues():
    """A trained net's spectrum: one large eigenvalue, a slightly negative one, and many near
    zero. The shifted power iteration reported a positive "most negative" eigenvalue here."""
    eigenvalues = [50.0, -0.5, *np.linspace(-0.01, 0.01, 60).tolist()]
    hvp, like = quadratic(eigenvalues)
    low, high = lanczos_extremes(hvp, like, steps=40, generator=torch.Generator().manual_seed(2))
    assert high == pytest.approx(50.0, rel=1e-4) and low == pytest.approx(-0.5, rel=1e-2)
