"""A run store that cannot be used is said in words on every page that needs it, never shown
as a traceback, and the pages that do not need it keep working."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from resnet_viz.config import TrainConfig

from ..conftest import shown
from .conftest import ROOT

PAGES = ("pages/train.py", "pages/runs.py", "pages/skiplab.py", "pages/landscape.py")


@pytest.fixture
def damaged(store):
    store.create_run(TrainConfig(name="kept"))
    data = bytearray(store.db_path.read_bytes())
    data[:100] = b"\xab" * 100
    store.db_path.write_bytes(bytes(data))
    for f in ("runs.db-wal", "runs.db-shm"):
        (store.root / f).unlink(missing_ok=True)
    return store


@pytest.mark.parametrize("page", PAGES)
def test_a_damaged_store_is_explained_on_every_page_that_needs_it(open_page, damaged, page):
    at = open_page(page)
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert shown(error).startswith("**The run store cannot be used.** The run store ")
    assert "is damaged and cannot be read" in shown(error) and ".damaged" in shown(error)
    assert any("Activations and Explain still work" in c.value for c in at.caption)


def test_activations_keep_working_on_the_bundled_model(open_page, damaged):
    at = open_page("pages/activations.py")
    assert not at.exception, at.exception
    assert not at.error
    at.sidebar.radio(key="act.source").set_value("A run").run()
    assert not at.exception
    assert any("is damaged and cannot be read" in shown(e.value) for e in at.error)


def test_an_emptied_store_is_noticed_not_taken_for_a_new_one(open_page, store):
    store.create_run(TrainConfig(name="kept"))
    store.db_path.write_bytes(b"")
    for f in ("runs.db-wal", "runs.db-shm"):
        (store.root / f).unlink(missing_ok=True)
    at = open_page("pages/runs.py")
    assert not at.exception
    assert any("is empty (0 bytes), but 1 runs' folders" in shown(e.value) for e in at.error)


def test_the_cli_says_so_without_a_traceback(damaged):
    cmd = [sys.executable, "-m", "resnet_viz.train", "--runs-dir", str(damaged.root)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: The run store ") and "Traceback" not in done.stderr
