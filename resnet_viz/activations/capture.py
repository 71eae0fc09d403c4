"""Forward hooks that are always released, and a capture that keeps only what will be shown.

Hooks live only inside :func:`forward_hooks`: they are removed on the way out, also when the
forward pass raises, so a model shared between pages and browser sessions never keeps one.

:func:`capture` runs one forward pass and keeps, per requested module, a :class:`Capture`:
per-channel statistics and a histogram computed on the full output inside the hook, and the
feature maps themselves only for the ``top_k`` strongest channels and at most ``max_side`` pixels
a side. The full tensors are dropped as soon as the hook returns, so asking for a few large layers
of ResNet-50 at 224×224 costs kilobytes to megabytes, not the whole network's activations. With
``stop_early`` the forward pass ends at the last requested module: choosing ``layer1.0`` does not
pay for ``layer4``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..locks import model_lock

Hook = Callable[[nn.Module, tuple[Any, ...], Any], None]
HIST_BINS = 60


@contextmanager
def forward_hooks(model: nn.Module, hooks: Mapping[str, Hook]) -> Iterator[None]:
    """Register ``hooks[name]`` as a forward hook on ``model.get_submodule(name)`` for the
    duration of the ``with`` block; every hook is removed on exit, whatever happens inside.

    The hooks act only on forward passes run by the thread that registered them: the model may be
    shared (one cached model serves every browser session, each in its own thread), and another
    session's forward pass must neither feed our capture nor be stopped by it.
    """
    modules = {name: submodule(model, name) for name in hooks}  # fail before registering any
    owner = threading.get_ident()

    def only_ours(hook: Hook) -> Hook:
        def guarded(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if threading.get_ident() == owner:
                hook(module, inputs, output)

        return guarded

    handles = []
    # Guarding our own hooks is not enough: other code (Captum's Grad-CAM) hooks shared models
    # too, and our forward pass must not run through its hooks; hence the model's lock.
    with model_lock(model):
        try:
            for name, hook in hooks.items():
                handles.append(modules[name].register_forward_hook(only_ours(hook)))
            yield
        finally:
            for handle in handles:
                handle.remove()


def submodule(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise InputError(f"This model has no layer called {name!r}.") from None


def require_eval(model: nn.Module) -> None:
    """Inspection runs models in eval mode only: in train mode every forward pass would update
    BatchNorm's running statistics, i.e. change the (possibly shared) model."""
    if model.training:
        raise ValueError("Inspect models in eval mode: call .eval() on a private copy first.")


@dataclass(frozen=True)
class Reduce:
    """What a capture keeps of each module's output.

    ``top_k``: keep the maps of the k channels with the largest mean activation (None: all).
    ``channels``: keep the maps of exactly these channels instead (a page of "all channels").
    ``max_side``: average-pool maps larger than this many pixels a side (None: full size).
    ``inputs``: also keep the module's full input (residual anatomy needs x itself).
    """

    top_k: int | None = None
    channels: tuple[int, ...] | None = None
    max_side: int | None = None
    inputs: bool = False


FULL = Reduce()  # keep every channel at full size


@dataclass(frozen=True)
class Capture:
    """What was kept of one module's output for a batch of N images (all float32, CPU).

    ``maps`` is N×k×h×w for the kept ``channels`` (indices into the C channels of the full output,
    strongest first when ``top_k`` chose them); the statistics are N×C over all channels and all
    pixels of the full output, and ``hist_counts``/``hist_edges`` a histogram of every value.
    """

    name: str
    shape: tuple[int, ...]
    maps: torch.Tensor
    channels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    min: torch.Tensor
    max: torch.Tensor
    active: torch.Tensor  # fraction of values > 0 per channel
    hist_counts: torch.Tensor  # N×bins
    hist_edges: torch.Tensor  # N×(bins+1)
    input: torch.Tensor | None = None

    @property
    def num_channels(self) -> int:
        return self.shape[1]


