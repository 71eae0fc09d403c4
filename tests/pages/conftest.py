"""Fixtures for the AppTest page tests: an isolated run store and data root per test, a fresh
``st.cache_resource`` (it outlives AppTest instances within one process), a helper that opens a
page through the app's router, and tiny runs trained in-process (about a second each)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from resnet_viz.config import TrainConfig
from resnet_viz.store import RunStore
from resnet_viz.train.launcher import record_run
from resnet_viz.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
TIMEOUT = 60  # seconds per script run: the first one imports torch
# The smallest setup that trains for real: 4 steps of 64 Shapes images, 2 evaluations.
TINY = {"data.train_size": 256, "data.val_size": 128, "batch_size": 64, "epochs": 1}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    runs, data = tmp_path / "runs", tmp_path / "data"
    runs.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    monkeypatch.setenv("RESNET_VIZ_RUNS_DIR", str(runs))
    monkeypatch.setenv("RESNET_VIZ_DATA_ROOT", str(data))
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def _steady_state_router(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every script through app.py's st.navigation, as a running server does.

    With a pages/ folder beside app.py, Streamlit starts in its legacy multipage mode and leaves
    it for good once any session runs st.navigation. AppTest resets that class-level flag before
    every run, so each run would start in legacy mode: a page script runs without app.py, and
    ``resnet_viz.ui.route_through_app`` answers with an st.rerun() that drops the button click
    of that run (Start, Stop and Delete would never fire). Pin the steady state instead; the
    first-request case that route_through_app handles needs a real server (browser tests).
    """
    original = PagesManager.__init__

    def init(self, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    """The store the app opens (same directory as ``RESNET_VIZ_RUNS_DIR``)."""
    return RunStore(tmp_path / "runs")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    """``open_page("pages/train.py", query_params={...})``: a fresh session on that page, as a
    browser opening the page's URL would get it."""

    def _open(page: str | None = None, *, query_params: dict[str, Any] | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.run()
        assert not at.exception, at.exception
        if page is not None:
            at.switch_page(page)
            at.query_params.update(query_params or {})
            at.run()
        return at

    return _open


@pytest.fixture
def train_run(store: RunStore) -> Callable[..., str]:
    """``train_run("name", **overrides)``: record and train a tiny run in this process; returns
    its id once it has ended."""

    def _train(name: str = "tiny", **overrides: Any) -> str:
        cfg = TrainConfig().with_overrides({"name": name, **TINY, **overrides})
        run_id = record_run(store, cfg)
        Trainer(cfg, store, run_id).run()
        time.sleep(0.01)  # distinct creation times keep the Runs table order deterministic
        return run_id

    return _train


@pytest.fixture
def wait_ended(store: RunStore) -> Callable[..., Any]:
    """``wait_ended(run_id)``: poll the store until the run leaves queued/running; returns the
    final record (fails with the worker's log if it takes longer than ``timeout``)."""

    def _wait(run_id: str, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = store.get_run(run_id)
            if run is not None and not run.active:
                return run
            time.sleep(0.25)
        log = store.run_dir(run_id) / "worker.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no worker.log)"
        raise AssertionError(f"run {run_id} still active after {timeout} s; worker log:\n{tail}")

    return _wait


def _decode(obj: Any) -> Any:
    """Plotly's JSON packs numeric arrays as ``{"dtype", "bdata"(, "shape")}``; unpack to lists."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
            if "shape" in obj:
                arr = arr.reshape([int(n) for n in str(obj["shape"]).split(",")])
            return arr.tolist()
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def plotly_specs(at: AppTest) -> dict[str, dict]:
    """Plotly charts on the page by user key, as plain JSON (AppTest shows them as
    UnknownElement whose proto holds the figure JSON)."""
    return {
        el.key or el.proto.id: _decode(json.loads(el.proto.spec)) for el in at.get("plotly_chart")
    }


@pytest.fixture
def charts() -> Callable[[AppTest], dict[str, dict]]:
    return plotly_specs
