"""Server memory under a classroom's uploads: many large pictures uploaded on Activations by
several browser sessions, against a real server; the baseline is the server's own memory
before the first upload, measured in the same run.

Each picture is a 6000×6000 PNG of one colour (about 117 KB on disk, 108 MB decoded at full
size), every one different, so no cache can answer for another. ``--sessions`` browser tabs
(headless Chromium) each upload ``--per-session`` pictures, two at a time; then every tab
closes. Printed: the server's resident memory (VmRSS) at the start, its peak, and after the
tabs are gone and their sessions ended; the goal is to end within 200 MB of the start.

The server runs with ``server.disconnectedSessionTTL=5`` so that closed tabs' sessions end
within seconds (Streamlit's default keeps them for 120 s in case the tab reconnects).

    python bench/upload_memory.py [--sessions 10] [--per-session 10]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

from _server import start_server
from PIL import Image
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SIDE = 6000
GOAL_MB = 200


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pictures(folder: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        colour = (i * 37 % 256, i * 91 % 256, (i * 53 + 100) % 256)
        buf = io.BytesIO()
        Image.new("RGB", (SIDE, SIDE), colour).save(buf, format="PNG")
        path = folder / f"big-{i:03d}.png"
        path.write_bytes(buf.getvalue())
        out.append(path)
    return out


def idle(page) -> None:
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")


def upload(page, files: list[Path]) -> None:
    """Replace the uploader's pictures with ``files`` (its limit is two at a time)."""
    sidebar = page.get_by_test_id("stSidebar")
    delete = sidebar.get_by_test_id("stFileChipDeleteBtn")
    while delete.count():
        delete.first.click()
        idle(page)
    sidebar.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(f) for f in files])
    try:
        page.get_by_text(f"{files[0].name}, as the model sees it").first.wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path="/tmp/upload-fail.png", full_page=True)
        raise
    idle(page)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--per-session", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "runs").mkdir()
        files = pictures(tmp, args.sessions * args.per_session)
        server, port = start_server(tmp / "runs", "--server.disconnectedSessionTTL", "5")
        url = f"http://127.0.0.1:{port}"
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb(server.pid))
                time.sleep(0.2)

        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                warm = browser.new_context()  # imports torch, loads the bundled model
                page = warm.new_page()
                page.set_default_timeout(120_000)
                page.goto(f"{url}/activations")
                idle(page)
                page.get_by_text("as the model sees it").first.wait_for()
                warm.close()
                time.sleep(10)  # its session ends (TTL 5 s)
                start = rss_mb(server.pid)
                threading.Thread(target=sample, daemon=True).start()
                t0 = time.monotonic()
                contexts = []
                for s in range(args.sessions):
                    ctx = browser.new_context()
                    page = ctx.new_page()
                    page.set_default_timeout(120_000)
                    page.goto(f"{url}/activations")
                    idle(page)
                    page.get_by_test_id("stSidebar").get_by_role(
                        "radio", name="Upload", exact=True
                    ).click()
                    idle(page)
                    mine = files[s * args.per_session : (s + 1) * args.per_session]
                    for i in range(0, len(mine), 2):
                        upload(page, mine[i : i + 2])
                    contexts.append(ctx)
                    print(f"session {s + 1}: server {rss_mb(server.pid):.0f} MB", flush=True)
                uploading = time.monotonic() - t0
                for ctx in contexts:
                    ctx.close()
                browser.close()
            time.sleep(20)  # the sessions end after 5 s without their tab
            end = rss_mb(server.pid)
        finally:
            done.set()
            server.terminate()
            server.wait(30)
    n = args.sessions * args.per_session
    print(
        f"\n{platform.node()} · {os.cpu_count()} cores · {n} uploads of {SIDE}×{SIDE} PNGs in "
        f"{args.sessions} sessions ({uploading:.0f} s)\nserver memory: start {start:.0f} MB, "
        f"peak {peak[0]:.0f} MB, after the sessions ended {end:.0f} MB: "
        f"{end - start:+.0f} MB (goal: within {GOAL_MB} MB; ratio end/start {end / start:.2f})"
    )


if __name__ == "__main__":
    main()
