"""User text shown as text: a hostile run name is neither a Markdown image or link, nor a
Streamlit directive, nor plotly HTML."""

from __future__ import annotations

import pytest

from resnet_viz.ui.text import JOINER, md, plain

HOSTILE = "![x](http://host/pixel.png) [Click to re-login](http://host/phish) :red[big] $x$"


def test_markdown_specials_are_escaped_so_each_character_shows():
    out = md(HOSTILE)
    assert "](" not in out.replace("\\](", "").replace("\\(", "")
    assert out.startswith(r"\!\[x\]\(http\:\/\/" + JOINER + r"host\/pixel\.png\)")
    assert r"\:red\[big\]" in out and r"\$x\$" in out


@pytest.mark.parametrize("text", ["# heading", "line\n- item", "a\r\n## b", "tab\there"])
def test_line_breaks_cannot_start_a_heading_or_a_list(text):
    out = md(text)
    assert "\n" not in out and "\r" not in out and "\t" not in out


def test_plain_words_are_unchanged():
    assert md("resnet20 run 3") == "resnet20 run 3"
    assert plain("resnet20 · 12:00") == "resnet20 · 12:00"


def test_plotly_html_is_escaped():
    assert plain('<a href="http://host/phish">login</a><br>') == (
        '&lt;a href="http://host/phish"&gt;login&lt;/a&gt;&lt;br&gt;'
    )


@pytest.mark.parametrize("text", ["see http://host/x", "www.host.org", "me@host.org", "HTTPS://h"])
def test_bare_urls_and_addresses_cannot_become_links(text):
    out = md(text)
    assert JOINER in out  # right after "://", "www" or "@": no domain follows, so no link
    assert out.replace(JOINER, "").replace("\\", "") == text  # only invisible joiners added
