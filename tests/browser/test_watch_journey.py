"""A practitioner's own script, watched: the Train page shows it live while it trains, marked
"from a script", and the app's Stop ends the script's loop."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from resnet_viz.store import RunStore

from ..conftest import wait_for
from .conftest import drawn, shot, wait_idle

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch, torch.nn.functional as F
    import resnet_viz

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(8, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with resnet_viz.watch(model, name="my script", runs_dir=sys.argv[1],
                          config={"lr": 0.05}) as run:
        print(run.id, flush=True)
        for step in range(100_000):
            x, y = torch.randn(16, 3, 16, 16), torch.randint(0, 10, (16,))
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss=loss, lr=0.05)
            opt.step(); opt.zero_grad()
            if run.should_stop:
                break
            time.sleep(0.02)
    print("left the loop", flush=True)
    """
)


def test_a_watched_script_trains_live_in_the_app_and_stops_from_it(page, server, tmp_path):
    script = tmp_path / "train_mine.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(server.runs_dir)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = proc.stdout.readline().strip()
        page.goto(f"{server.url}/train?run={run_id}")
        wait_idle(page)
        page.get_by_text("from a script · Sequential · lr=0.05").wait_for()
        page.get_by_text("Trained by your script: train_mine.py").wait_for()
        (heat,) = drawn(page, ("Gradient L2 norm per layer",), 1)
        assert set(heat["y"]) == {"0", "4"}  # the script's module names, as rows
        store = RunStore(server.runs_dir)
        first = store.get_run(run_id).step
        wait_for(lambda: store.get_run(run_id).step > first + 20, timeout=30)
        shot(page, "watch-script-live")
        page.get_by_role("button", name="Stop").click()
        assert proc.wait(timeout=30) == 0
        assert "left the loop" in proc.stdout.read()
        run = wait_for(lambda: (r := store.get_run(run_id)).status == "stopped" and r, timeout=10)
        assert "Stopped from the app" in run.reason
        page.get_by_text("stopped · step").first.wait_for()
        shot(page, "watch-script-stopped")
    finally:
        proc.kill()
