"""Classroom mode (RESNET_VIZ_CLASSROOM=1): the session that opened the presenter link may do
everything; every other session watches, with Start, Stop, live controls, Delete and heavy
computations disabled and a one-line reason; the presenter can let everyone train, one run
each."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from resnet_viz import classroom
from resnet_viz.config import TrainConfig
from resnet_viz.train import launcher
from resnet_viz.train.launcher import record_run

from ..conftest import shown
from .conftest import APP, TIMEOUT

TOKEN = "s3cret-token"
TRAIN, RUNS, LAB = "pages/train.py", "pages/runs.py", "pages/skiplab.py"


@pytest.fixture(autouse=True)
def _classroom(monkeypatch):
    monkeypatch.setenv(classroom.CLASSROOM_ENV, "1")
    monkeypatch.setenv(classroom.TOKEN_ENV, TOKEN)


@pytest.fixture
def session():
    """``session(token=None)``: a fresh browser session on the home page, opened with the
    presenter link when ``token`` is given; ``.go(page, **params)`` moves it to a page."""

    def _open(token: str | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        if token is not None:
            at.query_params[classroom.TOKEN_PARAM] = token
        at.run()
        assert not at.exception, at.exception
        return at

    return _open


def go(at: AppTest, page: str, **params) -> AppTest:
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def locks(at: AppTest) -> list[str]:
    return [shown(c.value) for c in at.caption if ":material/lock:" in c.value]


def start_button(at: AppTest):
    (button,) = [b for b in at.button if b.label == "Start training"]
    return button


def test_the_presenter_link_makes_a_presenter_and_leaves_the_url(session):
    at = session(TOKEN)
    assert classroom.TOKEN_PARAM not in at.query_params  # off the projector
    assert any("you are the presenter" in c.value for c in at.sidebar.caption)
    at = go(at, TRAIN)
    assert not start_button(at).disabled and locks(at) == []


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_anyone_else_is_a_viewer_who_cannot_start(session, token):
    at = session(token)
    assert classroom.TOKEN_PARAM not in at.query_params
    assert any("you are watching" in c.value for c in at.sidebar.caption)
    at = go(at, TRAIN)
    assert start_button(at).disabled
    assert locks(at) == [f":material/lock: {classroom.VIEWER_START}"]


def test_a_viewer_watches_a_live_run_but_cannot_stop_or_steer_it(session, store):
    run_id = record_run(store, TrainConfig().with_overrides({"name": "pair", "cohort": "plain8"}))
    store.mark_started(run_id, device="cpu", total_steps=100)
    viewer = go(session(), LAB, run=run_id)
    (stop,) = [b for b in viewer.button if b.label == "Stop"]
    assert stop.disabled
    assert not [b for b in viewer.button if b.label == "Switch skips"]
    assert f":material/lock: {classroom.VIEWER_STEER}" in locks(viewer)
    assert any(m.label == "Status" and m.value == "running" for m in viewer.metric)

    presenter = go(session(TOKEN), LAB, run=run_id)
    (stop,) = [b for b in presenter.button if b.label == "Stop"]
    assert not stop.disabled
    assert [b for b in presenter.button if b.label == "Switch skips"]
    stop.click().run()
    assert [c.kind for c in store.controls(run_id)] == ["stop"]


def test_a_viewer_cannot_delete_runs(session, train_run):
    train_run("keep me")
    viewer = go(session(), RUNS)
    assert len(viewer.dataframe) == 1
    viewer.session_state["runs.table"] = {"selection": {"rows": [0], "columns": []}}
    viewer.run()
    (delete,) = [b for b in viewer.button if b.label.startswith("Delete")]
    assert delete.disabled
    assert f":material/lock: {classroom.VIEWER_DELETE}" in locks(viewer)
    assert not [b for b in viewer.button if b.key == "runs.delete"]


def test_a_viewer_cannot_start_a_landscape_computation(session, train_run):
    train_run("done")
    viewer = go(session(), "pages/landscape.py")
    (compute,) = [b for b in viewer.button if b.label == "Compute the landscape"]
    assert compute.disabled
    assert f":material/lock: {classroom.VIEWER_COMPUTE}" in locks(viewer)


def test_everyone_may_train_once_the_presenter_allows_it_one_run_each(session, store, monkeypatch):
    # Record the run as launch would, without starting a worker process.
    monkeypatch.setattr(
        launcher,
        "launch",
        lambda s, cfg, *, data_root=None, owner=None: record_run(s, cfg, owner=owner),
    )
    presenter = session(TOKEN)
    presenter.sidebar.toggle(key="role.everyone_trains").set_value(True).run()
    assert classroom.everyone_trains(store)

    viewer = go(session(), TRAIN)
    assert not start_button(viewer).disabled
    start_button(viewer).click().run()
    assert not viewer.exception
    (run,) = store.list_runs()
    assert run.owner and run.status == "queued"
    viewer = go(viewer, TRAIN)  # a fresh page: the one-run limit now applies
    assert start_button(viewer).disabled
    (line,) = locks(viewer)
    assert "You already have a run queued" in line and "1 at a time" in line

    # Their own run they may cancel; the presenter's runs they may not touch.
    viewer = go(viewer, TRAIN, run=run.id)
    (cancel,) = [b for b in viewer.button if b.label == "Cancel"]
    assert not cancel.disabled
    cancel.click().run()
    assert store.get_run(run.id).status == "stopped"
    theirs = record_run(store, TrainConfig().with_overrides({"name": "teacher's"}))
    viewer = go(session(), TRAIN, run=theirs)
    (cancel,) = [b for b in viewer.button if b.label == "Cancel"]
    assert cancel.disabled

    presenter.sidebar.toggle(key="role.everyone_trains").set_value(False).run()
    viewer = go(viewer, TRAIN)
    assert start_button(viewer).disabled


def test_outside_a_classroom_nothing_changes(session, monkeypatch):
    monkeypatch.delenv(classroom.CLASSROOM_ENV)
    at = go(session(), TRAIN)
    assert not start_button(at).disabled and locks(at) == []
    assert not any("Classroom" in c.value for c in at.sidebar.caption)
