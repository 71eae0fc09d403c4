"""What every attribution method shares: options, the method registry, and a run context that
leaves the model exactly as it found it.

A model handed to :func:`resnet_viz.explain.attribute` may be shared by other pages and browser
sessions, so nothing here changes it for longer than one call, and every change is undone by a
context manager even when a method fails or is cancelled:

* :func:`eval_mode` switches every module to eval mode and restores each module's own flag;
* :func:`frozen_parameters` turns ``requires_grad`` off (no attribution needs parameter
  gradients; Grad-CAM then only builds the graph from the chosen layer up) and back on;
* :func:`~resnet_viz.locks.model_lock` serialises attribution calls on one model across threads
  (and with every other forward pass of a shared model), so one call's ``requires_grad`` changes
  are never saved as "original" by another, and Grad-CAM's layer hook sees only its own pass;
* methods that put hooks or attributes on modules (DeepLift, Guided Backprop) run on
  :func:`private_copy`, so a concurrent forward pass elsewhere never goes through their hooks.
  Captum removes its own hooks in ``finally`` blocks; tests check that none are left.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ResNetVizError

Progress = Callable[[float], None]
CancelCheck = Callable[[], bool]

# How a map is read, in the names of Captum's visualiser (``VisualizeSign``).
SIGNS = ("positive", "absolute_value", "all")


class MethodError(ResNetVizError, RuntimeError):
    """A method cannot run on this model, layer or input; the message says why."""


class Cancelled(ResNetVizError):
    """The caller's ``cancel`` hook asked to stop; nothing was computed."""


@dataclass(frozen=True)
class Options:
    """Settings of the slower methods. The defaults follow the papers and Captum's tutorials,
    scaled so that ResNet-18 at 224×224 stays within seconds on a laptop CPU."""

    ig_steps: int = 32  # Integrated Gradients path steps (Sundararajan et al. 2017 use 20–300)
    # Images per forward/backward chunk of the IG path; None sizes it to the image: about eight
    # 224×224 images (~0.3 GB of activations for ResNet-18), all 32 steps at once for 32×32.
    internal_batch_size: int | None = None
    smoothgrad_samples: int = 25
    # SmoothGrad noise σ as a fraction of the input's value range: Smilkov et al. (2017, §4.1)
    # found 10–20% best. A fixed σ would mean different things for [0,1] and normalised inputs.
    smoothgrad_noise: float = 0.15
    occlusion_window: int | None = None  # None: 1/8 of the image side (at least 2 pixels)
    occlusion_stride: int | None = None  # None: half the window
    shap_samples: int = 20
    shap_baselines: int = 8  # random baselines drawn in the input's range, plus the mean image
    batch_size: int = 16  # perturbed images per forward pass (occlusion, SmoothGrad, SHAP)
    seed: int = 0  # noise and baselines are drawn from this seed: same request, same map

    def __post_init__(self) -> None:
        for name in ("ig_steps", "smoothgrad_samples", "shap_samples", "batch_size"):
            if getattr(self, name) < 1:
                raise MethodError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not 0.0 <= self.smoothgrad_noise <= 1.0:
            raise MethodError(
                f"SmoothGrad noise is a fraction of the input range (0–1), got "
                f"{self.smoothgrad_noise}."
            )

    def ig_batch(self, height: int, width: int) -> int:
        if self.internal_batch_size is not None:
            return max(1, min(self.internal_batch_size, self.ig_steps))
        return max(1, min(self.ig_steps, 8 * 224 * 224 // (height * width)))

    def occlusion_geometry(self, height: int, width: int) -> tuple[int, int]:
        side = min(height, width)
        window = self.occlusion_window or max(2, side // 8)
        window = min(window, side)
        stride = self.occlusion_stride or max(1, window // 2)
        return window, min(stride, window)


@dataclass
class Context:
    """What a method's ``run`` gets: the prepared model, a counting forward function (use it
    wherever Captum accepts a callable, so progress and cancel work), the input and target."""

    model: nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]
    inputs: torch.Tensor  # 1×3×H×W on the model's device
    target: int | None  # None only for methods with ``own_target`` (see Method)
    layer: nn.Module | None
    layer_name: str | None
    options: Options


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    summary: str  # one sentence a person can read next to the map
    sign: str  # how the map is read (one of SIGNS)
    run: Callable[[Context], torch.Tensor]  # → H×W float32 (channels summed, Captum's convention)
    evaluations: Callable[[int, int, Options], int]  # images through the model, for progress
    uses_layer: bool = False
    # Registers hooks or attributes on modules: run on a private copy of the model.
    hooks_modules: bool = False
    # Can take target=None itself (Grad-CAM: the top logit, without an extra forward pass).
    own_target: bool = False
    outlier_perc: float = 2.0  # display clipping (Captum's visualiser default)
    slow: bool = False  # worth a progress bar and a cancel button

    def __post_init__(self) -> None:
        if self.sign not in SIGNS:
            raise ValueError(f"sign must be one of {SIGNS}, got {self.sign!r}")


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    REGISTRY[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise MethodError(
            f"Unknown attribution method {name!r}; choose one of {', '.join(REGISTRY)}."
        ) from None


# ---- leaving the model as it was ---------------------------------------------------------------
@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside, each module's own training flag restored after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


@contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[nn.Module]:
    """``requires_grad`` off for every parameter inside, back on after for those that had it."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p in params:
            p.requires_grad_(True)


def private_copy(model: nn.Module) -> nn.Module:
    """A deep copy for hook-based methods, with in-place ReLUs made out-of-place (module
    backward hooks reject in-place outputs; torchvision's stock ResNets use ``inplace=True``)."""
    clone = copy.deepcopy(model)
    for m in clone.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return clone


def hook_count(model: nn.Module) -> int:
    """Hooks registered on any module of ``model`` (tests check it stays 0)."""
    return sum(
        len(m._forward_hooks)
        + len(m._forward_pre_hooks)
        + len(m._backward_hooks)
        + len(m._backward_pre_hooks)
        for m in model.modules()
    )


class Tracker:
    """The model's forward pass, counting images for ``progress`` and asking ``cancel`` before
    each pass. Captum calls it once per chunk (IG steps, occlusion windows, noise samples), so
    a cancel takes effect within one chunk."""

    def __init__(
        self,
        model: nn.Module,
        total: int,
        progress: Progress | None = None,
        cancel: CancelCheck | None = None,
    ) -> None:
        self.model, self.total = model, max(1, total)
        self.progress, self.cancel = progress, cancel
        self.done = 0

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("Cancelled.")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.check()
        out = self.model(x)
        self.advance(x.shape[0])
        return out

    def advance(self, images: int) -> None:
        self.done += images
        if self.progress is not None:
            self.progress(min(1.0, self.done / self.total))
