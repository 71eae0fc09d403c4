"""A classroom's load on one machine: N sessions watching one live run, against a real server.

Starts ``streamlit run app.py`` on loopback, then trains the same run three times: with no
watchers (the baseline), with ``--watchers`` sessions on its Train page, and with none again
(so drift of the machine shows). A watcher is a websocket client speaking Streamlit's own
protocol (its protobuf messages), as a browser tab does: it opens ``/train?run=ID``, re-runs
the live fragment at the interval the server asks for (``run_every``), as the browser's timer
would, and reports the large elements it already holds (Streamlit's message cache), as the
browser does; it draws nothing, so the measurement is the server's cost alone.

Printed, as JSON lines and a summary:
- training steps/s over the same window of each run (from 10 s after its first step to 2 s
  before its end), and the watched run's ratio to the mean of the two baselines;
- per watcher update, the latency from the moment the store first held a step (a poller reads
  it every 50 ms) to the moment a watcher received a progress line showing it (p50, p95, max);
- the longest any watcher went without a new step.

    python bench/classroom_load.py [--watchers 30] [--epochs 12]
    python bench/classroom_load.py --pairs 4 [--window 30]   # drift-proof: alternating windows
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(os.environ.get("RESNET_VIZ_BENCH_ROOT", Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from _server import start_server  # noqa: E402  (bench/, beside this script)
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from resnet_viz.config import TrainConfig  # noqa: E402
from resnet_viz.store import RunStore  # noqa: E402
from resnet_viz.train import launcher  # noqa: E402

STEP = re.compile(r"step ([\d,]+)/")


class Watcher:
    """One browser tab on /train?run=ID, as far as the server can tell."""

    def __init__(self, port: int, run_id: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/_stcore/stream"
        self.query = f"run={run_id}"
        self.seen: list[tuple[float, int]] = []  # (received at, step shown)
        self.page_hash = ""
        self.fragments: dict[str, float] = {}  # fragment id → its run_every interval
        self.stop = asyncio.Event()
        # As a browser does: the hashes of large elements it holds, sent with every rerun, so
        # the server sends a reference instead of an unchanged chart again.
        self.cached: set[str] = set()

    def _rerun(self, fragment_id: str = "") -> bytes:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_name = "train"
        state.page_script_hash = self.page_hash
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        state.cached_message_hashes.extend(sorted(self.cached))
        return msg.SerializeToString()

    async def run(self) -> None:
        async with websockets.connect(
            self.url, subprotocols=["streamlit"], max_size=None, open_timeout=60
        ) as ws:
            await ws.send(self._rerun())
            timer = asyncio.create_task(self._timer(ws))
            try:
                while not self.stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    self._handle(raw)
            finally:
                timer.cancel()

    def _handle(self, raw: bytes) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        if msg.metadata.cacheable and msg.hash:
            self.cached.add(msg.hash)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = self.page_hash or msg.new_session.main_script_hash
        elif kind == "navigation":
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
        elif kind == "auto_rerun":
            self.fragments[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            if el.WhichOneof("type") == "progress" and (m := STEP.search(el.progress.text)):
                self.seen.append((time.time(), int(m.group(1).replace(",", ""))))

    async def _timer(self, ws) -> None:
        """The browser's run_every timers: one per fragment, each asking for a rerun of its
        fragment every interval, as the frontend's do."""
        timers: dict[str, asyncio.Task] = {}

        async def tick(fragment_id: str) -> None:
            while True:
                await asyncio.sleep(self.fragments[fragment_id])
                await ws.send(self._rerun(fragment_id))

        try:
            while True:
                for fragment_id in self.fragments:
                    if fragment_id not in timers:
                        timers[fragment_id] = asyncio.create_task(tick(fragment_id))
                await asyncio.sleep(0.1)
        finally:
            for task in timers.values():
                task.cancel()


