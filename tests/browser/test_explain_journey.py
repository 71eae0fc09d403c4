"""Explain in a real browser: upload a picture, pick two methods, see both overlays; start the
sanity check and cancel it while it runs."""

from __future__ import annotations

import shutil

import pytest

from ..conftest import wait_for
from .conftest import ROOT, shot, upload_picture, wait_idle

pytestmark = pytest.mark.browser


def overlay_titles(page) -> list[str]:
    """Bold titles above the overlays, in page order."""
    return [
        t.strip()
        for t in page.locator("[data-testid=stMarkdownContainer] p strong").all_inner_texts()
    ]


def choose(page, multiselect, label: str) -> None:
    multiselect.locator("input").click()
    page.keyboard.type(label)
    page.get_by_role("option", name=label, exact=True).click()
    page.keyboard.press("Escape")
    wait_idle(page)


def test_upload_pick_two_methods_see_both_overlays_and_cancel_a_check(page, server, tmp_path):
    picture = tmp_path / "my temple.jpg"
    shutil.copy(ROOT / "assets" / "samples" / "temple.jpg", picture)

    page.goto(f"{server.url}/explain")
    wait_idle(page)
    nav = page.get_by_test_id("stSidebarNav")
    wait_for(lambda: "Explain" in nav.inner_text(), what="app.py's navigation")
    wait_idle(page)
    page.get_by_text("as the model sees it").first.wait_for()

    upload_picture(page, picture)
    page.get_by_text("my temple.jpg, as the model sees it (32×32)").wait_for()

    # Two methods instead of the defaults: Integrated Gradients and Occlusion.
    methods = page.get_by_test_id("stMultiSelect").filter(has_text="Methods").first
    for tag in ("Grad-CAM", "Saliency"):
        methods.get_by_role("button", name=f"Remove {tag}").click()
        wait_idle(page)
    choose(page, methods, "Integrated Gradients")
    choose(page, methods, "Occlusion")
    main = page.get_by_test_id("stMain")
    wait_for(
        lambda: main.get_by_role("button", name="PNG").count() == 2,
        what="two overlays with their download buttons",
    )
    titles = overlay_titles(page)
    assert titles[:2] == ["Integrated Gradients", "Occlusion"], titles
    images = main.get_by_test_id("stImage")
    assert images.count() == 4  # the picture, two overlays and the colour bar under them
    for i in (1, 2):
        box = images.nth(i).locator("img").bounding_box()
        assert box and box["width"] > 150 and box["height"] > 150
    bar = images.nth(3).locator("img").bounding_box()
    assert bar and bar["width"] > 5 * bar["height"]  # a scale, not another map
    main.get_by_text("Colour scale: left = 0").wait_for()
    assert main.get_by_test_id("stAlert").filter(has_text="map is empty").count() == 0
    page.get_by_text("Pick Shapes pictures").first.wait_for()  # an upload has no true shape
    images.nth(2).scroll_into_view_if_needed()
    shot(page, "explain-two-methods")

    # Start the sanity check with a slow method included, and cancel it while it runs.
    checks = page.get_by_test_id("stMultiSelect").filter(has_text="Methods to test").first
    choose(page, checks, "Integrated Gradients")
    page.get_by_role("button", name="Run the sanity check").click()
    cancel = page.get_by_role("button", name="Cancel")
    cancel.wait_for()
    page.get_by_text("%").first.wait_for()  # progress is reported
    cancel.click()
    page.get_by_text("Sanity check cancelled.").wait_for(timeout=15_000)
    wait_idle(page)
    assert main.get_by_text("Cascading randomisation").count() == 0
    shot(page, "explain-sanity-cancelled")
