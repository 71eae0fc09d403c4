"""Hostile text in a real browser: a run name written as Markdown and HTML (an image that every
viewer's browser would fetch, a login link) is shown as the characters it is made of."""

from __future__ import annotations

import pytest

from resnet_viz.config import TrainConfig
from resnet_viz.store import RunStore
from resnet_viz.train.launcher import record_run
from resnet_viz.train.trainer import Trainer

from .conftest import shot, wait_idle

pytestmark = pytest.mark.browser

HOSTILE = "![x](http://127.0.0.1:9/pixel.png) [Click to re-login](http://127.0.0.1:9/phish) <b>"
TINY = {"data.train_size": 128, "data.val_size": 64, "batch_size": 64, "epochs": 1}


def assert_inert(page) -> None:
    assert page.locator('img[src*="127.0.0.1:9"]').count() == 0, "an image to fetch"
    links = page.locator('a[href*="127.0.0.1:9"]')
    assert links.count() == 0, links.first.evaluate("e => e.parentElement.outerHTML")
    seen = page.evaluate("document.body.innerText").replace("\u2060", "")  # the word joiners
    assert "![x](http://127.0.0.1:9/pixel.png) [Click to re-login]" in seen  # as text


def test_a_hostile_run_name_is_text_in_the_setup_line_and_the_run_view(page, server):
    page.goto(f"{server.url}/train?name={HOSTILE}")
    wait_idle(page)
    page.get_by_role("button", name="Start training").wait_for()
    assert_inert(page)

    store = RunStore(server.runs_dir)
    cfg = TrainConfig().with_overrides({**TINY, "name": HOSTILE})
    run_id = record_run(store, cfg)
    Trainer(cfg, store, run_id).run()
    page.goto(f"{server.url}/train?run={run_id}")
    wait_idle(page)
    page.get_by_text(run_id).first.wait_for()
    assert_inert(page)
    shot(page, "hostile-run-name")