def poll_steps(store: RunStore, run_id: str, first_seen: dict[int, float], done: threading.Event):
    while not done.is_set():
        run = store.get_run(run_id)
        if run is not None:
            first_seen.setdefault(run.step, time.time())
            if not run.active:
                return
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(store: RunStore, cfg: TrainConfig, port: int, watchers: int, server: int) -> dict:
    server_cpu, own_cpu, t_start = cpu_seconds(server), time.process_time(), time.monotonic()
    run_id = launcher.launch(store, cfg)
    first_seen: dict[int, float] = {}
    done = threading.Event()
    poller = threading.Thread(target=poll_steps, args=(store, run_id, first_seen, done))
    poller.start()
    tabs = [Watcher(port, run_id) for _ in range(watchers)]

    async def watch() -> None:
        tasks = [asyncio.create_task(t.run()) for t in tabs]
        while poller.is_alive():
            await asyncio.sleep(0.2)
        for t in tabs:
            t.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(watch())
    done.set()
    poller.join()
    run = store.get_run(run_id)
    steps = sorted((t, s) for s, t in first_seen.items() if s > 0)
    t0, t_end = steps[0][0], steps[-1][0]
    window = [(t, s) for t, s in steps if t0 + 10 <= t <= t_end - 2]
    if len(window) < 2:  # a short run (the warm-up): all of it
        window = steps
    rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
    latencies, gaps = [], []
    for tab in tabs:
        last_step, last_t = -1, None
        for t, s in tab.seen:
            if s > last_step and s in first_seen:
                latencies.append(t - first_seen[s])
                if last_t is not None and t0 + 10 <= t <= t_end - 2:
                    gaps.append(t - last_t)
                last_step, last_t = s, t
    wall = time.monotonic() - t_start
    out = {
        "watchers": watchers,
        # Where the CPU went: the server (its sessions), and this process (the watchers'
        # clients, which on a real classroom's network run on the students' laptops).
        "server_cpu_per_s": round((cpu_seconds(server) - server_cpu) / wall, 2),
        "clients_cpu_per_s": round((time.process_time() - own_cpu) / wall, 2),
        "status": run.status,
        "steps": run.step,
        "steps_per_s": round(rate, 2),
        "watchers_updated": sum(1 for t in tabs if len(t.seen) > 1),
    }
    if latencies:
        q = statistics.quantiles(latencies, n=20, method="inclusive")
        out.update(
            latency_p50_s=round(statistics.median(latencies), 2),
            latency_p95_s=round(q[18], 2),
            latency_max_s=round(max(latencies), 2),
            longest_gap_s=round(max(gaps), 2) if gaps else None,
        )
    print(json.dumps(out), flush=True)
    return out


