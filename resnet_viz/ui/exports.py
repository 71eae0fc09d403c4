"""The Runs page's downloads: the chosen runs as tidy CSV rows or as TensorBoard logs."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from .. import export
from ..store import RunRecord, RunStore


def export_buttons(store: RunStore, runs: list[RunRecord]) -> None:
    """Two downloads of ``runs``, built only when clicked (a long run's CSV is megabytes)."""
    ids = [r.id for r in runs]
    stem = _stem(runs)
    left, right, _ = st.columns([1, 1, 2])
    left.download_button(
        "CSV",
        data=lambda: export.csv_text(store, ids),
        file_name=f"{stem}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="runs.export.csv",
        width="stretch",
        help="Tidy rows: run_id, member, step, key, value. Per-layer values are under "
        "<statistic>/<module name>, e.g. grad_norm/layer1.0.conv1.",
    )
    right.download_button(
        "TensorBoard",
        data=lambda: tensorboard_zip(store, ids),
        file_name=f"{stem}-tensorboard.zip",
        mime="application/zip",
        on_click="ignore",
        icon=":material/download:",
        key="runs.export.tensorboard",
        width="stretch",
        help="A zip of TensorBoard log folders, one per run (and member): unzip it, then run "
        "tensorboard --logdir on the folder. Gradient norms are scalars per layer and one "
        "histogram per logged step.",
    )


def tensorboard_zip(store: RunStore, run_ids: list[str]) -> bytes:
    """The runs' TensorBoard log folders, zipped."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for folder in export.write_tensorboard(store, run_ids, tmp):
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(tmp))
    return buf.getvalue()


def _stem(runs: list[RunRecord]) -> str:
    if len(runs) == 1:
        return export.safe_name(runs[0].name, fallback=runs[0].id)
    return f"{len(runs)}-runs"
