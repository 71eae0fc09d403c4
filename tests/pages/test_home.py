"""Home page (the router's default page)."""

from __future__ import annotations


def test_home_renders_title_and_links_to_train_and_runs(open_page):
    at = open_page()  # the router's default page

    assert not at.exception
    assert [t.value for t in at.title] == ["ResNet Viz"]
    links = {link.proto.page: link.proto.label for link in at.get("page_link")}
    assert set(links) == {"train", "runs", "skiplab", "activations", "explain", "landscape"}
    assert "Train" in links["train"]
    assert "Runs" in links["runs"]
    assert "Skip Lab" in links["skiplab"]
    # Each link targets a page that the router registered (st.page_link checks the file exists,
    # the hash ties it to the st.navigation entry).
    hashes = {link.proto.page_script_hash for link in at.get("page_link")}
    assert all(hashes) and len(hashes) == 6


def test_home_links_lead_to_working_pages(open_page):
    at = open_page()
    pages = [
        ("pages/train.py", "Train"),
        ("pages/runs.py", "Runs"),
        ("pages/skiplab.py", "Skip Lab"),
        ("pages/activations.py", "Activations"),
        ("pages/explain.py", "Explain"),
        ("pages/landscape.py", "Loss landscape"),
    ]
    for page, title in pages:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert [t.value for t in at.title] == [title]
