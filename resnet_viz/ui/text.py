"""User-supplied text, shown as text.

Streamlit renders Markdown (and its own ``:red[…]`` / ``:material/…:`` directives) in nearly
every string it is given — markdown, captions, alerts, toasts, labels, image captions — and
plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<br>``) in titles, legends, ticks and
hover text. A run name, an uploaded file's name, a checkpoint's class names or a mistyped link
value pasted into either would become a live link or an image fetched by every viewer's
browser. Every such string passes through one of these two functions where it is shown.
"""

from __future__ import annotations

import html
import re
import string

# CommonMark lets a backslash escape any ASCII punctuation, so escaping all of it is always safe
# and also disarms Streamlit's directives (``:red[x]``, ``:material/x:``) and LaTeX (``$``).
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_BREAKS = re.compile(r"[\r\n\t\v\f]+")  # a line break could start a heading or a list
# GitHub-flavoured Markdown turns bare URLs and e-mail addresses into links even when every
# character is escaped: an invisible word joiner (U+2060) after "://", "www" and "@" stops it.
_AUTOLINK = re.compile(r"(://|\bwww(?=\.)|@)", re.IGNORECASE)
JOINER = "\u2060"


def md(text: object) -> str:
    """``text`` escaped so that Streamlit's Markdown shows it character for character, as text:
    no link, image, heading, list, directive or formula."""
    unlinked = _AUTOLINK.sub(lambda m: m.group(1) + JOINER, _BREAKS.sub(" ", str(text)))
    return _PUNCTUATION.sub(r"\\\1", unlinked)


def plain(text: object) -> str:
    """``text`` escaped for plotly's titles, legends, ticks and hover text (its HTML subset)."""
    return html.escape(_BREAKS.sub(" ", str(text)), quote=False)
