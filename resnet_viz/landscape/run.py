"""Landscapes of a finished run's members, kept in the run store.

For each chosen member: its checkpoint, the first ``images`` training images of the run's own
dataset (normalised as the trainer did), two filter-normalised directions drawn from one seed,
so members whose parameters have the same shapes (a ResNet and its plain twin) are cut along
the same random directions, and the loss on a ``steps × steps`` grid over ``[-span, span]²``.
The grid's middle row and column are the 1D slices along each direction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

from .. import keys
from ..checkpoints import load_checkpoint
from ..data import load_dataset
from ..errors import InputError, ResourceError
from ..store import RunStore
from .directions import filter_normalized_direction
from .hessian import sharpness_record
from .surface import grid, linear_path, loss_surface
from .trajectory import MIN_SNAPSHOTS, pca_directions

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


def stored_landscapes(
    store: RunStore, run, members: Sequence[int], settings: Settings
) -> dict[int, dict]:
    """The members' surfaces already in the store, computed with these settings (a coarse
    grid is never stored, so each is complete)."""
    found = store.analyses(run.id, keys.LANDSCAPE)
    want = {"steps": settings.steps, "span": settings.span, "seed": settings.seed}
    return {
        m: p
        for m, p in found.items()
        if m in members
        and all(p.get(k) == v for k, v in want.items())
        and p.get("images") == min(settings.images, run.config.data.train_size or settings.images)
    }


@contextmanager
def enough_memory(what: str, remedy: str) -> Iterator[None]:
    """Out of memory on the GPU (torch.OutOfMemoryError) or the CPU (an allocator's
    RuntimeError) while doing ``what`` becomes a ResourceError that says ``remedy``."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as err:
        text = str(err).lower()
        if not isinstance(err, torch.OutOfMemoryError | MemoryError) and not (
            "out of memory" in text or "can't allocate" in text
        ):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise ResourceError(f"Out of memory {what}. {remedy}") from err


