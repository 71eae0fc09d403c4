"""Real-browser fixtures: a real ``streamlit run`` server on a free port, and Playwright driving
Debian's Chromium (``playwright install`` cannot download browsers on these machines)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = Path(os.environ.get("RESNET_VIZ_SCREENSHOTS", ROOT / "test-results" / "screenshots"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, runs_dir: Path, data_root: Path, env: dict[str, str] | None = None) -> None:
        self.extra_env = env or {}  # e.g. classroom mode
        self.port = _free_port()
        self.url = f"http://localhost:{self.port}"
        self.runs_dir, self.data_root = runs_dir, data_root
        self.log = runs_dir.parent / f"streamlit-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(
            os.environ,
            RESNET_VIZ_RUNS_DIR=str(self.runs_dir),
            RESNET_VIZ_DATA_ROOT=str(self.data_root),
            RESNET_VIZ_PREWARM="1",  # the real app keeps a warm worker
            **self.extra_env,
        )
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--server.port",
            str(self.port),
            "--server.address",
            "localhost",
        ]
        with open(self.log, "ab") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not start; log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def _playwright():
    from playwright import sync_api

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}; `make test` installs it.")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    runs, data = tmp_path / "runs", tmp_path / "data"
    runs.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    srv = Server(runs, data)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def page(_playwright, server: Server):
    context = _playwright.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def wait_idle(page, timeout: float = 30_000) -> None:
    """Wait until the Streamlit script has finished its current run."""
    page.wait_for_selector(
        "[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout
    )


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def upload_picture(page, picture: Path) -> None:
    """Switch the sidebar's image source to Upload and upload ``picture`` (Explain and
    Activations share the picker); wait until the page shows it as the model sees it."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("radio", name="Upload", exact=True).click()
    wait_idle(page)
    sidebar.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(picture))
    page.get_by_text(f"{picture.name}, as the model sees it").first.wait_for()
    wait_idle(page)


# What each plotly chart on the page shows: its title, tick labels and annotation labels with
# their boxes, read from the rendered SVG (what a viewer sees, not the figure sent).
_CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(el => ({
  title: (el.querySelector('.gtitle') || {}).textContent || '',
  x: [...el.querySelectorAll('.xtick text')].map(t => t.textContent),
  y: [...el.querySelectorAll('.ytick text')].map(t => t.textContent),
  labels: [...el.querySelectorAll('.annotation-text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, box: [r.left, r.top, r.right, r.bottom]};
  }),
}))"""


def charts(page) -> list[dict]:
    return page.evaluate(_CHARTS_JS)


def drawn(page, titles: tuple[str, ...], count: int, timeout: float = 60) -> list[dict]:
    """The charts whose titles start with one of ``titles``, once at least ``count`` are drawn."""
    from ..conftest import wait_for

    def found() -> list[dict]:
        shown = [c for c in charts(page) if c["title"].startswith(titles)]
        return shown if len(shown) >= count else []

    return wait_for(found, timeout=timeout, what=f"{count} charts titled {titles}")


def number(tick: str) -> float:
    """A tick label as a number: ``1,200`` → 1200, ``40%`` → 0.4, ``−5`` (U+2212) → -5."""
    text = tick.replace(",", "").replace("\u2212", "-").strip()
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def assert_reads_right(chart: dict) -> None:
    """Step axes in whole steps from zero up; accuracy within 0–100 %; no two marker labels on
    top of each other (the issues a class saw on the first draw and finished Skip Lab)."""
    title = chart["title"]
    steps = [number(t) for t in chart["x"]]
    assert steps and all(s >= 0 and s == int(s) for s in steps), (title, chart["x"])
    if title.startswith("Accuracy"):
        assert all(0 <= number(t) <= 1 for t in chart["y"]), (title, chart["y"])
    boxes = [lab["box"] for lab in chart["labels"] if lab["text"].strip() not in ("", "▾")]
    for a, b in ((a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]):
        apart = a[2] <= b[0] + 1 or b[2] <= a[0] + 1 or a[3] <= b[1] + 1 or b[3] <= a[1] + 1
        assert apart, (title, chart["labels"])
