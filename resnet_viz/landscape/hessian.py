"""How sharp a minimum is: the Hessian's extreme eigenvalues and its trace, from
Hessian-vector products only (as PyHessian does; the Hessian itself has parameters² entries).

* both ends of the spectrum by the Lanczos iteration (with full reorthogonalisation): the
  extreme eigenvalues of its small tridiagonal matrix converge to H's within a few dozen
  products. Power iteration finds the dominant one as well (:func:`top_eigenvalue`), but the
  shifted iteration for the other end stalls when most eigenvalues sit near zero, as they do
  for a trained net: it reported +0.004 where the most negative eigenvalue was clearly below 0;
* the trace by Hutchinson's estimator E[vᵀHv] over Rademacher vectors v.

Li et al. (2018, §6) read |λmin / λmax| at the trained point: near 0 the region is convex-looking,
large values mean strong negative curvature, a chaotic surface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Vectors = list[Tensor]  # one tensor per parameter


@dataclass(frozen=True)
class Sharpness:
    max_eigenvalue: float  # the largest eigenvalue
    min_eigenvalue: float  # the most negative (smallest) one
    trace: float  # Hutchinson's estimate

    @property
    def ratio(self) -> float:
        """|λmin / λmax| (Li et al. 2018, §6): small for convex-looking regions."""
        return abs(self.min_eigenvalue / self.max_eigenvalue) if self.max_eigenvalue else 0.0

    def to_dict(self) -> dict[str, float]:
        """The record the run store keeps (``keys.SHARPNESS``), ratio included."""
        return {**asdict(self), "ratio": self.ratio}


def _dot(a: Vectors, b: Vectors) -> Tensor:
    return sum((x * y).sum() for x, y in zip(a, b, strict=True))


def _normalised(v: Vectors) -> Vectors:
    norm = torch.sqrt(_dot(v, v)) + 1e-12
    return [x / norm for x in v]


def hessian_vector_product(loss: Callable[[], Tensor], params: Sequence[Tensor], v: Vectors):
    """H·v for the Hessian of ``loss()`` with respect to ``params`` (double backward)."""
    grads = torch.autograd.grad(loss(), params, create_graph=True)
    return list(torch.autograd.grad(grads, params, grad_outputs=v))


def top_eigenvalue(
    hvp: Callable[[Vectors], Vectors],
    like: Sequence[Tensor],
    *,
    shift: float = 0.0,
    iters: int = 50,
    tol: float = 1e-4,
    generator: torch.Generator | None = None,
) -> float:
    """The dominant eigenvalue of H − shift·I by power iteration (the Rayleigh quotient of the
    iterate), stopping when it changes by less than ``tol`` relative."""
    v = _normalised([torch.randn(p.shape, generator=generator).to(p) for p in like])
    value = None
    for _ in range(iters):
        hv = [h - shift * x for h, x in zip(hvp(v), v, strict=True)]
        new = float(_dot(hv, v))
        v = _normalised([h.detach() for h in hv])
        if value is not None and abs(new - value) <= tol * (abs(value) + 1e-12):
            return new
        value = new
    return float(value)


def hutchinson_trace(
    hvp: Callable[[Vectors], Vectors],
    like: Sequence[Tensor],
    *,
    samples: int = 50,
    generator: torch.Generator | None = None,
) -> float:
    """tr(H) ≈ mean of vᵀHv over ``samples`` Rademacher vectors v (exact for a diagonal H)."""
    total = 0.0
    for _ in range(samples):
        v = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in like]
        total += float(_dot(hvp(v), v))
    return total / samples


def lanczos_extremes(
    hvp: Callable[[Vectors], Vectors],
    like: Sequence[Tensor],
    *,
    steps: int = 30,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """The smallest and largest eigenvalues of the operator ``hvp`` after ``steps`` Lanczos
    steps (the extreme Ritz values; exact once ``steps`` reaches the dimension)."""
    dim = sum(p.numel() for p in like)
    steps = max(1, min(steps, dim))
    v = _normalised([torch.randn(p.shape, generator=generator).to(p) for p in like])
    basis: list[Vectors] = [v]
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(steps):
        w = [h.detach() for h in hvp(basis[j])]
        alpha = float(_dot(w, basis[j]))
        alphas.append(alpha)
        for q in basis:  # full reorthogonalisation: keeps the Ritz values honest
            c = _dot(w, q)
            w = [a - c * b for a, b in zip(w, q, strict=True)]
        beta = float(torch.sqrt(_dot(w, w)))
        if j == steps - 1 or beta < 1e-8:
            break
        betas.append(beta)
        basis.append([a / beta for a in w])
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas, dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    ritz = torch.linalg.eigvalsh(t)
    return float(ritz[0]), float(ritz[-1])


def spectrum(
    hvp: Callable[[Vectors], Vectors],
    like: Sequence[Tensor],
    *,
    steps: int = 30,
    samples: int = 50,
    generator: torch.Generator | None = None,
) -> Sharpness:
    """Both ends of the spectrum (Lanczos) and the trace (Hutchinson) of the operator ``hvp``."""
    low, high = lanczos_extremes(hvp, like, steps=steps, generator=generator)
    trace = hutchinson_trace(hvp, like, samples=samples, generator=generator)
    return Sharpness(high, low, trace)


def sharpness(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    steps: int = 30,
    samples: int = 50,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sharpness:
    """The Hessian of the mean cross-entropy of ``model`` on ``(images, labels)`` at its own
    weights, in eval mode (BatchNorm uses its running statistics); the mode is restored.
    ``progress(done, steps + samples)`` after each Hessian-vector product (it may raise)."""
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device
    images, labels = images.to(device), labels.to(device)
    n = len(images)
    done = [0]

    def hvp(v: Vectors) -> Vectors:
        out = [torch.zeros_like(p) for p in params]
        for i in range(0, n, batch_size):
            x, y = images[i : i + batch_size], labels[i : i + batch_size]

            def loss(x=x, y=y) -> Tensor:
                return F.cross_entropy(model(x), y, reduction="sum") / n

            for o, h in zip(out, hessian_vector_product(loss, params, v), strict=True):
                o += h
        done[0] += 1
        if progress is not None:
            progress(done[0], steps + samples)
        return out

    was_training = model.training
    model.eval()
    try:
        return spectrum(hvp, params, steps=steps, samples=samples, generator=generator)
    finally:
        model.train(was_training)


def sharpness_record(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    steps: int,
    samples: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """:func:`sharpness` with a generator seeded by ``seed``, as the run store keeps it
    (``keys.SHARPNESS``): the spectrum's ends, their ratio and the trace, with the images,
    Lanczos steps and Hutchinson samples it was measured with."""
    found = sharpness(
        model, images, labels, steps=steps, samples=samples,
        generator=torch.Generator().manual_seed(seed), progress=progress,
    )  # fmt: skip
    return {**found.to_dict(), "images": len(labels), "steps": steps, "samples": samples}
