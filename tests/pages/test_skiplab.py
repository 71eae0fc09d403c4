"""Skip Lab page: experiments and their setups, starting a cohort, live controls, and what a
finished run shows (verdict, lesion study, gradient flow, shattering)."""

from __future__ import annotations

import dataclasses

import pytest

from resnet_viz.config import TrainConfig, parse_member
from resnet_viz.experiments import analyses as analyses_mod
from resnet_viz.train.launcher import record_run
from resnet_viz.train.presets import LAB_PRESETS
from resnet_viz.train.trainer import Trainer

LAB = "pages/skiplab.py"
TINY = {"data.train_size": 256, "data.val_size": 128, "batch_size": 64, "epochs": 1}


def start_button(at):
    (button,) = [b for b in at.button if b.label == "Start experiment"]
    return button


def cohort_run(store, experiment: str, members: str, **overrides) -> str:
    """Record and train a tiny cohort in this process; returns its id."""
    first, *rest = (parse_member(m) for m in members.split(";"))
    cfg = dataclasses.replace(
        TrainConfig().with_overrides({**TINY, **overrides}),
        name=experiment,
        experiment=experiment,
        model=first,
        cohort=tuple(rest),
    ).validate()
    run_id = record_run(store, cfg)
    Trainer(cfg, store, run_id).run()
    return run_id


def test_opens_on_the_first_experiment_with_what_to_watch(open_page):
    at = open_page(LAB)

    assert not at.exception
    assert [t.value for t in at.title] == ["Skip Lab"]
    assert at.selectbox(key="lab.preset").value == "degradation"
    assert at.text_area(key="lab.members").value == "plain20; plain56; resnet20; resnet56"
    assert any("Watch the training loss" in m.value for m in at.sidebar.markdown)
    assert not at.error and not start_button(at).disabled
    assert any(m.value.startswith("**Degradation: deeper plain nets train worse** · plain20 vs")
               for m in at.markdown)  # fmt: skip
    assert any("Start experiment" in i.value for i in at.info)
    took = [c.value for c in at.caption if c.value.startswith("Takes about ")]
    assert took and "from a short timing on this machine" in took[0]  # an empty store


@pytest.mark.parametrize("name", list(LAB_PRESETS))
def test_each_experiment_loads_its_cohort(open_page, name):
    at = open_page(LAB)
    at.selectbox(key="lab.preset").set_value(name).run()

    cfg = LAB_PRESETS[name].config
    assert at.text_area(key="lab.members").value == "; ".join(m.label for m in cfg.members)
    assert at.number_input(key="lab.epochs").value == cfg.epochs
    assert at.number_input(key="lab.lr").value == cfg.optim.lr
    assert any(LAB_PRESETS[name].watch[:40] in m.value for m in at.sidebar.markdown)
    assert not at.exception and not at.error


def test_bad_members_say_why_and_disable_start(open_page):
    at = open_page(LAB)
    at.text_area(key="lab.members").set_value("resnet20; resnet9").run()

    (error,) = at.error
    assert error.value.startswith("This cohort cannot run:") and "resnet9" in error.value
    assert start_button(at).disabled
    at.text_area(key="lab.members").set_value(" ; ").run()
    assert "Name at least one model" in at.error[0].value


def test_start_trains_the_cohort_and_overlays_every_member(open_page, store, wait_ended, charts):
    at = open_page(LAB)
    at.selectbox(key="lab.preset").set_value("custom").run()
    at.text_area(key="lab.members").set_value("resnet8; plain8").run()
    at.number_input(key="lab.epochs").set_value(1).run()
    at.number_input(key="lab.train_size").set_value(256).run()
    start_button(at).click().run()

    assert not at.exception, at.exception
    (run,) = store.list_runs()
    assert run.members == ("resnet8", "plain8")
    assert run.config.cohort[0].skip == (0.0,) and run.config.epochs == 1
    assert at.query_params.get("run") == run.id
    final = wait_ended(run.id)
    assert final.status == "finished", final.reason
    at.run()

    assert not at.exception
    specs = charts(at)
    names = [t["name"] for t in specs["lab.view.loss"]["data"]]
    assert names == ["resnet8 train", "resnet8 val", "plain8 train", "plain8 val"]
    assert {"lab.view.heat.0", "lab.view.heat.1", "lab.flow"} <= set(specs)
    heat0, heat1 = specs["lab.view.heat.0"]["data"][0], specs["lab.view.heat.1"]["data"][0]
    assert (heat0["zmin"], heat0["zmax"]) == (heat1["zmin"], heat1["zmax"])  # one colour scale
    assert {"lab.lesion", "lab.lesion_k"} <= set(specs)  # the custom cohort asks for lesions
    assert [t["name"] for t in specs["lab.lesion"]["data"]] == [
        "resnet8, one block deleted",
        "plain8, one block deleted",
        "chance (10%)",
    ]
    (table,) = at.dataframe  # the members table
    assert list(table.value["member"]) == ["resnet8", "plain8"]
    assert (store.run_dir(run.id) / "model-1.safetensors").exists()


