"""Where inspected models come from: the bundled default, a run's checkpoint, torchvision's
ImageNet weights; and which runs offer a checkpoint or a plain twin."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import load_checkpoint
from ..errors import CheckpointError, DataError
from ..models import TORCHVISION_ARCHS, build_model
from ..store import RunRecord, RunStore
from .loaded import LoadedModel, from_checkpoint, imagenet, imagenet_weights

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_MODEL = ASSETS / "default_model.safetensors"


def load_default() -> LoadedModel:
    model, meta = load_checkpoint(DEFAULT_MODEL)
    return from_checkpoint(model, meta, f"Bundled default: {meta['model']['arch']} on Shapes")


def load_run(store: RunStore, run_id: str, member: int = 0) -> LoadedModel:
    """The checkpoint of member ``member`` of run ``run_id``."""
    run = store.get_run(run_id)
    if run is None:
        raise CheckpointError(f"There is no run {run_id}.")
    path = store.checkpoint_path(run_id, member)
    if not path.exists():
        raise CheckpointError(
            f"Run {run.name} ({run_id}, {run.status}) has no checkpoint yet: a run saves one "
            "when it finishes or is stopped (a diverged model is not saved)."
        )
    model, meta = load_checkpoint(path)
    return from_checkpoint(model, meta, f"Run {run.name} · {meta.get('member') or run_id}")


def load_torchvision(arch: str) -> LoadedModel:
    """torchvision's ImageNet weights for ``arch``; a CheckpointError says how to get them."""
    if arch not in TORCHVISION_ARCHS:
        raise CheckpointError(f"No ImageNet weights for {arch}; choose one of {TORCHVISION_ARCHS}.")
    try:
        model = build_model(arch, 1000, pretrained=True)
    except DataError as err:
        raise CheckpointError(str(err)) from None
    return imagenet(model, arch, f"torchvision {arch}, ImageNet weights ({imagenet_weights(arch)})")


def run_checkpoints(store: RunStore) -> list[tuple[str, str, int]]:
    """``(label, run id, member index)`` for every run member that has a checkpoint, newest run
    first; the label names the run, the member (in a cohort), its status and id."""
    out = []
    for run in store.list_runs():
        for i, member in enumerate(run.members):
            if store.has_checkpoint(run.id, i):
                who = f" · {member}" if len(run.members) > 1 else ""
                out.append((f"{run.name}{who} · {run.status} · {run.id}", run.id, i))
    return out


def is_plain_twin(run: RunRecord, arch: str, dataset: str | None) -> bool:
    """Whether ``run`` trained the plain twin (every skip 0) of ``arch`` on ``dataset``: the
    same layers and parameters, trained without shortcuts, and finished."""
    model = run.config.model
    return (
        run.status == "finished"
        and dataset is not None
        and model.arch == arch
        and run.config.data.dataset == dataset
        and model.plain
    )


def plain_twins(store: RunStore, arch: str, dataset: str | None) -> list[RunRecord]:
    """Finished plain-twin runs of ``arch`` on ``dataset`` whose model is saved, newest first."""
    return [
        r
        for r in store.list_runs()
        if is_plain_twin(r, arch, dataset) and store.has_checkpoint(r.id)
    ]
