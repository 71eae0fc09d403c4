"""Occlusion (Zeiler & Fergus 2014): slide a grey (mean-colour) square over the image and
record how much the class score drops. Model-agnostic and easy to read, but it costs one forward
pass per window position, and the map is only as sharp as the window."""

from __future__ import annotations

import math

import torch
from captum.attr import Occlusion

from .base import Context, Method, Options, register


def _occlusion(ctx: Context) -> torch.Tensor:
    x = ctx.inputs
    window, stride = ctx.options.occlusion_geometry(*x.shape[2:])
    attr = Occlusion(ctx.forward).attribute(
        x,
        sliding_window_shapes=(x.shape[1], window, window),
        strides=(x.shape[1], stride, stride),
        baselines=0.0,  # zero in normalised space: the training set's mean colour
        target=ctx.target,
        perturbations_per_eval=ctx.options.batch_size,
    )
    return attr[0].sum(0)


def _windows(height: int, width: int, options: Options) -> int:
    window, stride = options.occlusion_geometry(height, width)
    # Captum's count: ceil((side - window) / stride) + 1 positions per axis, plus the clean pass.
    per_axis = [math.ceil((side - window) / stride) + 1 for side in (height, width)]
    return per_axis[0] * per_axis[1] + 1


register(
    Method(
        name="occlusion",
        label="Occlusion",
        summary="How much the class score drops when a grey square hides each region (positive "
        "= the region supported the class).",
        sign="positive",
        run=_occlusion,
        evaluations=_windows,
        outlier_perc=0.0,  # windows make flat plateaus; clipping the top 2% would flatten them
        slow=True,
    )
)
