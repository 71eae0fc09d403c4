"""The Skip Lab in a real browser, at each moment a class watches: the first draw, live changes
to either member marked on the charts, a reload and a second tab mid-run, and the finished
view with its verdict (which must account for those changes) and its lesion study."""

from __future__ import annotations

import re
import time

import pytest

from resnet_viz.store import RunStore

from ..conftest import wait_for
from .conftest import assert_reads_right, drawn, shot, wait_idle

pytestmark = pytest.mark.browser

# Worker latency: the control row is written when the click reaches the app; the worker polls
# between steps and records the change as an event. Then the page's 1 s poll draws the marker.
WORKER_S = 2.0
MEMBERS = ("resnet8", "resnet8 #2")
CHART_S = 2.0


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    option_ = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):  # a live view's rerun can close the list just opened: open it again
        box.click()
        try:
            option_.click(timeout=5_000)
            break
        except Exception:
            shot(page, "skiplab-choose-retry")
    else:
        raise AssertionError(f"could not choose {option!r} in {label!r}")
    wait_idle(page)


def run_charts(page) -> list[dict]:
    """The charts of the run itself: loss, accuracy, lr and each member's gradient heatmap
    (titled by the member's name), not the lesion or shattering ones."""
    return drawn(page, ("Loss (", "Accuracy (", "Learning rate &", *MEMBERS), 5)


def worker_state(store: RunStore, run_id: str) -> str:
    """Where the worker is, for a failure's report: status, step and its newest events."""
    run = store.get_run(run_id)
    ago = time.time() - (run.heartbeat or 0)
    tail = [f"{e.step} {e.kind}: {e.message}" for e in store.events(run_id)[-4:]]
    return f"{run.status} at step {run.step}/{run.total_steps}, heartbeat {ago:.1f} s ago; {tail}"


def fill(page, label: str, value: str, submit: str = "Enter") -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press(submit)
    wait_idle(page)