def test_members_table_says_no_bn_for_a_member_without_batchnorm(open_page, store):
    cfg = TrainConfig().with_overrides({"cohort": "plain8 no-BN", "name": "mixed"})
    run_id = record_run(store, cfg)
    at = open_page(LAB, query_params={"run": run_id})
    assert not at.exception
    (table,) = at.dataframe
    with_bn, without = list(table.value["now"])
    assert with_bn.endswith("· BN batch") and without.endswith("· no BN")


def test_live_controls_write_control_rows(open_page, store):
    cfg = TrainConfig().with_overrides({"cohort": "plain8", "name": "live"})
    run_id = record_run(store, cfg)
    store.mark_started(run_id, device="cpu", total_steps=100)  # no worker: it stays live
    store.set_layers(run_id, 0, {"conv": ["conv1"], "block": ["layer1.0", "layer2.0", "layer3.0"]})
    at = open_page(LAB, query_params={"run": run_id})
    assert not at.exception

    at.selectbox(key="lab.view.ctl.where").set_value("stage 2").run()
    at.button(key="lab.view.ctl.skip").click().run()
    assert [t.value for t in at.toast] == ["Sent: stage 2 skips off (×0) · all members."]
    at.selectbox(key="lab.view.ctl.who").set_value("plain8").run()
    at.select_slider(key="lab.view.ctl.lr").set_value(0.1).run()
    at.button(key="lab.view.ctl.lr.apply").click().run()
    at.segmented_control(key="lab.view.ctl.bn").set_value("frozen").run()
    at.button(key="lab.view.ctl.bn.apply").click().run()

    assert not at.exception
    sent = [(c.kind, c.payload) for c in store.controls(run_id)]
    assert sent == [
        ("skip", {"value": 0.0, "stage": 2, "block": None, "member": None}),
        ("lr", {"value": 0.1, "stage": None, "block": None, "member": 1}),
        ("bn", {"value": "frozen", "stage": None, "block": None, "member": 1}),
    ]
    assert "layer2.0" in at.selectbox(key="lab.view.ctl.where").options


def test_the_overfitting_experiment_shows_the_gap_and_the_sharpness(
    open_page, store, charts, monkeypatch
):
    from resnet_viz.experiments import analyses

    for name, value in (("SHARPNESS_STEPS", 3), ("SHARPNESS_SAMPLES", 1), ("SHARPNESS_IMAGES", 32)):
        monkeypatch.setattr(analyses, name, value)
    run_id = cohort_run(store, "overfitting", "resnet8 wd 0;resnet8 wd 0.005", analyses="sharpness")
    at = open_page(LAB, query_params={"run": run_id})
    assert not at.exception, at.exception
    assert any(h.value == "Generalisation" for h in at.subheader)
    bars = charts(at)["lab.fit"]
    assert [t["name"] for t in bars["data"]] == ["training images (eval mode)", "validation images"]
    assert bars["data"][0]["x"] == ["resnet8 wd 0", "resnet8 wd 0.005"]
    table = next(t.value for t in at.dataframe if "λmax" in t.value)
    assert list(table["weight decay"]) == ["0", "0.005"] and table["λmax"].notna().all()
    verdict = store.get_run(run_id).summary["verdict"]
    assert "gap" in verdict["text"] and any(
        verdict["text"][:40] in b.value for b in [*at.success, *at.warning]
    )


def test_a_run_past_its_last_step_offers_no_live_controls(open_page, store):
    """Training is over while the worker analyses the nets: a change would have no step to act
    on, so the page says what is happening instead of offering the controls."""
    run_id = record_run(store, TrainConfig().with_overrides({"cohort": "plain8", "name": "live"}))
    store.mark_started(run_id, device="cpu", total_steps=8)
    store.write_batch(run_id, step=8)
    at = open_page(LAB, query_params={"run": run_id})
    assert not at.exception
    assert not [b for b in at.button if b.label == "Switch skips"]
    assert any("Training is done" in c.value for c in at.caption)


