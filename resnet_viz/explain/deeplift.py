"""DeepLift (Shrikumar et al. 2017), Rescale rule, against the mean-colour image.

Captum implements it with forward and backward hooks on every non-linear module, storing each
module's input and output on the module between the passes. That needs one module per call
site: a ReLU module called twice (torchvision's stock ``BasicBlock`` calls ``self.relu`` twice)
overwrites its own stored input, and Captum stops with a RuntimeError in the backward pass. The
app's models have one ReLU per call site (see ``resnet_viz.models.blocks``); for any other model
that error becomes a :class:`MethodError` naming the reused modules.
"""

from __future__ import annotations

from collections import Counter

import torch
from captum.attr import DeepLift
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
from torch import nn

from .base import Context, Method, MethodError, register


def reused_nonlinearities(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of non-linear modules (those DeepLift hooks) called more than once per forward."""
    calls: Counter[str] = Counter()
    handles = [
        m.register_forward_hook(lambda *_, n=name: calls.update([n]))
        for name, m in model.named_modules()
        if type(m) in SUPPORTED_NON_LINEAR
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return sorted(n for n, c in calls.items() if c > 1)


def _deeplift(ctx: Context) -> torch.Tensor:
    x = ctx.inputs
    try:
        attr = DeepLift(ctx.model).attribute(x, baselines=torch.zeros_like(x), target=ctx.target)
    except RuntimeError as err:
        if "more than once" not in str(err):
            raise
        reused = reused_nonlinearities(ctx.model, x)
        raise MethodError(
            "DeepLift needs every ReLU (and other non-linearity) to be its own module, called "
            f"once per forward pass; this model reuses {', '.join(reused) or 'one'}. Models "
            "built by this app have one ReLU per call site; load the weights into one of them."
        ) from None
    return attr[0].sum(0)


register(
    Method(
        name="deeplift",
        label="DeepLift",
        summary="Differences from the mean-colour image, propagated back with the Rescale rule; "
        "like Integrated Gradients in one backward pass.",
        sign="absolute_value",
        run=_deeplift,
        evaluations=lambda h, w, o: 2,
        hooks_modules=True,
    )
)