def test_pull_the_skips_change_both_members_live_and_see_what_the_verdict_makes_of_it(page, server):
    store = RunStore(server.runs_dir)
    # A deep link as the very first request: the page's URL matches its file name, which is how
    # Streamlit's legacy pages/ discovery serves a fresh server's first request.
    page.goto(f"{server.url}/skiplab")
    nav = page.get_by_test_id("stSidebarNav")
    wait_for(lambda: "Activations" in nav.inner_text(), timeout=30, what="app.py's navigation")
    wait_idle(page)
    page.get_by_text("Degradation: deeper plain nets train worse").first.wait_for()
    shot(page, "skiplab-open")
    choose(page, "Experiment", "Pull the skips mid-training")
    page.get_by_text("Pull the skips mid-training ·").first.wait_for()  # its setup has arrived
    fill(page, "Training images", "1024")
    fill(page, "Epochs", "12")
    page.get_by_text("12 ep × 64").first.wait_for()
    fill(page, "Members (member 0 first)", "resnet8; resnet8", submit="Control+Enter")
    page.get_by_text("resnet8 vs resnet8").first.wait_for()
    page.get_by_text("Takes about").first.wait_for()  # the estimate before Start
    shot(page, "skiplab-setup")

    page.get_by_role("button", name="Start experiment").click()
    page.get_by_role("button", name="Switch skips").wait_for(timeout=60_000)
    run_id = wait_for(lambda: re.search(r"run=([\w-]+)", page.url), what="run id").group(1)
    assert store.get_run(run_id).config.data.train_size == 1024

    # The first draw: every run chart already reads right (no step -100, no accuracy -50 %).
    first = run_charts(page)
    for chart in first:
        assert_reads_right(chart)
    shot(page, "skiplab-first-draw")

    # A live change to member 0, the twin, before the planned pull (at 35 %): BatchNorm frozen.
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
    assert frozen.step < 0.35 * store.get_run(run_id).total_steps, "too late: lengthen the run"
    one = page.locator(".annotation-text", has_text="BN frozen · resnet8")
    wait_for(lambda: one.count() > 0, timeout=10, every=0.1, what="the member's marker")
    # And one to member 1 only: its skips of stage 2 go.
    choose(page, "Apply to", "resnet8 #2")
    choose(page, "Skip connections of", "stage 2")
    run = store.get_run(run_id)
    assert run.step < 0.65 * run.total_steps, f"too late (step {run.step}): lengthen the run"
    page.get_by_role("button", name="Switch skips").click()
    control = wait_for(lambda: store.controls(run_id)[1:], what="the control row")[0]
    try:
        event = wait_for(
            lambda: next((e for e in store.events(run_id) if e.payload.get(
                "control_id") == control.id), None),
            timeout=10,
            what="the worker's event of the skip control",
        )  # fmt: skip
    finally:
        print(worker_state(store, run_id))
    assert event.kind == "skip", event.message
    marker = page.locator(".annotation-text", has_text="stage2 ×0 · resnet8 #2")
    wait_for(lambda: marker.count() > 0, timeout=10, every=0.05, what="the marker on the charts")
    seen = time.time()
    control = store.controls(run_id)[1]  # now with the step it was applied at
    worker_s, chart_s = event.t - control.t, seen - event.t
    print(f"click→worker event {worker_s:.2f} s, event→marker {chart_s:.2f} s (step {event.step})")
    assert control.payload == {"value": 0.0, "stage": 2, "block": None, "member": 1}
    assert event.member == 1 and event.step == control.applied_step
    assert worker_s <= WORKER_S
    assert chart_s <= CHART_S
    # Loss and accuracy write the label out; each member's heatmap has a tick whose hover holds it.
    wait_for(lambda: marker.count() >= 2, timeout=5, what="the marker on loss and accuracy")
    ticks = page.locator(".annotation-text", has_text="▾")
    wait_for(lambda: ticks.count() >= 1, timeout=5, what="the marker's tick on the heatmaps")

    page.mouse.move(800, 500)
    page.mouse.wheel(0, 800)  # down to the charts (plotly redraws detach their elements)
    time.sleep(0.5)
    shot(page, "skiplab-live")

    # Mid-run, a reload keeps the live view with its controls: the run is in the URL.
    assert store.get_run(run_id).active, "the run ended before the reload: lengthen it"
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="Switch skips").wait_for()
    assert run_id in page.url
    # A second tab opened on the bare page offers the live cohort, and opens it with controls.
    other = page.context.new_page()
    other.goto(f"{server.url}/skiplab")
    other.get_by_text("is training now").first.wait_for()
    other.get_by_role("button", name="Open it").click()
    other.get_by_role("button", name="Switch skips").wait_for()
    assert re.search(rf"run={run_id}", other.evaluate("location.href"))
    other.close()

    wait_for(lambda: not store.get_run(run_id).active, timeout=180, what="the end of the run")
    assert store.get_run(run_id).status == "finished"
    lesion = page.get_by_role("heading", name="Lesion study")
    try:  # the live view notices the end within a second and redraws the whole page
        lesion.wait_for(timeout=30_000)
    finally:
        shot(page, "skiplab-finished")
    finished = run_charts(page)
    for chart in finished:
        assert_reads_right(chart)
    # The twin's BatchNorm changed before the planned pull: the verdict cannot compare them, and
    # says so, naming the change, instead of claiming a result.
    verdict = page.get_by_test_id("stAlert").filter(has_text="No verdict.")
    verdict.wait_for()
    text = verdict.inner_text()
    assert "Cannot judge" in text and "resnet8" in text and "frozen" in text, text
    summary = store.get_run(run_id).summary["verdict"]
    assert summary["reproduced"] is None

    # The same finished view in presentation mode, as a projector shows it; a reload keeps it.
    page.get_by_text("Presentation mode").click()
    wait_idle(page)
    wait_for(lambda: "present=1" in page.evaluate("location.href"), what="?present=1 in the URL")
    page.reload()
    wait_idle(page)
    switch = page.get_by_test_id("stSidebar").get_by_role("switch", name="Presentation mode")
    assert switch.is_checked()
    lesion.scroll_into_view_if_needed()
    shot(page, "skiplab-finished-presenting")
