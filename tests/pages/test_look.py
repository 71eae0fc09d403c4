"""Presentation mode: the sidebar switch on every page, kept in the URL, and charts restyled."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from resnet_viz.figures.style import PRESENT_FONT
from resnet_viz.ui.look import KEY

from .conftest import APP, TIMEOUT


def test_presentation_mode_is_off_by_default_and_restyles_charts_when_on(open_page, charts):
    at = open_page("pages/train.py")
    assert at.toggle(key=KEY).value is False
    assert charts(at)["train.schedule"]["layout"].get("font", {}).get("size") != PRESENT_FONT
    assert "present" not in at.query_params

    at.toggle(key=KEY).set_value(True).run()
    assert not at.exception, at.exception
    layout = charts(at)["train.schedule"]["layout"]
    assert layout["font"]["size"] == PRESENT_FONT
    assert at.query_params["present"] == "1"  # a reload or a copied link keeps it
    assert any("font-size: 21px" in el.proto.body for el in at.get("html"))

    at.switch_page("pages/runs.py").run()  # it stays on from page to page
    assert at.toggle(key=KEY).value is True

    at.toggle(key=KEY).set_value(False).run()
    assert "present" not in at.query_params and not at.get("html")


def test_a_link_with_present_opens_in_presentation_mode(charts):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["present"] = "1"  # a fresh session opening the shared link
    at.run()
    at.switch_page("pages/train.py").run()
    assert at.toggle(key=KEY).value is True
    assert charts(at)["train.schedule"]["layout"]["font"]["size"] == PRESENT_FONT
