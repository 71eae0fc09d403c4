"""Runs page: the table of every run, opening one, comparing several, deleting, and runs whose
worker died."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from resnet_viz.config import TrainConfig
from resnet_viz.train.launcher import record_run

from ..conftest import shown

RUNS = "pages/runs.py"


def select_rows(at, *rows: int):
    """Select table rows as a click in the browser would (AppTest cannot click a dataframe; its
    selection state accepts writes through session state)."""
    at.session_state["runs.table"] = {"selection": {"rows": list(rows), "columns": []}}
    return at.run()


def table(at):
    (df,) = [df for df in at.dataframe if df.key == "runs.table"]
    return df.value


def delete_button(at):
    (popover,) = at.get("popover")
    (button,) = [b for b in popover.button if b.key == "runs.delete"]
    return popover, button


def run_headings(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("### ")]


@pytest.fixture
def three_runs(train_run, store):
    """Three finished tiny runs, oldest first: a residual net, its plain twin, a no-BN net."""
    ids = [
        train_run("resnet"),
        train_run("plain", **{"model.skip": "0"}),
        train_run("nobn", **{"model.batchnorm": False}),
    ]
    assert [store.get_run(i).status for i in ids] == ["finished"] * 3
    return ids


def test_empty_store_points_to_train(open_page):
    at = open_page(RUNS)

    assert not at.exception
    assert [t.value for t in at.title] == ["Runs"]
    (info,) = at.info
    assert info.value.startswith("No runs yet.")
    (link,) = at.get("page_link")
    assert link.proto.page == "train"
    assert not at.dataframe


def test_table_lists_every_run_newest_first(open_page, store, three_runs):
    at = open_page(RUNS)

    assert not at.exception
    df = table(at)
    assert list(df["id"]) == three_runs[::-1]
    assert list(df["name"]) == ["nobn", "plain", "resnet"]
    assert list(df["status"]) == ["finished"] * 3
    for run_id, best in zip(df["id"], df["best val acc"], strict=True):
        expected = store.get_run(run_id).summary["models"][0]["best_val_acc"]
        assert best == pytest.approx(100 * expected)  # in %, drawn with one decimal
        assert 0 < best <= 100
    assert all(d >= 0 for d in df["duration (s)"])
    assert not at.get("popover")  # nothing selected: no delete, no run view
    assert not at.get("plotly_chart")


def test_selecting_one_run_opens_it(open_page, store, three_runs, charts):
    at = open_page(RUNS)
    select_rows(at, 1)  # "plain"

    assert not at.exception
    run_id = three_runs[1]
    assert run_headings(at) == [next(h for h in run_headings(at) if run_id in h)]
    assert "plain · `" in run_headings(at)[0]
    specs = charts(at)
    assert {"runs.view.loss", "runs.view.acc", "runs.view.heat.0"} <= set(specs)
    heat = specs["runs.view.heat.0"]["data"][0]
    assert heat["type"] == "heatmap"
    assert heat["y"][0] == "conv1" and heat["y"][-1] == "fc"
    popover, _ = delete_button(at)
    assert popover.proto.popover.label == "Delete 1 selected"
    assert any(run_id in m.value for m in popover.markdown)


def test_selecting_two_runs_compares_them(open_page, store, three_runs, charts):
    at = open_page(RUNS)
    select_rows(at, 0, 2)  # "nobn" and "resnet"

    assert not at.exception
    assert not run_headings(at)  # a comparison, not a single run view
    specs = charts(at)
    assert list(specs) == ["runs.compare"]
    traces = specs["runs.compare"]["data"]
    nobn, resnet = three_runs[2], three_runs[0]
    assert [t["name"] for t in traces] == ["nobn", "resnet"]  # names that differ stay as they are
    for trace, run_id in zip(traces, (nobn, resnet), strict=True):
        _, acc = store.scalars(run_id, "val/acc")
        assert trace["y"] == pytest.approx(list(acc))
    assert at.segmented_control(key="runs.metric").value == "Validation accuracy"

    at.segmented_control(key="runs.metric").set_value("Training loss (per batch)").run()
    traces = charts(at)["runs.compare"]["data"]
    assert len(traces) == 2
    assert all(len(t["y"]) == 4 for t in traces)  # 4 steps, smoothed
    assert any("smoothed" in c.value for c in at.caption)
    assert delete_button(at)[0].proto.popover.label == "Delete 2 selected"


def test_delete_removes_the_run_from_store_disk_and_table(open_page, store, three_runs):
    at = open_page(RUNS)
    select_rows(at, 0)
    victim = three_runs[2]
    assert store.run_dir(victim).is_dir()

    delete_button(at)[1].click().run()

    assert not at.exception, at.exception
    assert store.get_run(victim) is None
    assert not store.run_dir(victim).exists()
    assert store.scalars(victim, "train/loss")[0].size == 0
    assert any("Deleted 1 run(s)" in t.value for t in at.toast)
    assert list(table(at)["id"]) == three_runs[1::-1]

    fresh = open_page(RUNS)  # another session, later
    assert victim not in list(table(fresh)["id"])


def test_an_active_run_is_not_deleted(open_page, store):
    run_id = record_run(store, TrainConfig().with_overrides({"name": "busy"}))  # queued
    at = open_page(RUNS)
    select_rows(at, 0)

    delete_button(at)[1].click().run()

    assert not at.exception
    assert store.get_run(run_id) is not None
    assert store.run_dir(run_id).is_dir()


def test_refusing_to_delete_an_active_run_says_why(open_page, store):
    record_run(store, TrainConfig().with_overrides({"name": "busy"}))
    at = open_page(RUNS)
    select_rows(at, 0)

    delete_button(at)[1].click().run()

    assert any("Stop the run before deleting it" in w.value for w in at.warning)


@pytest.mark.parametrize(("rows", "kept"), [([2], [2, 1]), ([0, 1], [0])])
def test_deleting_rows_at_the_end_does_not_crash(open_page, store, three_runs, rows, kept):
    at = open_page(RUNS)
    select_rows(at, *rows)
    ids = three_runs[::-1]  # table order

    delete_button(at)[1].click().run()

    assert [r.id for r in store.list_runs()] == [three_runs[i] for i in kept]
    assert all(store.get_run(ids[r]) is None for r in rows)
    assert not at.exception, at.exception[0].message
    assert list(table(at)["id"]) == [three_runs[i] for i in kept]


def test_after_a_delete_no_other_run_is_selected(open_page, store, three_runs):
    at = open_page(RUNS)
    select_rows(at, 0)

    delete_button(at)[1].click().run()

    assert store.get_run(three_runs[2]) is None
    assert not at.exception
    assert not at.get("popover")  # nothing selected any more
    assert not run_headings(at)


def test_delete_deletes_the_runs_the_popover_listed(open_page, store, three_runs, train_run):
    at = open_page(RUNS)
    select_rows(at, 0)
    popover, button = delete_button(at)
    assert three_runs[2] in popover.markdown[0].value  # "nobn", the newest run

    newer = train_run("newer")  # finished elsewhere while the popover is open
    button.click().run()

    assert store.get_run(three_runs[2]) is None
    assert store.get_run(newer) is not None


def test_run_whose_worker_died_is_shown_interrupted(open_page, store, monkeypatch):
    dead = subprocess.Popen(["true"])
    dead.wait()  # exited and reaped: nothing answers to its pid any more
    with pytest.raises(ProcessLookupError):
        os.kill(dead.pid, 0)
    run_id = record_run(store, TrainConfig().with_overrides({"name": "crashed"}))
    store.mark_started(run_id, device="cpu", total_steps=100, pid=dead.pid)
    time.sleep(0.01)
    monkeypatch.setattr("resnet_viz.train.launcher.STALE_AFTER_S", 0.0)
    assert store.get_run(run_id).status == "running"

    at = open_page(RUNS)

    assert not at.exception
    run = store.get_run(run_id)
    assert run.status == "interrupted"
    assert "stopped without saying why" in run.reason
    assert list(table(at)["status"]) == ["interrupted"]

    select_rows(at, 0)
    (error,) = at.error
    assert error.value.startswith("**Interrupted.**")
    assert run.reason in shown(error.value)
    assert not [b for b in at.button if (b.key or "").startswith("runs.view.stop.")]


def test_live_run_with_fresh_heartbeat_is_left_alone(open_page, store):
    """The other side of the reaping rule: a running run whose worker is alive stays running."""
    run_id = record_run(store, TrainConfig().with_overrides({"name": "alive"}))
    store.mark_started(run_id, device="cpu", total_steps=100)  # this process's pid: alive

    at = open_page(RUNS)
    select_rows(at, 0)

    assert not at.exception
    assert store.get_run(run_id).status == "running"
    assert list(table(at)["status"]) == ["running"]
    assert [b.key for b in at.button if (b.key or "").startswith("runs.view.stop.")] == [
        f"runs.view.stop.{run_id}"
    ]


def test_a_cohort_run_opens_with_every_member_overlaid(open_page, store, train_run, charts):
    run_id = train_run("pair", cohort="plain8")
    at = open_page(RUNS)

    assert "resnet8 vs plain8" in table(at)["setup"][0]
    select_rows(at, 0)

    assert not at.exception
    specs = charts(at)
    names = [t["name"] for t in specs["runs.view.acc"]["data"]]
    assert names == ["resnet8 train", "resnet8 val", "plain8 train", "plain8 val"]
    assert {"runs.view.heat.0", "runs.view.heat.1"} <= set(specs)
    (members,) = [df for df in at.dataframe if df.key != "runs.table"]
    assert list(members.value["member"]) == ["resnet8", "plain8"]
    assert table(at)["best val acc"][0] == pytest.approx(
        100 * max(m["best_val_acc"] for m in store.get_run(run_id).summary["models"])
    )


# ---- selection follows the run, not the row -------------------------------------------------
def test_the_selection_stays_on_the_run_when_a_new_one_is_recorded(open_page, store, three_runs):
    at = open_page(RUNS)
    select_rows(at, 1)  # "plain", the middle row
    assert run_headings(at)[0].startswith("### ") and "plain" in run_headings(at)[0]

    newer = record_run(store, TrainConfig().with_overrides({"name": "newer"}))  # a new top row
    at.run()

    assert not at.exception, at.exception
    assert table(at)["id"].iloc[0] == newer
    assert at.session_state["runs.table"]["selection"]["rows"] == [2]  # where "plain" is now
    assert "plain" in run_headings(at)[0]
    assert delete_button(at)[0].proto.popover.label == "Delete 1 selected"


def test_the_delete_confirmation_names_each_run(open_page, store, three_runs):
    at = open_page(RUNS)
    select_rows(at, 0, 2)
    popover, _ = delete_button(at)
    text = popover.markdown[0].value
    for run_id in (three_runs[2], three_runs[0]):
        run = store.get_run(run_id)
        assert f"**{run.name}** · {run.config.describe()} · started " in text
        assert f"`{run_id}`" in text


def test_comparisons_name_runs_apart_and_colour_each(open_page, store, train_run, charts):
    a, b = train_run("same"), train_run("same", **{"model.skip": "0"})
    at = open_page(RUNS)
    select_rows(at, 0, 1)
    spec = charts(at)["runs.compare"]
    lines = [t for t in spec["data"] if t.get("x") != [None]]
    names = [t["name"] for t in lines]
    assert len(set(names)) == 2 and all(n.startswith("same · ") for n in names)
    assert len({t["line"]["color"] for t in lines}) == 2
    assert spec["layout"]["yaxis"]["title"]["text"] == "validation accuracy"
    assert spec["layout"]["yaxis"]["tickformat"] == ".0%"
    assert {a, b} <= set(table(at)["id"])


def test_a_live_cohort_opened_from_runs_has_its_live_controls(open_page, store):
    run_id = record_run(store, TrainConfig().with_overrides({"name": "pair", "cohort": "plain8"}))
    store.mark_started(run_id, device="cpu", total_steps=100)
    at = open_page(RUNS)
    select_rows(at, 0)
    assert not at.exception, at.exception
    assert [b for b in at.button if b.label == "Switch skips"]


# ---- hostile text stays text ----------------------------------------------------------------
HOSTILE = (
    '![x](http://host/pixel.png) [Click to re-login](http://host/phish) <a href="http://h">x</a>'
)


def _rendered(at) -> list[str]:
    """Every string the page handed to Streamlit's Markdown renderer."""
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "toast", "subheader")
    return [e.value for kind in kinds for e in at.get(kind)]


def test_a_hostile_run_name_is_shown_as_text_in_the_run_view_list_and_legends(
    open_page, train_run, charts
):
    from resnet_viz.ui.text import md, plain

    hostile = train_run(HOSTILE)
    train_run("plain", **{"model.skip": "0"})
    at = open_page(RUNS)
    assert list(table(at)["name"])[1] == HOSTILE  # the table shows it as it is, as text
    select_rows(at, 1)
    assert not at.exception
    assert f"### :material/check_circle: {md(HOSTILE)} · `{hostile}`" in run_headings(at)
    select_rows(at, 0, 1)
    texts = _rendered(at)
    assert not [t for t in texts if "](http" in t], texts  # no live image or link anywhere
    popover, _ = delete_button(at)
    assert md(HOSTILE) in popover.markdown[0].value
    # In the comparison's legend it is plotly text, its HTML subset escaped.
    names = [t["name"] for t in charts(at)["runs.compare"]["data"]]
    assert names[1] == plain(HOSTILE) and "<a" not in names[1]
