"""Runs: every recorded run; open one, compare several, delete."""

import datetime as dt
from collections import Counter

import streamlit as st

from resnet_viz import keys, ui
from resnet_viz.figures import line_figure, smooth
from resnet_viz.figures.training import member_colour
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
    _, best = store.latest_and_best(run.id, keys.VAL_ACC)[0]  # one indexed lookup, no series
    return best


def queue_place(run) -> str:
    """A queued run's status says where in the queue it is (1 = next to start)."""
    if run.status != "queued":
        return run.status
    ahead = store.queue_position(run.id)
    return "queued" if ahead is None else f"queued · #{ahead + 1}"


def started(run) -> str:
    return dt.datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M")


def follow_the_runs(ids: list[str]) -> None:
    """Keep the table's ticks on the runs that were chosen, not on row positions: when runs
    were recorded or deleted since the table was last drawn, move the stored selection to
    where those runs are now."""
    ss = st.session_state
    before, state = ss.get("runs.order"), ss.get("runs.table")
    if before is not None and before != ids and state and state.get("selection"):
        picked = [before[i] for i in state["selection"].get("rows", []) if i < len(before)]
        rows = [ids.index(r) for r in picked if r in ids]
        ss["runs.table"] = {"selection": {"rows": rows, "columns": []}}
    ss["runs.order"] = ids


rows = [
    {
        "name": r.name,
        "status": queue_place(r),
        "setup": r.describe(),
        "best val acc": ui.percent(best_val(r)),
        "duration (s)": round(r.duration, 1) if r.duration is not None else None,
        "started": started(r),
        "id": r.id,
    }
    for r in runs
]
st.caption("Select one run to open it, two or more to compare them.")
follow_the_runs([r.id for r in runs])
table = st.dataframe(
    rows,
    key="runs.table",
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    column_config={
        "best val acc": ui.percent_bar(),
        "started": st.column_config.TextColumn(width="medium"),
    },
    # The long setup last, where it may run off the edge without hiding the run's id.
    column_order=("name", "status", "best val acc", "duration (s)", "started", "id", "setup"),
)
chosen = [runs[i] for i in table.selection.rows if i < len(runs)]


def delete_runs(run_ids: list[str]) -> None:
    """Delete exactly the runs the popover listed when it was drawn."""
    kept = []
    for run_id in run_ids:
        try:
            ui.store().delete_run(run_id)
        except RuntimeError as err:
            kept.append(f"{run_id}: {ui.md(err)}")
    st.session_state.pop("runs.table", None)  # nothing stays selected
    st.session_state.pop("runs.order", None)
    if kept:
        st.warning("Not deleted: " + "; ".join(kept))
    st.toast(f"Deleted {len(run_ids) - len(kept)} run(s).", icon=":material/delete:")


def legend_names(chosen: list) -> dict[str, str]:
    """A name per run a reader can tell apart: the run's name, and where names repeat, what
    differs (its setup, else its start time); escaped for the charts' legends."""
    counts = Counter(r.name for r in chosen)
    names = {r.id: f"{r.name} · {r.describe()}" if counts[r.name] > 1 else r.name for r in chosen}
    counts = Counter(names.values())
    return {
        r.id: ui.plain(
            f"{r.name} · {started(r)} · {r.id[-6:]}" if counts[names[r.id]] > 1 else names[r.id]
        )
        for r in chosen
    }


if chosen:
    ui.export_buttons(store, chosen)

if chosen and (refusal := ui.roles.delete_refusal()):
    st.button(f"Delete {len(chosen)} selected", icon=":material/delete:", disabled=True)
    ui.roles.refused(refusal)
elif chosen:
    with st.popover(f"Delete {len(chosen)} selected", icon=":material/delete:"):
        st.markdown(
            "Deletes the records and checkpoints of:\n\n"
            + "\n".join(
                f"- **{ui.md(r.name)}** · {r.describe()} · started {started(r)} · `{r.id}`"
                for r in chosen
            )
        )
        st.button(
            "Delete permanently",
            type="primary",
            key="runs.delete",
            on_click=delete_runs,
            args=([r.id for r in chosen],),
        )

if len(chosen) == 1:
    run = chosen[0]
    ui.show_run(run.id, key="runs.view", controls=len(run.members) > 1)
elif len(chosen) > 1:
    metric = st.segmented_control(
        "Compare", list(COMPARE), default="Validation accuracy", key="runs.metric"
    )
    key, smoothed, axis, y_title = COMPARE[metric or "Validation accuracy"]
    names = legend_names(chosen)
    series, styles = {}, {}
    for i, r in enumerate(chosen):
        x, y = store.scalars(r.id, key, max_points=2000)
        series[names[r.id]] = (x, smooth(y) if smoothed else y)
        styles[names[r.id]] = {"color": member_colour(i)}  # one distinct colour a run
    ui.plot(
        st,
        line_figure(
            series,
            title=metric or "",
            y_title=y_title,
            y=axis,
            height=420,
            styles=styles,
            legend_below=True,
        ),
        key="runs.compare",
    )
    if smoothed:
        st.caption("Per-batch training loss, smoothed with an exponential moving average (0.9).")
