"""Classroom mode in a real browser: a viewer's tab cannot start, stop or delete; the tab that
opened the presenter link can, and the token leaves its address bar at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_viz.store import RunStore

from .conftest import Server, shot, wait_idle

pytestmark = pytest.mark.browser

TOKEN = "presenter-secret"
TINY = "data.train_size=256&data.val_size=128&batch_size=64&epochs=40&name=class%20demo"


@pytest.fixture
def classroom(tmp_path: Path):
    runs, data = tmp_path / "class-runs", tmp_path / "class-data"
    runs.mkdir()
    data.mkdir()
    env = {"RESNET_VIZ_CLASSROOM": "1", "RESNET_VIZ_PRESENTER_TOKEN": TOKEN}
    srv = Server(runs, data, env=env)
    srv.start()
    yield srv
    srv.stop()


def _tab(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def test_a_viewer_cannot_take_over_and_the_presenter_can(_playwright, classroom):
    store = RunStore(classroom.runs_dir)
    presenter_ctx, presenter = _tab(_playwright)
    viewer_ctx, viewer = _tab(_playwright)
    try:
        presenter.goto(f"{classroom.url}/train?{TINY}&token={TOKEN}")
        wait_idle(presenter)
        presenter.get_by_text("you are the presenter").wait_for()
        assert "token" not in presenter.url  # not on the projector, not in a copied link
        assert "data.train_size=256" in presenter.url  # the setup stays

        viewer.goto(f"{classroom.url}/train?{TINY}")
        wait_idle(viewer)
        viewer.get_by_text("you are watching").wait_for()
        assert viewer.get_by_role("button", name="Start training").is_disabled()
        viewer.get_by_text("Only the presenter starts runs in this classroom").wait_for()
        shot(viewer, "classroom-viewer-train")

        presenter.get_by_role("button", name="Start training").click()
        presenter.wait_for_function("() => location.search.includes('run=')")
        run_id = presenter.evaluate("new URLSearchParams(location.search).get('run')")
        presenter.get_by_text("step", exact=False).first.wait_for()

        viewer.goto(f"{classroom.url}/train?run={run_id}")
        wait_idle(viewer)
        stop = viewer.get_by_role("button", name="Stop")
        stop.wait_for()
        assert stop.is_disabled()
        viewer.get_by_text("Only the presenter, or whoever started this run").wait_for()
        shot(viewer, "classroom-viewer-live-run")

        presenter.get_by_role("button", name="Stop").click()
        presenter.get_by_text("Stopped.", exact=False).first.wait_for(timeout=60_000)
        assert store.get_run(run_id).status == "stopped"

        viewer.goto(f"{classroom.url}/runs")
        wait_idle(viewer)
        grid = viewer.get_by_test_id("stDataFrame")
        grid.wait_for()
        box = grid.bounding_box()
        viewer.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's selection box
        wait_idle(viewer)
        delete = viewer.get_by_role("button", name="Delete 1 selected")
        delete.wait_for()
        assert delete.is_disabled()
        viewer.get_by_text("Only the presenter can delete runs").wait_for()
        shot(viewer, "classroom-viewer-runs")
        assert store.get_run(run_id) is not None
    finally:
        presenter_ctx.close()
        viewer_ctx.close()
