"""Loss landscapes in a real browser: draw a finished cohort's surfaces side by side, then find
them again after the server restarts (they are kept in the run store)."""

from __future__ import annotations

import pytest

from resnet_viz import keys
from resnet_viz.config import TrainConfig
from resnet_viz.store import RunStore
from resnet_viz.train.launcher import record_run
from resnet_viz.train.trainer import Trainer

from ..conftest import wait_for
from .conftest import charts, shot, wait_idle

pytestmark = pytest.mark.browser

TINY = {"data.train_size": 256, "data.val_size": 128, "batch_size": 64, "epochs": 1}


def test_draw_a_cohorts_landscapes_and_find_them_after_a_restart(page, server):
    store = RunStore(server.runs_dir)
    cfg = TrainConfig().with_overrides(
        {**TINY, "name": "twins", "cohort": "plain8", "snapshots": 3}
    )
    run_id = record_run(store, cfg)
    Trainer(cfg, store, run_id).run()

    page.goto(f"{server.url}/landscape?run={run_id}")
    wait_idle(page)
    page.get_by_text("Not computed yet for resnet8, plain8").wait_for()
    page.get_by_role("button", name="Compute the landscape").click()
    page.get_by_text("What this run shows").wait_for(timeout=120_000)
    wait_idle(page)
    drawn = wait_for(lambda: charts(page), what="the charts")
    assert any(c["title"].startswith("Loss along each direction") for c in drawn)
    # The contour maps side by side, titled by member; so are the training paths' maps.
    maps = [c for c in drawn if {"resnet8", "plain8"} <= {x["text"] for x in c["labels"]}]
    assert len(maps) == 2, drawn
    # The residual net and its plain twin are compared in words, whichever way it went.
    verdict = page.get_by_test_id("stAlert").filter(has_text="local minim")
    verdict.wait_for()
    # The path training took, on each member's PCA plane, its axes saying how much they hold.
    page.get_by_role("heading", name="The path training took").wait_for()
    page.get_by_text("share of the path's movement").wait_for()
    assert page.locator(".xtitle, .x2title", has_text="PC 1 · ").count() == 2  # a map per member
    shot(page, "landscape-drawn")
    assert sorted(store.analyses(run_id, keys.LANDSCAPE)) == [0, 1]

    server.stop()
    server.start()
    page.goto(f"{server.url}/landscape?run={run_id}")
    wait_idle(page)
    page.get_by_text("What this run shows").wait_for()
    assert page.get_by_role("button", name="Compute the landscape").count() == 0
    shot(page, "landscape-after-restart")


def test_a_coarse_map_comes_first_and_cancel_keeps_what_was_finished(page, server):
    store = RunStore(server.runs_dir)
    cohort = "plain8;resnet8;plain8"  # three members: time to press Cancel between them
    cfg = TrainConfig().with_overrides({**TINY, "name": "trio", "cohort": cohort})
    run_id = record_run(store, cfg)
    Trainer(cfg, store, run_id).run()

    page.goto(f"{server.url}/landscape?run={run_id}")
    wait_idle(page)
    page.get_by_role("button", name="Compute the landscape").click()
    page.get_by_text("A first 3×3 grid for").wait_for(timeout=60_000)  # 11×11, coarse first
    shot(page, "landscape-coarse")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Cancelled the landscape").wait_for(timeout=30_000)
    wait_idle(page)
    kept = store.analyses(run_id, keys.LANDSCAPE)
    assert len(kept) < 3, "every member finished before Cancel: make the work longer"
    assert page.get_by_role("button", name="Compute the landscape").count() == 1
    shot(page, "landscape-cancelled")
