"""Classroom mode: one machine, a projector, thirty laptops following along.

``make classroom`` (``python -m resnet_viz.classroom``) serves the app on every interface with
``RESNET_VIZ_CLASSROOM=1`` and prints two links: the presenter's, ``http://HOST:PORT/?token=…``
(the token from ``RESNET_VIZ_PRESENTER_TOKEN``, generated when unset), and the students'. A
browser session that opened the presenter link may start, stop, steer and delete runs; every
other session is a viewer that watches. The presenter can let everyone train
(:data:`keys.EVERYONE_TRAINS`, a store setting every session reads); viewers then get at most
:data:`PER_VIEWER` queued or running run each, in the same queue as everyone else's.

This module holds the rules; ``resnet_viz.ui.roles`` applies them to a Streamlit session.
"""

from __future__ import annotations

import argparse
import hmac
import os
import secrets
import socket
import sys
from pathlib import Path

from . import keys
from .store import RunRecord, RunStore

CLASSROOM_ENV = "RESNET_VIZ_CLASSROOM"
TOKEN_ENV = "RESNET_VIZ_PRESENTER_TOKEN"
TOKEN_PARAM = "token"  # the presenter link's query parameter
PER_VIEWER = 1  # queued or running runs a viewer may have at once, when everyone may train

VIEWER_START = "Only the presenter starts runs in this classroom; their runs show here live."
VIEWER_STEER = "Only the presenter, or whoever started this run, can stop or steer it."
VIEWER_DELETE = "Only the presenter can delete runs in this classroom."
VIEWER_COMPUTE = "Only the presenter can start computations this heavy in this classroom."

_generated: str | None = None


def classroom_mode() -> bool:
    """Whether the app runs as a classroom (``RESNET_VIZ_CLASSROOM=1``)."""
    return os.environ.get(CLASSROOM_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def presenter_token() -> str:
    """The presenter's token: ``RESNET_VIZ_PRESENTER_TOKEN``, or one generated for this process
    (and printed to its log, so the person who started the server can find it)."""
    global _generated
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if _generated is None:
        _generated = secrets.token_urlsafe(16)
        print(
            f"Classroom presenter token (set {TOKEN_ENV} to choose one): {_generated}",
            file=sys.stderr,
        )
    return _generated


def is_presenter_token(text: str | None) -> bool:
    """Whether ``text`` is the presenter's token (compared in constant time)."""
    return bool(text) and hmac.compare_digest(text.encode(), presenter_token().encode())


def everyone_trains(store: RunStore) -> bool:
    """Whether the presenter has opened training to every viewer."""
    return store.setting(keys.EVERYONE_TRAINS) == "1"


def let_everyone_train(store: RunStore, allowed: bool) -> None:
    store.put_setting(keys.EVERYONE_TRAINS, "1" if allowed else "0")


def viewer_start_refusal(store: RunStore, viewer: str) -> str | None:
    """Why viewer ``viewer`` may not start a run now (None: they may)."""
    if not everyone_trains(store):
        return VIEWER_START
    mine = [r for r in store.active_runs() if r.owner == viewer]
    if len(mine) >= PER_VIEWER:
        run = mine[0]
        return (
            f"You already have a run {run.status} ({run.name}); in this classroom each person "
            f"has {PER_VIEWER} at a time. Stop or cancel it to start another."
        )
    return None


def viewer_may_steer(store: RunStore, viewer: str, run: RunRecord) -> bool:
    """Whether viewer ``viewer`` may stop or steer ``run``: their own, while everyone trains."""
    return run.owner == viewer and everyone_trains(store)


# ---- `make classroom` ------------------------------------------------------------------------
def lan_address() -> str:
    """This machine's address on the local network (what students type), else its name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
            return s.getsockname()[0]
        except OSError:
            return socket.gethostname()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m resnet_viz.classroom",
        description="Serve ResNet Viz to a classroom: all interfaces, presenter and viewers.",
    )
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="0.0.0.0", help="interface to serve on (default: all)")
    args = p.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "").strip() or secrets.token_urlsafe(16)
    host = lan_address() if args.address in ("0.0.0.0", "::") else args.address
    print(
        f"\nClassroom mode.\n"
        f"  Presenter link (keep it to yourself): http://{host}:{args.port}/?{TOKEN_PARAM}={token}\n"
        f"  Students' link:                      http://{host}:{args.port}/\n",
        flush=True,
    )
    env = dict(os.environ, **{CLASSROOM_ENV: "1", TOKEN_ENV: token})
    app = Path(__file__).resolve().parents[1] / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app)]
    cmd += ["--server.address", args.address, "--server.port", str(args.port)]
    # A fault the app does not catch shows a viewer a generic message; the details go to
    # this terminal, not to thirty laptops (no source paths, no tracebacks).
    cmd += ["--client.showErrorDetails", "none", "--server.headless", "true"]
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main())
