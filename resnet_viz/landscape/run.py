"""Landscapes of a finished run's members, kept in the run store.

For each chosen member: its checkpoint, the first ``images`` training images of the run's own
dataset (normalised as the trainer did), two filter-normalised directions drawn from one seed,
so members whose parameters have the same shapes (a ResNet and its plain twin) are cut along
the same random directions, and the loss on a ``steps × steps`` grid over ``[-span, span]²``.
The grid's middle row and column are the 1D slices along each direction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from .. import keys
from ..checkpoints import load_checkpoint
from ..data import load_dataset
from ..errors import InputError
from ..store import RunStore
from .directions import filter_normalized_direction
from .hessian import sharpness
from .surface import grid, linear_path, loss_surface

PATH_POINTS = 31  # along the linear path from the initial weights, α from −0.25 to 1.25
MAX_STEPS = 101  # 10,201 points: beyond that a laptop would be at it for hours


@dataclass(frozen=True)
class Settings:
    """What a surface was computed with; stored beside it, so a page can tell a stale one."""

    steps: int = 21  # grid points per axis
    span: float = 1.0  # the grid covers [-span, span] along each direction
    images: int = 256  # training images evaluated at each point
    seed: int = 0  # of the two directions

    def __post_init__(self) -> None:
        if self.steps < 3 or self.steps % 2 == 0 or self.steps > MAX_STEPS:
            raise InputError(
                f"A grid of {self.steps} points per axis: use an odd number from 3 to "
                f"{MAX_STEPS}, so the trained weights sit at its centre."
            )
        if self.images < 1 or not self.span > 0:
            raise InputError("Evaluate at least 1 image, over a span above 0.")


def member_indices(store: RunStore, run_id: str, names: Sequence[str] = ()) -> list[int]:
    """The members called ``names`` (all, when none are given), or InputError naming them."""
    run = store.get_run(run_id)
    if run is None:
        raise InputError(f"No run {run_id!r} in {store.root}.")
    all_names = run.config.member_names()
    if not names:
        return list(range(len(all_names)))
    missing = [n for n in names if n not in all_names]
    if missing:
        raise InputError(f"{run_id} has no member {', '.join(missing)}; it has {all_names}.")
    return [all_names.index(n) for n in names]


def record_landscapes(
    store: RunStore,
    run_id: str,
    members: Sequence[int],
    settings: Settings = Settings(),
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, dict]:
    """Compute and store (``keys.LANDSCAPE``) the surface of each of ``members``; returns the
    payloads by member. ``progress(done, total)`` counts grid points over all members."""
    run, paths = _checkpoints(store, run_id, members)
    x, y = _training_images(store, run, settings.images)
    n = len(y)
    axis, coords = grid(settings.steps, settings.span)
    out: dict[int, dict] = {}
    for k, m in enumerate(members):
        model, _ = load_checkpoint(paths[m])
        gen = torch.Generator().manual_seed(settings.seed)
        dirs = [filter_normalized_direction(model, generator=gen) for _ in range(2)]

        def tick(done: int, total: int, k=k) -> None:
            if progress is not None:
                progress(k * total + done, len(members) * total)

        losses = loss_surface(model, x, y, dirs, coords, progress=tick)
        surface = losses.view(settings.steps, settings.steps)
        middle = settings.steps // 2
        payload = {
            **asdict(settings),
            "images": n,
            "axis": axis.tolist(),
            "loss": surface.tolist(),  # [i][j]: i along direction 1, j along direction 2
            "slice_1": surface[:, middle].tolist(),
            "slice_2": surface[middle, :].tolist(),
        }
        start = store.initial_checkpoint_path(run_id, m)
        if start.exists():  # runs from before the trainer kept initial weights have none
            initial, _ = load_checkpoint(start)
            alphas = torch.linspace(-0.25, 1.25, PATH_POINTS)
            path = linear_path(model, initial, x, y, alphas)
            payload["path"] = {"alpha": alphas.tolist(), "loss": path.tolist()}
        store.put_analysis(run_id, m, keys.LANDSCAPE, payload)
        out[m] = payload
    return out


def record_sharpness(
    store: RunStore,
    run_id: str,
    members: Sequence[int],
    *,
    images: int = 256,
    steps: int = 20,
    samples: int = 10,
    seed: int = 0,
) -> dict[int, dict]:
    """Measure and store (``keys.SHARPNESS``) each member's Hessian spectrum ends and trace at
    its trained weights, on the run's first ``images`` training images. Each member costs
    ``steps + samples`` Hessian-vector products (about 0.8 s each for ResNet-8 on 256 images
    at 32 px on a 2-core CPU)."""
    run, paths = _checkpoints(store, run_id, members)
    x, y = _training_images(store, run, images)
    out: dict[int, dict] = {}
    for m in members:
        model, _ = load_checkpoint(paths[m])
        s = sharpness(
            model, x, y, steps=steps, samples=samples,
            generator=torch.Generator().manual_seed(seed),
        )  # fmt: skip
        payload = {
            "max_eigenvalue": s.max_eigenvalue,
            "min_eigenvalue": s.min_eigenvalue,
            "ratio": s.ratio,
            "trace": s.trace,
            "images": len(y),
            "steps": steps,
            "samples": samples,
        }
        store.put_analysis(run_id, m, keys.SHARPNESS, payload)
        out[m] = payload
    return out


def _checkpoints(store: RunStore, run_id: str, members: Sequence[int]):
    """The run and its members' checkpoint paths, or InputError naming what is missing."""
    run = store.get_run(run_id)
    if run is None:
        raise InputError(f"No run {run_id!r} in {store.root}.")
    paths = {m: store.checkpoint_path(run_id, m) for m in members}
    if missing := [m for m, p in paths.items() if not p.exists()]:
        names = run.config.member_names()
        raise InputError(
            f"{run.name} has no checkpoint for {', '.join(names[m] for m in missing)}: it "
            "stopped before saving one, or was deleted. Train it again, or pick another run."
        )
    return run, paths


def _training_images(store: RunStore, run, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's first ``count`` training images, normalised as the trainer did."""
    cache = store.root / ".cache"  # the trainer's: Shapes is drawn once per store
    data = load_dataset(run.config.data, seed=run.config.seed, cache_dir=cache)
    n = min(count, len(data.train))
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    return (data.train.images[:n].float() / 255 - mean) / std, data.train.labels[:n]