def test_finished_experiment_shows_its_verdict_and_lesion_study(open_page, store, charts):
    run_id = cohort_run(
        store, "break-shortcut", "resnet8;resnet8 skip 0.5;plain8", analyses="lesion"
    )
    verdict = store.get_run(run_id).summary["verdict"]
    at = open_page(LAB, query_params={"run": run_id})

    assert not at.exception
    box = at.success if verdict["reproduced"] else at.warning
    assert any(verdict["text"] in b.value for b in box)
    assert any("last 10% of steps" in c.value for c in at.caption)  # what "final" means
    (link,) = [x for x in at.get("page_link") if x.proto.page == "landscape"]
    assert run_id in link.proto.query_string  # opens this run's landscapes
    assert any("What to watch: Break the shortcut" in e.label for e in at.expander)
    assert at.selectbox(key="lab.preset").value == "break-shortcut"  # the sidebar matches it
    specs = charts(at)
    assert len(specs["lab.lesion"]["data"]) == 4  # 3 members' bars and the chance line
    assert len(specs["lab.flow"]["data"]) == 9  # 3 members × start/middle/end
    (lesion,) = [m.value for m in at.markdown if "non-downsampling block costs" in m.value]
    # Each member is read against Veit et al. as what it is: two residual nets, one plain.
    lines = lesion.splitlines()
    residual = [ln for ln in lines if ln.startswith(("- resnet8:", "- resnet8 skip 0.5:"))]
    (plain,) = [ln for ln in lines if ln.startswith("- plain8:")]
    assert len(residual) == 2 and all(
        "barely notices" in ln or "more than" in ln for ln in residual
    )
    assert "near chance" in plain or "unlike Veit et al.'s plain net" in plain
    assert not [b for b in at.button if (b.key or "").startswith("lab.view.ctl")]  # not live


def test_shattering_results_are_shown(open_page, store, charts, monkeypatch):
    monkeypatch.setattr(analyses_mod, "CPU_DEPTHS", (8, 14))
    run_id = cohort_run(store, "shattering", "plain8;resnet8", analyses="shattering")
    at = open_page(LAB, query_params={"run": run_id})

    assert not at.exception
    specs = charts(at)
    depth = specs["lab.shatter_depth"]["data"]
    assert [t["x"] for t in depth] == [[8, 14], [8, 14]]
    assert [t["name"] for t in specs["lab.shatter_lags"]["data"]] == ["plain8", "resnet8"]
    during = specs["lab.shatter_during"]["data"]
    assert [len(t["y"]) for t in during] == [2, 2]  # two evaluations
    verdict = store.get_run(run_id).summary["verdict"]
    assert verdict["reproduced"] in (True, False)


def test_unknown_run_warns(open_page):
    at = open_page(LAB, query_params={"run": "20990101-000000-abcdef"})
    assert not at.exception
    assert any("not in the run store" in w.value for w in at.warning)


def test_a_fresh_skip_lab_offers_the_cohort_that_is_training(open_page, store):
    record_run(store, TrainConfig().with_overrides({"name": "single"}))
    cohort = record_run(store, TrainConfig().with_overrides({"name": "pair", "cohort": "plain8"}))
    store.mark_started(cohort, device="cpu", total_steps=100)
    at = open_page(LAB)

    (offer,) = [i for i in at.info if "is training now" in i.value]
    assert offer.value.startswith("**pair** is training now: resnet8 vs plain8")
    (button,) = [b for b in at.button if b.key == "lab.run_id.open_live"]
    button.click().run()

    assert not at.exception, at.exception
    assert at.query_params.get("run") == cohort
    assert [b for b in at.button if b.label == "Switch skips"]  # with its live controls


def test_a_link_to_a_run_fills_the_sidebar_with_that_runs_own_setup(open_page, store):
    """A reload or a second tab on ``?run=`` showed the preset's setup (resnet20; resnet20,
    3 epochs) above a run of resnet8s over 12 epochs."""
    from resnet_viz.train.presets import get_preset

    cfg = get_preset("pull-skips").with_overrides(
        {"model.arch": "resnet8", "cohort": "resnet8", "epochs": 12, "data.train_size": 1024}
    )
    run_id = record_run(store, cfg)
    at = open_page(LAB, query_params={"run": run_id})

    assert not at.exception, at.exception
    assert at.selectbox(key="lab.preset").value == "pull-skips"
    assert at.text_area(key="lab.members").value == "resnet8; resnet8"
    assert at.number_input(key="lab.epochs").value == 12
    assert at.number_input(key="lab.train_size").value == 1024
    assert any("resnet8 vs resnet8" in m.value and "12 ep" in m.value for m in at.markdown)
