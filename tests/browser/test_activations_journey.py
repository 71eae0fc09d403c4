"""Activations in a real browser: upload a picture, choose a block, see its residual anatomy."""

from __future__ import annotations

import shutil

import pytest

from ..conftest import wait_for
from .conftest import ROOT, shot, upload_picture, wait_idle

pytestmark = pytest.mark.browser


def test_upload_choose_a_block_and_see_its_residual_anatomy(page, server, tmp_path):
    picture = tmp_path / "my flower.jpg"
    shutil.copy(ROOT / "assets" / "samples" / "flower.jpg", picture)

    page.goto(f"{server.url}/activations")
    wait_idle(page)
    nav = page.get_by_test_id("stSidebarNav")
    wait_for(lambda: "Activations" in nav.inner_text(), what="app.py's navigation")
    wait_idle(page)
    # The bundled model and its first sample are shown straight away.
    page.get_by_text("as the model sees it").first.wait_for()
    page.get_by_text("Channel to see over the image").first.wait_for()

    # Upload a picture of our own.
    upload_picture(page, picture)
    page.get_by_text("my flower.jpg, as the model sees it (32×32)").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    shot(page, "activations-feature-maps")

    # Choose a downsampling block from the layer list (network order).
    layer = page.get_by_test_id("stSelectbox").filter(has_text="Layer or residual block")
    layer.click()
    page.keyboard.type("layer2.0 — stage 2")
    page.get_by_role("option", name="layer2.0 — stage 2 · block 1 output").click()
    wait_idle(page)
    page.get_by_role("tab", name="Residual anatomy").click()
    wait_idle(page)

    page.get_by_text("‖F(x)‖ / ‖x‖").first.wait_for()
    page.get_by_text("option A: x subsampled by 2").first.wait_for()
    anatomy = page.locator(".js-plotly-plot").filter(has_text="layer2.0: ‖F(x)‖/‖x‖ =")
    anatomy.wait_for()
    for title in ("input x (mean of channels)", "F(x)", "shortcut(x)", "output = ReLU(sum)"):
        assert anatomy.get_by_text(title, exact=True).count() == 1, title
    ratio = page.get_by_test_id("stMetric").filter(has_text="‖F(x)‖ / ‖x‖")
    value = float(ratio.get_by_test_id("stMetricValue").inner_text())
    assert 0 < value < 10
    assert f"{value:.3f}" in anatomy.inner_text()  # the panel title states the same ratio
    page.get_by_text("Left to right: the block's input").scroll_into_view_if_needed()
    shot(page, "activations-anatomy")