def refinement_strides(steps: int) -> list[int]:
    """The grid levels computed in turn, as strides through the full grid: first a coarse grid
    (about five points per axis, the trained point at its centre: a map within seconds), then
    every other point. A grid too small to thin keeps one level."""
    n = steps - 1
    strides = [d for d in range(2, n + 1) if n % d == 0 and (n // d) % 2 == 0]
    if not strides:
        return [1]
    fine_enough = [d for d in strides if n // d >= 4]
    return [max(fine_enough) if fine_enough else min(strides), 1]


@enough_memory(
    "evaluating the landscape", "Evaluate fewer images, or a smaller grid, and compute again."
)
def record_landscapes(
    store: RunStore,
    run_id: str,
    members: Sequence[int],
    settings: Settings = Settings(),
    *,
    progress: Callable[[int, int], None] | None = None,
    update: Callable[[dict[int, dict]], None] | None = None,
) -> dict[int, dict]:
    """Compute and store (``keys.LANDSCAPE``) the surface of each of ``members``; returns the
    payloads by member.

    Every member's coarse grid comes first (``update(payloads)`` is called with each, marked
    ``"coarse": True``), then each member's full grid, linear path and training trajectory; a
    member's record is stored as soon as it is complete. ``progress(done, total)`` counts
    forward passes of the image batch over all of it; it may raise to cancel (Streamlit stops a
    page's script at its next progress update), and members already stored stay stored."""
    run, paths = _checkpoints(store, run_id, members)
    x, y = _training_images(store, run, settings.images)
    axis, coords = grid(settings.steps, settings.span)
    strides = refinement_strides(settings.steps)
    loaded = {m: load_checkpoint(paths[m]) for m in members}
    nets = {m: model for m, (model, _) in loaded.items()}
    starts = {m: store.initial_checkpoint_path(run_id, m) for m in members}
    # runs from before the trainer kept initial weights (or snapshots) have no path (trajectory)
    has_path = {m: starts[m].exists() for m in members}
    snaps = {m: store.snapshots(run_id, m) if has_path[m] else [] for m in members}
    walked = {m: len(snaps[m]) >= MIN_SNAPSHOTS for m in members}
    points = settings.steps**2
    work = sum(points + PATH_POINTS * has_path[m] + points * walked[m] for m in members)
    done = 0

    def tick(base: int) -> Callable[[int, int], None]:
        def report(k: int, _total: int) -> None:
            if progress is not None:
                progress(base + k, work)

        return report

    dirs, grids, out = {}, {}, {}
    for m in members:  # the same seed per member: same-shaped twins share their directions
        gen = torch.Generator().manual_seed(settings.seed)
        dirs[m] = [filter_normalized_direction(nets[m], generator=gen) for _ in range(2)]
        grids[m] = torch.full((settings.steps, settings.steps), float("nan"))
    for stride in strides:
        mask = torch.zeros(settings.steps, settings.steps, dtype=torch.bool)
        mask[::stride, ::stride] = True
        for m in members:
            todo = mask & grids[m].isnan()
            losses = loss_surface(
                nets[m], x, y, dirs[m], coords[todo.flatten()], progress=tick(done)
            )
            grids[m][todo] = losses
            done += len(losses)
            if stride > 1:
                coarse = _surface_payload(settings, len(y), axis[::stride], grids[m][mask])
                out[m] = {**coarse, "coarse": True}
                if update is not None:
                    update(dict(out))
                continue
            payload = _surface_payload(settings, len(y), axis, grids[m])
            if has_path[m]:
                initial, _ = load_checkpoint(starts[m])
                alphas = torch.linspace(-0.25, 1.25, PATH_POINTS)
                path = linear_path(nets[m], initial, x, y, alphas)  # one report, at its end
                payload["path"] = {"alpha": alphas.tolist(), "loss": path.tolist()}
                done += PATH_POINTS
                tick(done)(0, work)
                if walked[m]:
                    weights = [initial] + [load_checkpoint(p)[0] for _, p in snaps[m]]
                    steps = [0] + [s for s, _ in snaps[m]] + [loaded[m][1].get("step", run.step)]
                    payload["trajectory"] = _trajectory(
                        nets[m], weights, steps, x, y, settings.steps, tick(done)
                    )
                    done += points
            store.put_analysis(run_id, m, keys.LANDSCAPE, payload)
            out[m] = payload
            if update is not None:
                update(dict(out))
    return out


def _surface_payload(settings: Settings, images: int, axis: torch.Tensor, surface: torch.Tensor):
    middle = len(axis) // 2
    side = len(axis)
    surface = surface.view(side, side)
    return {
        **asdict(settings),
        "images": images,
        "axis": axis.tolist(),
        "loss": surface.tolist(),  # [i][j]: i along direction 1, j along direction 2
        "slice_1": surface[:, middle].tolist(),
        "slice_2": surface[middle, :].tolist(),
    }


def _trajectory(final, snapshots, steps, x, y, side: int, progress) -> dict:
    """The path through ``snapshots`` and ``final`` on its PCA plane, over the loss there."""
    named = dict(final.named_parameters())
    path = pca_directions([dict(s.named_parameters()) for s in snapshots] + [named], named)
    xs, ys = path.points[:, 0], path.points[:, 1]
    # The path's extent, and a margin of a fifth of its longer side all round, so a path that
    # moved mostly along PC 1 is still drawn on a map, not on a sliver.
    margin = 0.2 * float(max(xs.max() - xs.min(), ys.max() - ys.min()))
    gx = torch.linspace(float(xs.min()) - margin, float(xs.max()) + margin, side)
    gy = torch.linspace(float(ys.min()) - margin, float(ys.max()) + margin, side)
    a, b = torch.meshgrid(gx, gy, indexing="ij")
    coords = torch.stack([a.flatten(), b.flatten()], dim=1)
    loss = loss_surface(final, x, y, list(path.directions), coords, progress=progress)
    return {
        "x": gx.tolist(),
        "y": gy.tolist(),
        "loss": loss.view(side, side).tolist(),  # [i][j]: i along PC 1, j along PC 2
        "points": path.points.tolist(),
        "steps": steps,
        "explained": list(path.explained),
    }


@enough_memory("measuring the sharpness", "Evaluate fewer images and measure again.")
def record_sharpness(
    store: RunStore,
    run_id: str,
    members: Sequence[int],
    *,
    images: int = 256,
    steps: int = 20,
    samples: int = 10,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, dict]:
    """Measure and store (``keys.SHARPNESS``) each member's Hessian spectrum ends and trace at
    its trained weights, on the run's first ``images`` training images. Each member costs
    ``steps + samples`` Hessian-vector products (about 0.8 s each for ResNet-8 on 256 images
    at 32 px on a 2-core CPU). ``progress(done, total)`` counts those products over all
    members; it may raise to cancel, and members already stored stay stored."""
    run, paths = _checkpoints(store, run_id, members)
    x, y = _training_images(store, run, images)
    out: dict[int, dict] = {}
    per_member = steps + samples
    for k, m in enumerate(members):
        model, _ = load_checkpoint(paths[m])

        def tick(done: int, _total: int, base: int = k * per_member) -> None:
            if progress is not None:
                progress(base + done, len(members) * per_member)

        payload = sharpness_record(
            model, x, y, steps=steps, samples=samples, seed=seed, progress=tick
        )
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
