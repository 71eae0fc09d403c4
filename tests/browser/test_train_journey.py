"""The main journey in a real browser: start a run, watch it update, stop it, reload, find it."""

from __future__ import annotations

import re

import pytest

from ..conftest import wait_for
from .conftest import assert_reads_right, drawn, shot, wait_idle

pytestmark = pytest.mark.browser

# Long enough to still be running when we press Stop, small enough to start fast.
SETUP = "epochs=40&data.train_size=1024&data.val_size=256&batch_size=64&name=journey"


def progress_step(page) -> int:
    text = page.get_by_test_id("stProgress").first.inner_text()
    match = re.search(r"step ([\d,]+)/", text)
    return int(match.group(1).replace(",", "")) if match else -1


def test_start_watch_stop_reload_and_find_the_run(page, server):
    # First request to a fresh server is a deep link, as when a teacher shares one.
    page.goto(f"{server.url}/train?{SETUP}")
    wait_idle(page)
    # The first render may come from Streamlit's legacy pages/ mode; the page's routing guard
    # then reruns through app.py's st.navigation. Wait for that, don't sample mid-rerun.
    nav = page.get_by_test_id("stSidebarNav")
    wait_for(
        lambda: "Runs" in nav.inner_text() and "app" not in nav.inner_text().split(),
        timeout=20,
        what="app.py's navigation (Home/Train/Runs) instead of the legacy pages/ list",
    )
    wait_idle(page)
    # The URL set the setup: the summary line shows 40 epochs of 64.
    page.get_by_text("40 ep × 64").first.wait_for()

    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Gradient L2 norm per layer").first.wait_for(timeout=60_000)
    assert "run=" in page.url
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)
    # The first draw reads right: whole steps from the first one, accuracy within 0-100 %.
    titles = ("Loss", "Accuracy", "Learning rate &", "Gradient L2")
    for chart in drawn(page, titles, 5):  # loss, accuracy, lr, the heatmap, chosen layers
        assert_reads_right(chart)
    page.get_by_text("Charts show step").first.wait_for()  # the progress line may be ahead
    shot(page, "train-first-draw")

    # Charts keep moving: the step counter advances between polls without any click.
    first = progress_step(page)
    wait_for(lambda: progress_step(page) > first + 2, what="the live view to advance")
    shot(page, "train-live")

    # A second tab on the same URL shows the same run.
    other = page.context.new_page()
    other.goto(page.url)
    other.get_by_text(run_id).first.wait_for(timeout=30_000)
    other.close()

    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped from the app at step").first.wait_for(timeout=15_000)
    stopped_at = progress_step(page)
    assert stopped_at > 0
    shot(page, "train-stopped")

    # Reload: the run is re-attached from the store, still stopped at the same step.
    page.reload()
    wait_idle(page)
    page.get_by_text("Stopped from the app at step").first.wait_for()
    assert progress_step(page) == stopped_at

    # The Runs page lists it; selecting it opens its charts.
    page.goto(f"{server.url}/runs")
    wait_idle(page)
    grid = page.get_by_test_id("stDataFrame")
    cells = grid.locator("[role=gridcell]")  # glide-data-grid's hidden accessible table
    shot(page, "runs-list")
    wait_for(
        lambda: any(run_id in t for t in cells.all_inner_texts()),
        what=f"{run_id} in the table, which shows {cells.all_inner_texts()}",
    )
    assert "stopped" in cells.all_inner_texts()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's selection box
    page.get_by_text("Per-layer gradient magnitude").first.wait_for(timeout=30_000)
    shot(page, "runs-open")
