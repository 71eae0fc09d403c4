"""ResNet Viz: see inside residual networks.

The library never imports streamlit (``resnet_viz.ui`` is the one exception); pages call into it
and render the plotly figures it returns. Main flow: ``config`` → ``data`` + ``models`` →
``train`` (a worker process) → ``store`` (SQLite) → ``figures``.
"""

__version__ = "0.1.0"
