"""Runs: every recorded run; open one, compare several, delete."""

import datetime as dt

import numpy as np
import streamlit as st

from resnet_viz import keys, ui
from resnet_viz.figures import line_figure, smooth
from resnet_viz.train.launcher import refresh

ui.route_through_app()

COMPARE = {  # label → (scalar, smoothed, y axis, y axis title)
    "Validation accuracy": (keys.VAL_ACC, False, "fraction", "validation accuracy"),
    "Validation loss": (keys.VAL_LOSS, False, "zero", "validation loss (cross-entropy)"),
    "Training loss (per batch)": (keys.TRAIN_LOSS, True, "zero", "training loss (smoothed)"),
}

st.title("Runs")
store = ui.store()
refresh(store)
runs = store.list_runs()
if not runs:
    st.info("No runs yet. Start one on the Train page; it will be listed here.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()


def best_val(run) -> float | None:
    if run.summary and run.summary.get("models"):
        values = [m.get("best_val_acc") for m in run.summary["models"]]
        values = [v for v in values if v is not None]
        return max(values) if values else None
    _, acc = store.scalars(run.id, keys.VAL_ACC)
    return float(np.nanmax(acc)) if len(acc) and np.isfinite(acc).any() else None


rows = [
    {
        "name": r.name,
        "status": r.status,
        "setup": r.config.describe(),
        "best val acc": best_val(r),
        "duration (s)": round(r.duration, 1) if r.duration is not None else None,
        "started": dt.datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M:%S"),
        "id": r.id,
    }
    for r in runs
]
st.caption("Select one run to open it, two or more to compare them.")
table = st.dataframe(
    rows,
    key="runs.table",
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    column_config={
        "best val acc": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
    },
)
chosen = [runs[i] for i in table.selection.rows if i < len(runs)]


def delete_runs(run_ids: list[str]) -> None:
    """Delete exactly the runs the popover listed when it was drawn: the selection holds row
    positions, which a run recorded or deleted meanwhile moves onto other runs."""
    kept = []
    for run_id in run_ids:
        try:
            ui.store().delete_run(run_id)
        except RuntimeError as err:
            kept.append(f"{run_id}: {err}")
    st.session_state.pop("runs.table", None)  # clear the selection: its rows now differ
    if kept:
        st.warning("Not deleted: " + "; ".join(kept))
    st.toast(f"Deleted {len(run_ids) - len(kept)} run(s).", icon=":material/delete:")


if chosen:
    with st.popover(f"Delete {len(chosen)} selected", icon=":material/delete:"):
        st.write("Deletes the records and checkpoints of: " + ", ".join(r.id for r in chosen))
        st.button(
            "Delete permanently",
            type="primary",
            key="runs.delete",
            on_click=delete_runs,
            args=([r.id for r in chosen],),
        )

if len(chosen) == 1:
    ui.show_run(chosen[0].id, key="runs.view")
elif len(chosen) > 1:
    metric = st.segmented_control(
        "Compare", list(COMPARE), default="Validation accuracy", key="runs.metric"
    )
    key, smoothed, axis, y_title = COMPARE[metric or "Validation accuracy"]
    series = {}
    for r in chosen:
        x, y = store.scalars(r.id, key, max_points=2000)
        series[f"{r.name} ({r.id[-6:]})"] = (x, smooth(y) if smoothed else y)
    st.plotly_chart(
        line_figure(series, title=metric or "", y_title=y_title, y=axis, height=420),
        key="runs.compare",
    )
    if smoothed:
        st.caption("Per-batch training loss, smoothed with an exponential moving average (0.9).")