def summarize(name: str, out: torch.Tensor, reduce: Reduce, inp: Any = None) -> Capture:
    """Reduce one full output tensor (N×C×H×W, or N×C) to a :class:`Capture`."""
    out = out.detach().float()
    if out.dim() == 2:
        out = out[:, :, None, None]
    if out.dim() != 4:
        raise InputError(f"{name} does not output feature maps (shape {tuple(out.shape)}).")
    n = out.shape[0]
    flat = out.flatten(2)
    mean = flat.mean(2)
    channels, maps = _select(name, out, mean, reduce)
    lo, hi = flat.amin(2), flat.amax(2)
    counts, edges = [], []
    for i in range(n):
        a, b = float(lo[i].min()), float(hi[i].max())
        if b <= a:  # a constant layer (e.g. all zero after a dead ReLU): one visible bin
            a, b = a - 0.5, a + 0.5
        counts.append(torch.histc(flat[i], HIST_BINS, a, b))
        edges.append(torch.linspace(a, b, HIST_BINS + 1))
    keep_input = reduce.inputs and isinstance(inp, torch.Tensor)
    if maps.data_ptr() == out.data_ptr():  # the module's own output: later in-place ops
        maps = maps.clone()  # in the network must not reach what we keep
    return Capture(
        name=name,
        shape=tuple(out.shape),
        maps=maps.cpu(),
        channels=channels.cpu(),
        mean=mean.cpu(),
        std=flat.std(2, correction=0).cpu(),
        min=lo.cpu(),
        max=hi.cpu(),
        active=(flat > 0).float().mean(2).cpu(),
        hist_counts=torch.stack(counts).cpu(),
        hist_edges=torch.stack(edges).cpu(),
        input=inp.detach().float().clone().cpu() if keep_input else None,
    )


def _select(
    name: str, out: torch.Tensor, mean: torch.Tensor, reduce: Reduce
) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept channel indices, their maps) of a full N×C×H×W output with channel means N×C."""
    c = out.shape[1]
    if reduce.channels is not None:
        bad = [i for i in reduce.channels if not 0 <= i < c]
        if bad or not reduce.channels:
            raise InputError(f"{name} has channels 0…{c - 1}; cannot show {bad or 'none'}.")
        channels = torch.tensor(reduce.channels, dtype=torch.long, device=out.device)
        maps = out.index_select(1, channels)
    elif reduce.top_k is not None and reduce.top_k < c:
        channels = mean.mean(0).topk(max(1, reduce.top_k)).indices
        maps = out.index_select(1, channels)
    else:
        channels, maps = torch.arange(c, device=out.device), out
    h, w = maps.shape[2:]
    side = reduce.max_side
    if side is not None and max(h, w) > side:
        scale = side / max(h, w)
        maps = F.adaptive_avg_pool2d(maps, (max(1, round(h * scale)), max(1, round(w * scale))))
    return channels, maps


def reduce_capture(cap: Capture, reduce: Reduce) -> Capture:
    """Keep fewer channels / smaller maps of a capture that holds every channel at full size
    (one capture can then serve both the residual anatomy and the feature-map grid)."""
    if cap.maps.shape[1:] != cap.shape[1:]:
        raise ValueError(f"{cap.name}: this capture is already reduced.")
    channels, maps = _select(cap.name, cap.maps, cap.mean, reduce)
    return replace(cap, maps=maps, channels=channels, input=cap.input if reduce.inputs else None)


class _Enough(Exception):
    """Raised by the last hook of an early-stopping capture to end the forward pass there."""


def capture(
    model: nn.Module,
    x: torch.Tensor,
    names: Sequence[str],
    *,
    reduce: Reduce = FULL,
    stop_early: bool = True,
) -> dict[str, Capture]:
    """Run ``model(x)`` without gradients and return a :class:`Capture` for each of ``names``.

    A module called more than once in one pass keeps its first call. With ``stop_early`` the pass
    ends right after the last requested module has run (the logits are not needed then).
    """
    require_eval(model)
    names = list(dict.fromkeys(names))
    captured: dict[str, Capture] = {}

    def hook_for(name: str) -> Hook:
        def hook(_module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if name in captured:
                return
            captured[name] = summarize(name, output, reduce, inputs[0] if inputs else None)
            if stop_early and len(captured) == len(names):
                raise _Enough

        return hook

    hooks = {n: hook_for(n) for n in names}
    with forward_hooks(model, hooks), torch.no_grad(), suppress(_Enough):
        model(x)
    missing = [n for n in names if n not in captured]
    if missing:
        raise InputError(
            f"{', '.join(missing)} did not run for this input (for example a shortcut whose skip "
            "is switched off), so there is nothing to show."
        )
    return captured
