"""Input-gradient methods: Saliency, SmoothGrad, Integrated Gradients, GradientShap.

All take the counting forward function of the :class:`~resnet_viz.explain.base.Context`, so
Captum's own batching (IG's ``internal_batch_size``, NoiseTunnel's ``nt_samples_batch_size``)
reports progress and can be cancelled between chunks. Baselines are the all-zero normalised
image, i.e. the training set's mean colour.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from captum.attr import GradientShap, IntegratedGradients, NoiseTunnel, Saliency

from .base import Context, Method, register


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's and numpy's global generators (Captum draws from both) and restore them
    after, so a request always gives the same map and the rest of the app is not reseeded."""
    devices = [device.index or 0] if device.type == "cuda" else []
    state = np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def _saliency(ctx: Context) -> torch.Tensor:
    # |∂y/∂x| summed over colour channels (Simonyan et al. 2014 take the max over channels;
    # Captum's visualiser sums, and every map here is reduced the same way).
    return Saliency(ctx.forward).attribute(ctx.inputs, target=ctx.target, abs=True)[0].sum(0)


def _smoothgrad(ctx: Context) -> torch.Tensor:
    x, o = ctx.inputs, ctx.options
    sigma = o.smoothgrad_noise * float(x.max() - x.min())
    with seeded(o.seed, x.device):
        attr = NoiseTunnel(Saliency(ctx.forward)).attribute(
            x,
            nt_type="smoothgrad",
            nt_samples=o.smoothgrad_samples,
            nt_samples_batch_size=o.batch_size,
            stdevs=sigma,
            target=ctx.target,
            abs=True,
        )
    return attr[0].sum(0)


def _integrated_gradients(ctx: Context) -> torch.Tensor:
    x, o = ctx.inputs, ctx.options
    attr = IntegratedGradients(ctx.forward).attribute(
        x,
        baselines=torch.zeros_like(x),
        target=ctx.target,
        n_steps=o.ig_steps,
        internal_batch_size=o.ig_batch(*x.shape[2:]),
    )
    return attr[0].sum(0)


def _gradient_shap(ctx: Context) -> torch.Tensor:
    """GradientShap (Lundberg & Lee 2017) against the mean image and random images in the
    input's own value range. Captum evaluates all ``n_samples`` in one batch, so the samples are
    split into chunks of ``batch_size`` Captum calls and their means averaged: same expectation,
    bounded memory, and progress between chunks."""
    x, o = ctx.inputs, ctx.options
    with seeded(o.seed, x.device):
        lo = x.amin(dim=(0, 2, 3), keepdim=True)
        hi = x.amax(dim=(0, 2, 3), keepdim=True)
        noise = torch.rand((o.shap_baselines, *x.shape[1:]), device=x.device)
        baselines = torch.cat([torch.zeros_like(x), lo + (hi - lo) * noise])
        shap = GradientShap(ctx.forward)
        total = torch.zeros_like(x)
        left = o.shap_samples
        while left > 0:
            n = min(left, o.batch_size)
            total += n * shap.attribute(x, baselines=baselines, n_samples=n, target=ctx.target)
            left -= n
    return (total / o.shap_samples)[0].sum(0)


register(
    Method(
        name="saliency",
        label="Saliency",
        summary="How much each pixel's small change moves the class score (|gradient|). Fast, "
        "noisy.",
        sign="absolute_value",
        run=_saliency,
        evaluations=lambda h, w, o: 1,
    )
)
register(
    Method(
        name="smoothgrad",
        label="SmoothGrad",
        summary="Saliency averaged over noisy copies of the image (noise σ relative to the "
        "image's value range): less speckle.",
        sign="absolute_value",
        run=_smoothgrad,
        evaluations=lambda h, w, o: o.smoothgrad_samples,
        slow=True,
    )
)
register(
    Method(
        name="integrated_gradients",
        label="Integrated Gradients",
        summary="Gradients averaged along a straight path from the mean-colour image to this "
        "one; the pixel attributions add up to the change in the class score.",
        sign="absolute_value",
        run=_integrated_gradients,
        evaluations=lambda h, w, o: o.ig_steps,
        slow=True,
    )
)
register(
    Method(
        name="gradient_shap",
        label="GradientShap",
        summary="Expected gradients against random reference images: an approximation of SHAP "
        "values.",
        sign="absolute_value",
        run=_gradient_shap,
        evaluations=lambda h, w, o: o.shap_samples,
        slow=True,
    )
)
