"""Model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

Re-initialise the network's weights cumulatively from the classifier down (``fc``, then the
residual blocks from the last to the first, then the stem) and compare each method's map on the
damaged network with its map on the trained one by Spearman rank correlation. A map that explains
*the model* must change as the model is destroyed; a map that stays similar is explaining the
image (edges, contrast) more than the network. Adebayo et al. found Gradients and Grad-CAM change
(pass) while Guided Backprop and Guided Grad-CAM stay similar (fail).

Maps are compared as their methods read them (magnitudes for gradient methods, the positive part
for Grad-CAM), i.e. the paper's "absolute value" variant. The test runs on a private copy;
the model passed in is never touched.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from . import attribute, method_info
from .base import CancelCheck, Options, Progress
from .display import empty_reason, signed
from .layers import default_layer

# A method "passes" when its maps' mean rank correlation with the original over the cascade is
# below PASS_BELOW. Adebayo et al. give no number; 0.5 lies between their curves for
# Gradients/Grad-CAM (near 0 after a few layers) and Guided Backprop's (high until the lowest
# layers). Within BORDERLINE of it the verdict says so instead of pretending to be sharp.
PASS_BELOW = 0.5
BORDERLINE = 0.1
# The four methods whose outcome Adebayo et al. (2018, Fig. 2 and §4) state plainly.
PUBLISHED: Mapping[str, str] = MappingProxyType(
    {
        "gradcam": "passes",
        "saliency": "passes",
        "guided_backprop": "fails",
        "guided_gradcam": "fails",
    }
)


@dataclass(frozen=True)
class SanityResult:
    steps: tuple[str, ...]  # "original", then the cumulatively randomised units, top down
    # Per method, one per step: the Spearman correlation with the original map, averaged over
    # the images (1.0 at "original"); images whose original map was empty are left out.
    correlations: dict[str, tuple[float, ...]]
    empty: dict[str, tuple[int, ...]]  # per method and step: images whose map was empty
    images: int
    targets: tuple[int, ...]  # per image: the trained model's class that every map explains
    layer: str

    def mean_correlation(self, method: str) -> float:
        return float(np.mean(self.correlations[method][1:]))

    def passes(self, method: str) -> bool | None:
        """True: the maps change when the weights do. None: every original map was empty."""
        if self.empty[method][0] == self.images:
            return None
        return self.mean_correlation(method) < PASS_BELOW

    def verdict(self, method: str) -> str:
        """ "passes", "fails", "borderline" (within BORDERLINE of the threshold) or "empty"."""
        if self.passes(method) is None:
            return "empty"
        rho = self.mean_correlation(method)
        if abs(rho - PASS_BELOW) < BORDERLINE:
            return "borderline"
        return "passes" if rho < PASS_BELOW else "fails"


@dataclass(frozen=True)
class Comparison:
    """A sanity check's verdicts read against :data:`PUBLISHED`. Each method the paper states
    falls in exactly one group; the others have a verdict only."""

    verdicts: Mapping[str, str]  # per method, as SanityResult.verdict gives it
    agree: tuple[str, ...]  # the published verdict
    unclear: tuple[str, ...]  # borderline or empty here: nothing to hold against the paper
    opposite: tuple[str, ...]  # the other verdict than published


def compare_with_published(result: SanityResult, methods: Sequence[str]) -> Comparison:
    """How the check of ``methods`` in ``result`` stands against Adebayo et al."""
    verdicts = {m: result.verdict(m) for m in methods}
    stated = [m for m in methods if m in PUBLISHED]
    agree = tuple(m for m in stated if verdicts[m] == PUBLISHED[m])
    unclear = tuple(m for m in stated if verdicts[m] in ("borderline", "empty"))
    opposite = tuple(m for m in stated if m not in agree and m not in unclear)
    return Comparison(verdicts, agree, unclear, opposite)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties (Grad-CAM maps have many zeros);
    0 when either map is constant (no ordering to agree with)."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb / denom) if denom > 0 else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


def randomisation_steps(model: nn.Module) -> list[tuple[str, list[str]]]:
    """``(label, module paths)`` to re-initialise, top down: head, blocks last to first, stem."""
    stem: list[str] = []
    blocks: list[str] = []
    head: list[str] = []
    for name, child in model.named_children():
        if re.fullmatch(r"layer\d+", name) and isinstance(child, nn.Sequential):
            blocks += [f"{name}.{b}" for b, _ in child.named_children()]
        elif any(True for _ in child.parameters()):
            (head if blocks else stem).append(name)
    steps = [(name, [name]) for name in reversed(head)]
    steps += [(name, [name]) for name in reversed(blocks)]
    if stem:
        steps.append(("stem", stem))
    return steps


def _reinitialise(model: nn.Module, paths: Sequence[str]) -> None:
    for path in paths:
        for m in model.get_submodule(path).modules():
            if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False)):
                m.reset_parameters()  # torch's default init; BatchNorm also resets its statistics


def cascading_randomisation(
    model: nn.Module,
    images: torch.Tensor | Sequence[torch.Tensor],
    methods: Sequence[str],
    *,
    layer: str | None = None,
    options: Options | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
) -> SanityResult:
    """Run the cascade for ``methods`` on ``images`` (N×3×H×W normalised, or a sequence of
    1×3×H×W; one map per image). Each image's target is the trained model's top-1 class
    throughout, as in the paper."""
    if not isinstance(images, torch.Tensor):
        images = torch.cat(list(images))
    work = copy.deepcopy(model).eval()
    layer = layer or default_layer(work)
    with torch.no_grad():
        device = next(work.parameters()).device
        targets = [int(t) for t in work(images.to(device)).argmax(dim=1)]
    steps = randomisation_steps(work)
    calls = len(methods) * len(images) * (len(steps) + 1)
    done = 0

    def maps() -> dict[str, list[np.ndarray]]:
        nonlocal done
        out: dict[str, list[np.ndarray]] = {name: [] for name in methods}
        for i, target in enumerate(targets):
            for name in methods:

                def part(fraction: float, base: int = done) -> None:
                    if progress is not None:
                        progress(min(1.0, (base + fraction) / calls))

                attr = attribute(
                    work,
                    images[i : i + 1],
                    name,
                    target,
                    layer,
                    options=options,
                    progress=part,
                    cancel=cancel,
                )
                out[name].append(signed(attr, method_info(name).sign))
                done += 1
        return out

    def is_empty(m: np.ndarray) -> bool:
        return empty_reason(m, "absolute_value") is not None

    original = maps()
    usable = {n: [not is_empty(m) for m in original[n]] for n in methods}
    corr = {n: [1.0] for n in methods}
    empty = {n: [sum(not u for u in usable[n])] for n in methods}
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        for _, paths in steps:
            _reinitialise(work, paths)
            for name, ms in maps().items():
                # A map that vanished keeps no ordering of the pixels: correlation 0.
                rhos = [
                    0.0 if is_empty(m) else spearman(o, m)
                    for o, m, ok in zip(original[name], ms, usable[name], strict=True)
                    if ok
                ]
                corr[name].append(float(np.mean(rhos)) if rhos else float("nan"))
                empty[name].append(sum(is_empty(m) for m in ms))
    return SanityResult(
        steps=("original", *(label for label, _ in steps)),
        correlations={n: tuple(v) for n, v in corr.items()},
        empty={n: tuple(v) for n, v in empty.items()},
        images=len(targets),
        targets=tuple(targets),
        layer=layer,
    )
