"""Grad-CAM (Selvaraju et al. 2017) and the guided family (Springenberg et al. 2015).

Grad-CAM follows pytorch-grad-cam's ``GradCAM`` conventions so the two agree to 1e-4 (a test
checks it): ReLU on the channel-weighted sum, bilinear upsampling with ``align_corners=False``,
per-image min–max scaling after upsampling, the raw logit as the target.

Only the gradient down to the chosen layer is needed. Parameters are frozen by the caller and the
input does not require grad, so the forward pass records no graph until Captum's hook makes the
layer's output require grad: below the layer it costs what an inference pass costs, and
``torch.autograd.grad`` walks back only from the logit to the layer.
"""

from __future__ import annotations

import torch
from captum.attr import GuidedBackprop, GuidedGradCam, LayerAttribution, LayerGradCam

from .base import Context, Method, MethodError, Options, register


def _spatial(attr: torch.Tensor, layer_name: str) -> torch.Tensor:
    if attr.ndim != 4:
        raise MethodError(
            f"Grad-CAM needs a layer with a spatial (C×H×W) output; {layer_name} gives "
            f"{tuple(attr.shape[1:])}. Choose a stage or block."
        )
    return attr


def _grad_cam(ctx: Context) -> torch.Tensor:
    forward = ctx.forward
    if ctx.target is None:
        # The top logit's gradient, from the same forward pass: max() routes the gradient to
        # the arg-max class, so this equals target=argmax without a second pass.
        def forward(x: torch.Tensor) -> torch.Tensor:
            return ctx.forward(x).max(dim=1).values

    cam = LayerGradCam(forward, ctx.layer).attribute(
        ctx.inputs, target=ctx.target, relu_attributions=True
    )
    cam = _spatial(cam, ctx.layer_name or "this layer")
    up = LayerAttribution.interpolate(
        cam.detach(), tuple(ctx.inputs.shape[2:]), interpolate_mode="bilinear"
    )[0, 0]
    # Exact min–max. pytorch-grad-cam divides by (range + 1e-7) twice, before and after
    # resizing, which comes to exact scaling; one epsilon would shrink maps of small range.
    lo, span = up.min(), up.max() - up.min()
    return (up - lo) / span if span > 0 else torch.zeros_like(up)


def _guided_grad_cam(ctx: Context) -> torch.Tensor:
    # Captum's default upsampling here is "nearest"; Selvaraju et al. upsample bilinearly, as
    # our Grad-CAM does, so the two maps differ only by the guided backprop factor.
    attr = GuidedGradCam(ctx.model, ctx.layer).attribute(
        ctx.inputs, target=ctx.target, interpolate_mode="bilinear"
    )
    if attr.numel() == 0:  # Captum returns an empty tensor when it cannot upsample
        raise MethodError("Guided Grad-CAM could not upsample this layer's map to the image.")
    return attr[0].sum(0)


def _guided_backprop(ctx: Context) -> torch.Tensor:
    return GuidedBackprop(ctx.model).attribute(ctx.inputs, target=ctx.target)[0].sum(0)


def _one(height: int, width: int, options: Options) -> int:
    return 1


register(
    Method(
        name="gradcam",
        label="Grad-CAM",
        summary="Channel importance (mean gradient) times the layer's activations: where in the "
        "chosen layer's map the evidence for the class sits. Coarse, class-specific.",
        sign="positive",
        run=_grad_cam,
        evaluations=_one,
        uses_layer=True,
        own_target=True,
        outlier_perc=0.0,  # already min–max scaled, as pytorch-grad-cam shows it
    )
)
register(
    Method(
        name="guided_gradcam",
        label="Guided Grad-CAM",
        summary="Guided Backprop times the upsampled Grad-CAM map: fine detail, restricted to "
        "the Grad-CAM region.",
        sign="absolute_value",
        run=_guided_grad_cam,
        evaluations=_one,
        uses_layer=True,
        hooks_modules=True,
    )
)
register(
    Method(
        name="guided_backprop",
        label="Guided Backprop",
        summary="Input gradient with negative gradients stopped at every ReLU: sharp edges, but "
        "known to depend little on the class or the weights (Adebayo et al. 2018).",
        sign="absolute_value",
        run=_guided_backprop,
        evaluations=_one,
        hooks_modules=True,
    )
)
