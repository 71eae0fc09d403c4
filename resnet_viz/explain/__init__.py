"""Explain: which pixels made the network say that, and how far to trust the answer.

``attribute(model, image, method, target, layer)`` computes one map with Captum;
:mod:`.quality` scores maps against ground-truth masks (pointing game, mask energy);
:mod:`.sanity` runs the model-parameter randomisation test of Adebayo et al. (2018);
:class:`Job` (:func:`make_job`) names one map to compute and is its cache key.

Every method returns an H×W float32 map (colour channels summed, as Captum's visualiser does)
on the CPU; Grad-CAM's is already ReLU'd, upsampled and min–max scaled like pytorch-grad-cam's.
Read a map with its method's ``sign`` (:func:`method_info`) through :func:`to_unit` for display.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..errors import InputError
from ..locks import model_lock
from . import deeplift, gradcam, gradients, occlusion  # noqa: F401  (register the methods)
from .base import (
    REGISTRY,
    SIGNS,
    CancelCheck,
    Cancelled,
    Context,
    Method,
    MethodError,
    Options,
    Progress,
    Tracker,
    eval_mode,
    frozen_parameters,
    get_method,
    hook_count,
    private_copy,
)
from .display import EMPTY, empty_hint, empty_reason, scale_note, signed, to_unit
from .jobs import Job, make_job
from .layers import default_layer, grad_cam_layers, layer_label, resolve_layer

__all__ = [
    "EMPTY",
    "METHODS",
    "SIGNS",
    "Cancelled",
    "Job",
    "Method",
    "MethodError",
    "Options",
    "attribute",
    "default_layer",
    "empty_hint",
    "empty_reason",
    "grad_cam_layers",
    "hook_count",
    "layer_label",
    "make_job",
    "method_info",
    "scale_note",
    "signed",
    "to_unit",
]

# In the order the page offers them: layer methods, then input gradients, then perturbation.
METHODS: tuple[str, ...] = (
    "gradcam",
    "guided_gradcam",
    "guided_backprop",
    "saliency",
    "smoothgrad",
    "integrated_gradients",
    "gradient_shap",
    "deeplift",
    "occlusion",
)
assert set(METHODS) == set(REGISTRY), "every registered method is offered, and only those"

# Captum announces every hook it sets and every input it makes require grad; routine here.
for _message in (r"Setting (forward, )?backward hooks", r"Input Tensor \d+ did not already"):
    warnings.filterwarnings("ignore", message=_message, module="captum")


def method_info(name: str) -> Method:
    """Label, one-line summary, sign, cost and flags of a method."""
    return get_method(name)


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def attribute(
    model: nn.Module,
    image: torch.Tensor,
    method: str,
    target: int | None = None,
    layer: str | None = None,
    *,
    options: Options | None = None,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
) -> torch.Tensor:
    """Attribution map of ``method`` (one of :data:`METHODS`) for a 1×3×H×W normalised image.

    ``target``: class index (default: the model's top-1 class). ``layer``: module path for the
    layer methods (default: the last stage; :func:`grad_cam_layers` lists the choices).
    ``progress(fraction)`` is called as work is done; ``cancel()`` is asked before every forward
    pass and, when it returns True, the call raises :class:`Cancelled` with the model unchanged.
    Raises :class:`MethodError` when the method cannot run on this model/layer/target.
    """
    spec = get_method(method)
    options = options or Options()
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise InputError(f"Expected one RGB image as a 1×3×H×W tensor, got {tuple(image.shape)}.")
    if target is not None and target < 0:
        raise MethodError(f"Class index must be ≥ 0, got {target}.")
    height, width = image.shape[2:]
    # Gradients are needed even when the caller runs under no_grad or inference_mode.
    with (
        torch.inference_mode(False),
        torch.enable_grad(),
        model_lock(model),
        eval_mode(model),
        frozen_parameters(model),
    ):
        # A private leaf tensor: Captum sets requires_grad on what it gets.
        x = image.detach().to(_device(model), torch.float32).clone()
        work = private_copy(model) if spec.hooks_modules else model
        layer_name = (layer or default_layer(work)) if spec.uses_layer else None
        layer_module = resolve_layer(work, layer_name) if spec.uses_layer else None
        tracker = Tracker(work, spec.evaluations(height, width, options), progress, cancel)
        tracker.check()
        if target is None and not spec.own_target:
            with torch.no_grad():
                target = int(work(x).argmax(dim=1))
        ctx = Context(work, tracker, x, target, layer_module, layer_name, options)
        try:
            attr = spec.run(ctx)
        except IndexError as err:
            if target is None:
                raise
            raise MethodError(
                f"Class {target} does not exist in this model's output ({err})."
            ) from None
    if progress is not None:
        progress(1.0)
    return attr.detach().to(torch.float32).cpu()
