"""A real ``streamlit run app.py`` on loopback for the bench scripts that need one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(os.environ.get("RESNET_VIZ_BENCH_ROOT", Path(__file__).resolve().parents[1]))


def start_server(runs: Path, *options: str) -> tuple[subprocess.Popen, int]:
    """The app on a free loopback port with its store in ``runs`` (no warm spare worker),
    started with Streamlit ``options`` (``"--server.x", "value"``); returns once it answers.
    Its log is ``runs/../streamlit.log``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, RESNET_VIZ_RUNS_DIR=str(runs), RESNET_VIZ_PREWARM="0")
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    cmd += ["--server.headless", "true", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", *options]
    log = open(runs.parent / "streamlit.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc, port
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not start; see {runs.parent / 'streamlit.log'}")
