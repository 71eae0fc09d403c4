"""The Skip Lab in a real browser: start a cohort, switch a stage's skips off while it trains,
see the change marked on the charts, and the lesion study when it finishes."""

from __future__ import annotations

import re
import time

import pytest

from resnet_viz.store import RunStore

from ..conftest import wait_for
from .conftest import shot, wait_idle

pytestmark = pytest.mark.browser

# Worker latency: the control row is written when the click reaches the app; the worker polls
# between steps and records the change as an event. Then the page's 1 s poll draws the marker.
WORKER_S = 2.0
CHART_S = 2.0


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def fill(page, label: str, value: str, submit: str = "Enter") -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press(submit)
    wait_idle(page)


def test_start_a_cohort_flip_a_stage_and_see_the_marker(page, server):
    store = RunStore(server.runs_dir)
    # A deep link as the very first request: the page's URL matches its file name, which is how
    # Streamlit's legacy pages/ discovery serves a fresh server's first request.
    page.goto(f"{server.url}/skiplab")
    nav = page.get_by_test_id("stSidebarNav")
    wait_for(lambda: "Activations" in nav.inner_text(), timeout=30, what="app.py's navigation")
    wait_idle(page)
    page.get_by_text("Degradation: deeper plain nets train worse").first.wait_for()
    shot(page, "skiplab-open")
    choose(page, "Experiment", "Your own cohort")
    page.get_by_text("Your own cohort ·").first.wait_for()  # the setup it loads has arrived
    fill(page, "Training images", "1024")
    fill(page, "Epochs", "6")
    page.get_by_text("6 ep × 64").first.wait_for()
    fill(page, "Members (member 0 first)", "resnet8; plain8", submit="Control+Enter")
    page.get_by_text("resnet8 vs plain8").first.wait_for()
    shot(page, "skiplab-setup")

    page.get_by_role("button", name="Start experiment").click()
    page.get_by_role("button", name="Switch skips").wait_for(timeout=60_000)
    run_id = wait_for(lambda: re.search(r"run=([\w-]+)", page.url), what="run id").group(1)
    assert store.get_run(run_id).config.data.train_size == 1024
    wait_for(lambda: store.get_run(run_id).step >= 3, what="a few training steps")
    page.get_by_text("Per-layer gradient magnitude").first.wait_for(timeout=30_000)
    wait_for(lambda: page.locator(".js-plotly-plot").count() >= 4, what="loss, accuracy, heatmaps")

    choose(page, "Skip connections of", "stage 2")
    page.get_by_role("button", name="Switch skips").click()
    control = wait_for(lambda: store.controls(run_id), what="the control row")[0]
    event = wait_for(
        lambda: next((e for e in store.events(run_id) if e.kind == "skip"), None),
        timeout=10,
        what="the worker's skip event",
    )
    marker = page.locator(".annotation-text", has_text="stage2 ×0")
    wait_for(lambda: marker.count() > 0, timeout=10, every=0.05, what="the marker on the charts")
    seen = time.time()
    page.mouse.move(800, 500)
    page.mouse.wheel(0, 800)  # down to the charts (plotly redraws detach their elements)
    time.sleep(0.5)
    shot(page, "skiplab-live")
    (control,) = store.controls(run_id)  # now with the step it was applied at

    worker_s, chart_s = event.t - control.t, seen - event.t
    print(f"click→worker event {worker_s:.2f} s, event→marker {chart_s:.2f} s (step {event.step})")
    assert control.payload == {"value": 0.0, "stage": 2, "block": None, "member": None}
    assert event.payload["control_id"] == control.id and event.step == control.applied_step
    assert worker_s <= WORKER_S
    assert chart_s <= CHART_S
    # Every chart marks it: loss and accuracy with the label written out, each member's
    # gradient heatmap with a tick whose hover holds it (a label would cover the first rows).
    assert marker.count() >= 2
    assert page.locator(".annotation-text", has_text="▾").count() >= 2

    # A change to one member only: the event names it, and so does every chart's marker.
    page.mouse.wheel(0, -2000)
    choose(page, "Apply to", "resnet8")
    page.get_by_test_id("stButtonGroup").get_by_text("frozen running statistics").click()
    wait_idle(page)
    page.get_by_role("button", name="Set BatchNorm").click()
    frozen = wait_for(
        lambda: next((e for e in store.events(run_id) if e.kind == "bn"), None),
        timeout=10,
        what="the worker's BatchNorm event",
    )
    assert frozen.member == 0 and frozen.payload["value"] == "frozen"
    one = page.locator(".annotation-text", has_text="BN frozen · resnet8")
    wait_for(lambda: one.count() > 0, timeout=10, every=0.1, what="the member's marker")

    wait_for(lambda: not store.get_run(run_id).active, timeout=180, what="the end of the run")
    assert store.get_run(run_id).status == "finished"
    lesion = page.get_by_role("heading", name="Lesion study")
    try:  # the live view notices the end within a second and redraws the whole page
        lesion.wait_for(timeout=30_000)
        lesion.scroll_into_view_if_needed()
    finally:
        shot(page, "skiplab-finished")
    # The same finished view in presentation mode, as a projector shows it.
    page.get_by_text("Presentation mode").click()
    wait_idle(page)
    shot(page, "skiplab-finished-presenting")