def rate(steps: list[tuple[float, int]], start: float, end: float) -> float | None:
    """Steps/s between ``start`` and ``end`` from ``(time, step)`` pairs, or None."""
    inside = [(t, s) for t, s in steps if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] == inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def interleaved(store, cfg, port: int, watchers: int, server: int, pairs: int, seconds: float):
    """One long run, watched and unwatched in alternating windows of ``seconds``: a machine
    whose speed drifts between runs (this VM's did by up to 33%) drifts alike for both."""
    run_id = launcher.launch(store, cfg.with_overrides({"epochs": 200}))
    first_seen: dict[int, float] = {}
    done = threading.Event()
    poller = threading.Thread(target=poll_steps, args=(store, run_id, first_seen, done))
    poller.start()
    while not first_seen or max(first_seen) < 20:
        time.sleep(0.2)
    windows, tabs_seen, settle = [], [], 5.0  # the first seconds of a window are not counted
    cpu = {True: 0.0, False: 0.0}

    async def schedule() -> None:
        for w in range(2 * pairs):
            watched, t0, c0 = w % 2 == 1, time.time(), cpu_seconds(server)
            if watched:
                tabs = [Watcher(port, run_id) for _ in range(watchers)]
                tasks = [asyncio.create_task(t.run()) for t in tabs]
                await asyncio.sleep(seconds)
                for t in tabs:
                    t.stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                tabs_seen.extend(tabs)
            else:
                await asyncio.sleep(seconds)
            cpu[watched] += cpu_seconds(server) - c0
            windows.append((t0 + settle, t0 + seconds, watched))

    asyncio.run(schedule())
    launcher.request_stop(store, run_id)
    poller.join(120)
    done.set()
    steps = sorted((t, s) for s, t in first_seen.items() if s > 0)
    rates = {True: [], False: []}
    for start, end, watched in windows:
        if (r := rate(steps, start, end)) is not None:
            rates[watched].append(r)
    latencies = [
        t - first_seen[s]
        for tab in tabs_seen
        for t, s in tab.seen
        if s in first_seen and t >= first_seen[s]
    ]
    q = (
        statistics.quantiles(latencies, n=20, method="inclusive")
        if len(latencies) > 1
        else [0] * 19
    )
    alone, loaded = statistics.median(rates[False]), statistics.median(rates[True])
    out = {
        "watchers": watchers,
        "windows": f"{pairs} × {seconds:g} s each way",
        "alone_steps_per_s": [round(r, 2) for r in rates[False]],
        "watched_steps_per_s": [round(r, 2) for r in rates[True]],
        "ratio": round(loaded / alone, 3),
        "server_cpu_per_s_watched": round(cpu[True] / (pairs * seconds), 2),
        "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p95_s": round(q[18], 2),
    }
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--watchers", type=int, default=30)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="instead of three runs: one long run, N pairs of unwatched and watched windows",
    )
    p.add_argument("--window", type=float, default=30.0, help="seconds per window (--pairs)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        runs.mkdir()
        store = RunStore(runs)
        server, port = start_server(runs)
        try:
            cfg = TrainConfig().with_overrides({"epochs": args.epochs, "name": "watched"})
            # A first tab makes the server import torch and plotly before anything is timed.
            one_run(store, cfg.with_overrides({"epochs": 1}), port, 1, server.pid)
            if args.pairs:
                out = interleaved(
                    store, cfg, port, args.watchers, server.pid, args.pairs, args.window
                )
                print(
                    f"\n{platform.node()} · {os.cpu_count()} cores · "
                    f"{platform.processor() or platform.machine()}\ntraining with "
                    f"{args.watchers} watchers: ratio {out['ratio']:.2f} of the unwatched windows "
                    f"(median steps/s); latency p50 {out['latency_p50_s']} s, "
                    f"p95 {out['latency_p95_s']} s"
                )
                return
            base1 = one_run(store, cfg, port, 0, server.pid)
            loaded = one_run(store, cfg, port, args.watchers, server.pid)
            base2 = one_run(store, cfg, port, 0, server.pid)
        finally:
            server.terminate()
            server.wait(30)
    base = (base1["steps_per_s"] + base2["steps_per_s"]) / 2
    machine = platform.processor() or platform.machine()
    print(
        f"\n{platform.node()} · {os.cpu_count()} cores · {machine}"
        f"\ntraining: {base1['steps_per_s']} and {base2['steps_per_s']} steps/s alone, "
        f"{loaded['steps_per_s']} with {args.watchers} watchers: ratio "
        f"{loaded['steps_per_s'] / base:.2f} (slowdown {1 - loaded['steps_per_s'] / base:.0%})"
        f"\nupdates: {loaded['watchers_updated']}/{args.watchers} watchers updated; "
        f"latency p50 {loaded.get('latency_p50_s')} s, p95 {loaded.get('latency_p95_s')} s, "
        f"max {loaded.get('latency_max_s')} s; longest gap {loaded.get('longest_gap_s')} s"
        f"\nCPU with {args.watchers} watchers: server {loaded['server_cpu_per_s']} s/s "
        f"(alone {base1['server_cpu_per_s']}), the watchers' clients "
        f"{loaded['clients_cpu_per_s']} s/s"
    )


if __name__ == "__main__":
    main()
