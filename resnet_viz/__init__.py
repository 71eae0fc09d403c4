"""ResNet Viz: see inside residual networks.

The library never imports streamlit (``resnet_viz.ui`` is the one exception); pages call into it
and render the plotly figures it returns. Main flow: ``config`` → ``data`` + ``models`` →
``train`` (a worker process) → ``store`` (SQLite) → ``figures``.
"""

import os

# With OpenMP's default active waiting, torch's threads spin for a core that the Streamlit
# server or the browser holds, and a training step on a 2-core laptop gets ~5× slower (measured:
# 0.24 s → 1.2 s). Passive waiting costs nothing measurable when the cores are free. It must be
# set before torch starts its thread pool, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = ["watch"]


def __getattr__(name: str):
    # resnet_viz.watch (in resnet_viz.watcher) imports torch; the app's pages and a queued
    # worker import this package without needing it (PEP 562: loaded on first use).
    if name == "watch":
        from .watcher import watch

        return watch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
