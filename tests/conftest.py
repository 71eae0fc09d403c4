"""Shared fixtures: every test gets its own runs directory and data root."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # These machines have 2 cores shared with other work; torch's two OpenMP threads then spin
    # against each other and tiny forward passes get ~10x slower. One thread is faster here.
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency, but keep conftest light
        return
    torch.set_num_threads(1)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _isolated_dirs(monkeypatch: pytest.MonkeyPatch, runs_dir: Path, data_root: Path) -> None:
    """Nothing a test does lands in the checkout's ./runs or ./data."""
    monkeypatch.setenv("RESNET_VIZ_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("RESNET_VIZ_DATA_ROOT", str(data_root))
    # No warm spare workers unless a test asks: each would import torch in the background.
    monkeypatch.setenv("RESNET_VIZ_PREWARM", "0")


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test may reach the network or read the user's real torch hub cache; returns the
    test's own TORCH_HOME, where a test can place weights."""
    import torch

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    torch_home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home


def shown(markdown: str) -> str:
    """What a reader sees of Markdown the app escaped (resnet_viz.ui.text.md): the text with its
    backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")  # and its word joiners


def wait_for(predicate, timeout: float = 60.0, what: str = "condition", every: float = 0.25):
    """Poll ``predicate`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def fill_steps(store, run_id: str, n: int) -> None:
    """Log ``n`` steps of member 0 of ``run_id`` in one batch: ``train/loss`` = the step, and a
    two-layer ``grad_norm`` of ``(step, -step)``."""
    import numpy as np

    store.set_layers(run_id, 0, {"conv": ["a", "b"]})
    store.write_batch(
        run_id,
        step=n,
        scalars=[(0, "train/loss", s, float(s)) for s in range(1, n + 1)],
        layer_stats=[
            (0, "grad_norm", s, np.array([s, -s], dtype=np.float32)) for s in range(1, n + 1)
        ],
    )
