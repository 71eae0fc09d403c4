"""Train page: the setup widgets (presets, skips, validation, URL), starting a run, and the run
view of live, finished, stopped and diverged runs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from resnet_viz.config import TrainConfig
from resnet_viz.errors import ConfigError
from resnet_viz.train.launcher import record_run
from resnet_viz.train.presets import get_preset

from ..conftest import shown, wait_for

TRAIN = "pages/train.py"
CONFIG_KEYS = set(TrainConfig().flat()) - {"model.skip"}
# No BatchNorm, no skips and a huge constant learning rate: the loss explodes within 2 steps.
DIVERGING = {
    "model.batchnorm": False,
    "model.skip": "0",
    "optim.lr": 10,
    "optim.schedule": "constant",
}


def start_button(at):
    (button,) = [b for b in at.button if "Start training" in b.label]
    return button


def stop_buttons(at):
    return [b for b in at.button if (b.key or "").startswith("train.stop.")]


def widget_config(at) -> TrainConfig:
    """The configuration the sidebar shows, read back from the widgets as a user sees them."""
    widgets = [*at.selectbox, *at.number_input, *at.toggle, *at.text_input]
    flat = {w.key: str(w.value) for w in widgets if w.key in CONFIG_KEYS}
    skips = at.pills(key="skips")
    flat["model.skip"] = ",".join("1" if o in (skips.value or []) else "0" for o in skips.options)
    return TrainConfig().with_overrides(flat)


def summary(at) -> str:
    """The setup summary next to the Start button: ``**name** · <cfg.describe()> · on cpu``,
    the setup's part from the first `` · `` on."""
    (line,) = [m.value for m in at.markdown if m.value.startswith("**") and " · on " in m.value]
    return line[line.index("** · ") + 2 :]


def summary_of(cfg: TrainConfig) -> str:
    return f" · {cfg.describe()} · on "


def summary_name(at) -> str:
    (line,) = [m.value for m in at.markdown if m.value.startswith("**") and " · on " in m.value]
    return shown(line[2 : line.index("** · ")])


def set_tiny(at, *, name: str = "ui-run", lr: float = 0.05) -> None:
    at.text_input(key="name").set_value(name)
    at.number_input(key="data.train_size").set_value(256)
    at.number_input(key="data.val_size").set_value(128)
    at.selectbox(key="batch_size").set_value(64)
    at.number_input(key="epochs").set_value(1)
    at.number_input(key="optim.lr").set_value(lr)


# ---- setup widgets -------------------------------------------------------------------------
def test_defaults_are_the_default_preset(open_page):
    at = open_page(TRAIN)

    assert not at.exception
    assert at.selectbox(key="preset").value == "default"
    assert at.pills(key="skips").value == ["stage 1", "stage 2", "stage 3"]
    preset = get_preset("default")
    all_on = dataclasses.replace(preset.model, skip=(1.0, 1.0, 1.0))
    assert widget_config(at) == dataclasses.replace(preset, model=all_on)
    # Shapes needs no folder, so the folder box is hidden; a valid setup can start.
    assert not [w for w in at.text_input if w.key == "data.folder"]
    assert not at.error
    assert not start_button(at).disabled
    assert summary(at).startswith(summary_of(preset))
    assert [i for i in at.info if "Start training" in i.value]


def test_choosing_a_preset_loads_its_setup(open_page):
    at = open_page(TRAIN)
    at.number_input(key="epochs").set_value(17).run()  # a change the preset must overwrite

    at.selectbox(key="preset").set_value("shapes-plain20").run()

    assert not at.exception
    assert at.selectbox(key="model.arch").value == "resnet20"
    assert at.pills(key="skips").value == []
    assert at.number_input(key="epochs").value == 6
    assert at.text_input(key="name").value == "shapes-plain20"
    preset = get_preset("shapes-plain20")
    no_skips = dataclasses.replace(preset.model, skip=(0.0, 0.0, 0.0))
    assert widget_config(at) == dataclasses.replace(preset, model=no_skips)
    assert summary(at).startswith(summary_of(widget_config(at)))
    assert any("plain twin" in c.value for c in at.sidebar.caption)

    at.selectbox(key="preset").set_value("cifar10-resnet20").run()
    assert at.pills(key="skips").value == ["stage 1", "stage 2", "stage 3"]
    assert at.selectbox(key="data.dataset").value == "cifar10"
    assert at.selectbox(key="optim.schedule").value == "step"
    assert at.toggle(key="data.augment").value is True
    assert not at.error  # CIFAR-10 with no folder means the default folder


def test_changing_arch_resets_skips_to_every_stage_of_the_new_arch(open_page):
    at = open_page(TRAIN)
    at.pills(key="skips").unselect("stage 2").run()
    assert at.pills(key="skips").value == ["stage 1", "stage 3"]
    assert widget_config(at).model.skip == (1.0, 0.0, 1.0)
    assert summary(at).startswith(summary_of(widget_config(at)))
    assert at.toggle(key="model.pretrained").disabled  # CIFAR nets have no ImageNet weights

    at.selectbox(key="model.arch").set_value("resnet18").run()
    skips = at.pills(key="skips")
    assert skips.options == ["stage 1", "stage 2", "stage 3", "stage 4"]
    assert skips.value == ["stage 1", "stage 2", "stage 3", "stage 4"]
    assert widget_config(at).model.skip == (1.0, 1.0, 1.0, 1.0)
    assert not at.toggle(key="model.pretrained").disabled

    at.pills(key="skips").unselect("stage 4").run()
    at.selectbox(key="model.arch").set_value("resnet56").run()
    skips = at.pills(key="skips")
    assert skips.options == skips.value == ["stage 1", "stage 2", "stage 3"]
    assert widget_config(at).model.skip == (1.0, 1.0, 1.0)
    assert at.toggle(key="model.pretrained").disabled
    assert not at.exception


def test_invalid_setup_shows_error_and_disables_start(open_page, data_dir):
    at = open_page(TRAIN)
    at.selectbox(key="data.dataset").set_value("folder").run()

    assert [shown(e.value) for e in at.error] == ["This setup cannot run: data.folder is required"]
    assert start_button(at).disabled

    for outside in ("../../etc", "/etc"):
        at.text_input(key="data.folder").set_value(outside).run()
        (error,) = at.error
        assert "outside the data root" in error.value
        assert str(data_dir.resolve()) in shown(error.value)
        assert start_button(at).disabled

    at.text_input(key="data.folder").set_value("my-images").run()  # checked when training starts
    assert not at.error
    assert not start_button(at).disabled
    assert not at.exception


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_gpu_falls_back_to_cpu_with_a_reason(open_page):
    at = open_page(TRAIN)
    at.selectbox(key="device").set_value("cuda").run()

    assert any("CUDA was asked for but is not available" in c.value for c in at.sidebar.caption)
    assert not start_button(at).disabled
    assert summary(at).endswith(" · on cpu")


# ---- the URL -------------------------------------------------------------------------------
def test_query_params_preset_the_widgets(open_page):
    at = open_page(
        TRAIN,
        query_params={
            "epochs": "2", "optim.lr": "0.05", "batch_size": "64", "data.augment": "true",
            "skips": ["stage 1", "stage 3"], "data.dataset": "folder", "data.folder": "mine",
            "name": "from-a-link",
        },
    )  # fmt: skip

    assert not at.exception
    cfg = widget_config(at)
    assert (cfg.epochs, cfg.optim.lr, cfg.batch_size) == (2, 0.05, 64)
    assert cfg.data.augment is True
    assert cfg.model.skip == (1.0, 0.0, 1.0)
    assert (cfg.data.dataset, cfg.data.folder, cfg.name) == ("folder", "mine", "from-a-link")
    assert cfg.model.arch == "resnet8"  # what the link left out comes from the default preset


def test_query_params_take_plain_config_values_for_arch_and_optimizer(open_page):
    """The URL shares the CLI's flat key space (a selectbox with a format_func would bind its
    label instead and drop ?model.arch=resnet20)."""
    at = open_page(TRAIN, query_params={"model.arch": "resnet20", "optim.optimizer": "adamw"})

    assert not at.exception
    assert at.selectbox(key="model.arch").value == "resnet20"
    assert at.selectbox(key="optim.optimizer").value == "adamw"
    assert at.query_params["model.arch"] == "resnet20"


def test_link_to_a_torchvision_arch_has_every_skip_on(open_page):
    at = open_page(TRAIN, query_params={"model.arch": "resnet18"})

    assert at.pills(key="skips").value == ["stage 1", "stage 2", "stage 3", "stage 4"]
    assert widget_config(at).model.skip == (1.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("skips", "", []),
        ("model.batchnorm", "false", False),
        ("epochs", "1", 1),
        ("optim.schedule", "constant", "constant"),
        ("optim.weight_decay", "0", 0.0),
        ("optim.grad_clip", "2", 2.0),
    ],
)
def test_query_param_that_differs_from_the_default_preset_is_applied(open_page, key, raw, value):
    """Streamlit ignores a bound param equal to its *widget's* default; the widget defaults must
    therefore be the default preset, or ?skips= (the plain net) and ?model.batchnorm=false
    would open with skips/BN on."""
    at = open_page(TRAIN, query_params={key: raw})

    assert at.sidebar.get_by_key(key).value == value


# ---- starting, stopping and showing runs ---------------------------------------------------
def test_start_records_the_run_trains_it_and_shows_it(open_page, store, wait_ended, charts):
    """A real worker process: the store is the source of truth for what the page shows."""
    at = open_page(TRAIN)
    set_tiny(at, name="ui-run", lr=0.05)
    at.run()
    start_button(at).click().run()

    assert not at.exception, at.exception
    (run,) = store.list_runs()
    assert run.name == "ui-run"
    assert run.config.epochs == 1
    assert run.config.optim.lr == pytest.approx(0.05)
    assert run.config.batch_size == 64
    assert run.config.data.train_size == 256
    assert run.pid  # the worker process was started and recorded
    assert at.session_state["train.run_id"] == run.id
    assert at.query_params.get("run") == run.id
    assert any(run.id in m.value for m in at.markdown)
    assert any("Started ui-run" in shown(t.value) for t in at.toast)
    assert not [i for i in at.info if "press **Start training**" in i.value]

    final = wait_ended(run.id)
    assert final.status == "finished", final.reason
    at.run()  # the fragment timer never fires in AppTest; a rerun shows the stored state

    assert not at.exception
    assert not stop_buttons(at)
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"
    (progress,) = at.get("progress")
    assert progress.value == 100
    specs = charts(at)
    loss = {t["name"]: t for t in specs["train.loss"]["data"]}
    assert len(loss["train (per batch)"]["y"]) == final.step == final.total_steps == 4
    assert len(loss["val"]["y"]) == 2  # evals_per_epoch = 2
    assert specs["train.heat.0"]["data"][0]["type"] == "heatmap"
    assert (store.run_dir(run.id) / "model-0.safetensors").exists()


def test_stop_button_stops_the_run(open_page, store, wait_ended, charts):
    at = open_page(TRAIN)
    set_tiny(at, name="to-stop")
    at.run()
    start_button(at).click().run()
    (run,) = store.list_runs()
    # Its worker takes its slot in the queue within a moment; until then the button cancels.
    wait_for(lambda: store.get_run(run.id).status == "running", timeout=60, what="running")
    at.run()
    (stop,) = stop_buttons(at)
    assert stop.key == f"train.stop.{run.id}" and stop.label == "Stop"

    stop.click().run()

    assert not at.exception
    assert [c.kind for c in store.pending_controls(run.id)] in (["stop"], [])  # [] once applied
    assert any("Stop requested" in t.value for t in at.toast)
    final = wait_ended(run.id)
    assert final.status == "stopped"
    assert final.reason.startswith("Stopped from the app at step")
    at.run()
    assert not stop_buttons(at)
    assert any(i.value.startswith("**Stopped.**") for i in at.info)
    shapes = charts(at)["train.loss"]["layout"].get("shapes", [])
    assert [s["x0"] for s in shapes] == [final.step]  # the stop is marked on the chart


def test_start_failure_is_reported_and_records_nothing(open_page, store, monkeypatch):
    def refuse(store, cfg, **kwargs):
        raise ConfigError("the GPU is on fire")

    monkeypatch.setattr("resnet_viz.train.launcher.launch", refuse)
    at = open_page(TRAIN)
    start_button(at).click().run()

    assert not at.exception
    assert [e.value for e in at.error] == ["Cannot start: the GPU is on fire"]
    assert "train.run_id" not in at.session_state
    assert "run" not in at.query_params
    assert store.list_runs() == []


def test_before_a_run_the_page_plots_the_chosen_learning_rate_schedule(open_page, charts):
    at = open_page(TRAIN)
    (trace,) = charts(at)["train.schedule"]["data"]
    assert trace["name"] == "adamw · onecycle" and max(trace["y"]) == pytest.approx(0.01)
    assert trace["y"].index(max(trace["y"])) > 0  # one-cycle warms up first

    at.selectbox(key="optim.schedule").set_value("step").run()
    at.number_input(key="optim.lr").set_value(0.1).run()
    (trace,) = charts(at)["train.schedule"]["data"]
    assert trace["name"] == "adamw · step"
    assert trace["y"][0] == pytest.approx(0.1) and trace["y"][-1] == pytest.approx(0.001)


def test_active_run_has_stop_button_and_progress(open_page, store):
    """A started run with no step yet renders as live: Stop button and a 'preparing' note."""
    from resnet_viz.train.launcher import record_run

    run_id = record_run(store, TrainConfig().with_overrides({"name": "starting"}))
    store.mark_started(run_id, device="cpu", total_steps=100)
    at = open_page(TRAIN, query_params={"run": run_id})

    assert not at.exception
    assert [b.key for b in stop_buttons(at)] == [f"train.stop.{run_id}"]
    assert any("Preparing data and model" in i.value for i in at.info)
    assert {m.label: m.value for m in at.metric}["Status"] == "running"


def test_a_queued_run_says_where_it_waits_and_can_be_cancelled(open_page, store):
    from resnet_viz.train.launcher import CANCELLED, record_run

    first = record_run(store, TrainConfig().with_overrides({"name": "first"}))
    store.claim(first, 1)
    run_id = record_run(store, TrainConfig().with_overrides({"name": "waiting"}))
    later = record_run(store, TrainConfig().with_overrides({"name": "later"}))
    at = open_page(TRAIN, query_params={"run": later})
    assert not at.exception
    (info,) = [i.value for i in at.info if "Waiting in the queue" in i.value]
    assert "1 run trains at once (RESNET_VIZ_MAX_RUNS). 1 run waits ahead of it" in shown(info)
    assert not any("Preparing" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Switch skips"]
    assert not at.get("plotly_chart")  # no empty charts while it waits
    assert not [t for t in at.toggle if t.key and t.key.endswith("charts_every_second")]

    at = open_page(TRAIN, query_params={"run": run_id})
    assert any("It is next" in i.value for i in at.info)
    (cancel,) = stop_buttons(at)
    assert cancel.label == "Cancel"
    cancel.click().run()
    assert not at.exception
    assert [t.value for t in at.toast] == ["Cancelled: taken out of the queue."]
    run = store.get_run(run_id)
    assert run.status == "stopped" and run.reason == CANCELLED
    assert store.queue_position(later) == 0


def test_on_a_small_cpu_live_charts_redraw_every_3_s_unless_asked_otherwise(
    open_page, store, monkeypatch
):
    from resnet_viz.train.launcher import record_run

    monkeypatch.setattr("resnet_viz.ui.runcharts.os.cpu_count", lambda: 2)
    run_id = record_run(store, TrainConfig().with_overrides({"name": "live"}))
    store.mark_started(run_id, device="cpu", total_steps=100)
    at = open_page(TRAIN, query_params={"run": run_id})
    # The progress line runs ahead of charts drawn every 3 s: the caption says which step they show.
    assert any("Charts show step 0. They redraw every 3 s" in c.value for c in at.caption)

    at.toggle(key="train.charts_every_second").set_value(True).run()
    assert not at.exception
    assert any("They redraw every second" in c.value for c in at.caption)

    monkeypatch.setattr("resnet_viz.ui.runcharts.os.cpu_count", lambda: 16)
    at.run()  # a larger CPU redraws every second anyway: no switch to offer
    assert not [t for t in at.toggle if t.key == "train.charts_every_second"]


def test_finished_run_shows_curves_gradient_heatmap_and_layer_lines(
    open_page, store, train_run, charts
):
    run_id = train_run("done")
    at = open_page(TRAIN, query_params={"run": run_id})

    assert not at.exception
    assert not stop_buttons(at)
    assert any(f"done · `{run_id}`" in m.value for m in at.markdown)
    specs = charts(at)
    for key in ("train.loss", "train.acc"):
        names = [t["name"] for t in specs[key]["data"]]
        assert names == ["train (per batch)", "train (smoothed)", "val"]
        assert all(len(t["y"]) for t in specs[key]["data"])
    assert specs["train.acc"]["layout"]["title"]["text"] == "Accuracy"

    (heat,) = specs["train.heat.0"]["data"]
    assert heat["type"] == "heatmap"
    layers = list(store.member_layers(run_id))
    assert heat["y"] == layers
    assert heat["y"][0] == "conv1" and heat["y"][-1] == "fc"
    assert len(heat["x"]) == 4 and len(heat["z"]) == len(layers)

    (pick,) = at.multiselect
    assert pick.label == "Layers to plot as lines"
    assert pick.options == layers
    assert pick.value == [layers[0], layers[len(layers) // 2], layers[-1]]
    assert [t["name"] for t in specs["train.lines.0"]["data"]] == pick.value

    at.multiselect[0].set_value(["fc", "conv1"]).run()
    assert [t["name"] for t in charts(at)["train.lines.0"]["data"]] == ["fc", "conv1"]
    at.multiselect[0].set_value([]).run()
    assert "train.lines.0" not in charts(at)
    assert not at.exception


def test_diverged_run_explains_itself(open_page, store, train_run, charts):
    run_id = train_run("boom", **DIVERGING)
    run = store.get_run(run_id)
    assert run.status == "diverged", (run.status, run.reason)
    step = run.summary["models"][0]["diverged_at"]

    at = open_page(TRAIN, query_params={"run": run_id})

    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("**Diverged.**")
    assert f"diverged at step {step}" in error.value
    assert {m.label: m.value for m in at.metric}["Status"] == "diverged"
    shapes = charts(at)["train.loss"]["layout"]["shapes"]
    assert {s["x0"] for s in shapes} == {step}  # the divergence is marked on the chart


def test_diverged_error_says_how_the_loss_diverged(open_page, store, train_run):
    run_id = train_run("boom", **DIVERGING)
    (event,) = [e for e in store.events(run_id) if e.kind == "diverged"]

    at = open_page(TRAIN, query_params={"run": run_id})

    (error,) = at.error
    assert event.message in shown(error.value)


def test_unknown_run_in_url_warns(open_page):
    at = open_page(TRAIN, query_params={"run": "20990101-000000-abcdef"})

    assert not at.exception
    assert not at.error
    (warning,) = at.warning
    assert "20990101-000000-abcdef" in warning.value
    assert "not in the run store" in warning.value
    assert not start_button(at).disabled  # the setup is still usable


# ---- turning a run into a cohort (Skip Lab) ------------------------------------------------
def twin_button(at):
    return [b for b in at.button if b.key == "train.twin"]


def test_a_single_run_can_be_trained_again_with_its_twin(open_page, store, train_run, wait_ended):
    run_id = train_run("single")
    at = open_page(TRAIN, query_params={"run": run_id})
    (button,) = twin_button(at)
    assert button.label == "Train again with its plain twin (plain8)"

    button.click().run()

    assert not at.exception, at.exception
    cohort = next(r for r in store.list_runs() if r.id != run_id)
    assert cohort.members == ("resnet8", "plain8")
    assert cohort.name == "single + plain8"
    original = store.get_run(run_id).config
    assert cohort.config.data == original.data and cohort.config.optim == original.optim
    assert cohort.config.analyses == ("lesion",)
    assert at.session_state["lab.run_id"] == cohort.id  # the Skip Lab shows it
    assert any(t.value == "Skip Lab" for t in at.title)
    assert wait_ended(cohort.id).status == "finished"


def test_a_plain_run_gets_its_residual_twin_and_a_cohort_gets_none(open_page, store, train_run):
    plain = train_run("plain", **{"model.skip": "0"})
    at = open_page(TRAIN, query_params={"run": plain})
    (button,) = twin_button(at)
    assert button.label == "Train again with its residual twin (resnet8)"

    cohort = record_run(store, TrainConfig().with_overrides({"cohort": "plain8"}))
    at = open_page(TRAIN, query_params={"run": cohort})
    assert not twin_button(at)
    assert not at.exception


# ---- one address per run ----------------------------------------------------------------------
def test_a_fresh_page_offers_the_run_that_is_training(open_page, store):
    """A second tab opened on /train while a run trains is offered that run."""
    older = record_run(store, TrainConfig().with_overrides({"name": "older"}))
    live = record_run(store, TrainConfig().with_overrides({"name": "live"}))
    record_run(store, TrainConfig().with_overrides({"name": "pair", "cohort": "plain8"}))
    at = open_page(TRAIN)

    (offer,) = [i for i in at.info if "is training now" in i.value]
    assert offer.value.startswith("**live** is training now: resnet8 · shapes")  # the newest
    (button,) = [b for b in at.button if b.key == "train.run_id.open_live"]

    button.click().run()

    assert not at.exception, at.exception
    assert at.session_state["train.run_id"] == live and at.query_params.get("run") == live
    assert [b.key for b in stop_buttons(at)] == [f"train.stop.{live}"]
    assert not [i for i in at.info if "is training now" in i.value]
    assert older != live


def test_no_offer_when_nothing_of_the_kind_trains(open_page, store, train_run):
    train_run("done")  # finished: nothing to open
    record_run(store, TrainConfig().with_overrides({"name": "pair", "cohort": "plain8"}))
    at = open_page(TRAIN)
    assert not [i for i in at.info if "is training now" in i.value]


def test_an_unnamed_run_is_named_after_its_setup_and_numbered(open_page, store):
    at = open_page(TRAIN)
    assert summary_name(at) == "resnet8 · shapes"  # the preset's name was left as it was
    at.pills(key="skips").set_value([]).run()
    at.selectbox(key="model.arch").set_value("resnet20").run()
    at.pills(key="skips").set_value([]).run()
    assert summary_name(at) == "plain20 · shapes"
    record_run(store, TrainConfig(name="plain20 · shapes"))
    at.run()
    assert summary_name(at) == "plain20 · shapes #2"
    at.text_input(key="name").set_value("my run").run()
    assert summary_name(at) == "my run"  # a name given is kept


def test_a_link_with_values_the_page_cannot_use_says_which_and_why(open_page):
    link = {"epochs": "-1", "optim.lr": "nan", "data.image_size": "7", "batch_size": "100",
            "data.train_size": "1e12", "seed": "3"}  # fmt: skip
    at = open_page(TRAIN, query_params=link)
    assert not at.exception
    (warning,) = [w.value for w in at.warning if "could not use" in w.value]
    for key in (
        "epochs",
        "optim\\.lr",
        "data\\.image\\_size",
        "batch\\_size",
        "data\\.train\\_size",
    ):
        assert f"- {key}\\=" in warning, (key, warning)
    assert "seed" not in warning  # a good value is used, not reported
    text = warning.replace("\\", "")  # as the reader sees it
    assert "epochs=-1 ignored: epochs must be between 1 and 1000" in text
    assert "data.image_size=7 ignored: data.image_size must be between 8 and 512" in text
    assert "batch_size=100 ignored: this page offers 16, 32, 64, 128, 256, 512." in text
    assert "data.train_size=1e12 ignored: must be from 0 to 1,000,000." in text
    assert at.number_input(key="seed").value == 3
    # Changing the setting by hand answers the warning for it.
    at.number_input(key="epochs").set_value(4).run()
    (warning,) = [w.value for w in at.warning if "could not use" in w.value]
    assert "- epochs\\=" not in warning and "batch\\_size" in warning


def test_a_hostile_run_name_in_a_link_stays_text(open_page):
    from resnet_viz.ui.text import md

    name = "![x](http://host/pixel.png) [Click to re-login](http://host/phish)"
    at = open_page(TRAIN, query_params={"name": name})
    assert not at.exception
    setup = [m.value for m in at.markdown if "on cpu" in m.value]
    assert setup and setup[0].startswith(f"**{md(name)}**")


def test_start_on_a_read_only_store_says_so_without_a_traceback(open_page, store, monkeypatch):
    import sqlite3

    from resnet_viz.store import runstore

    at = open_page(TRAIN)
    set_tiny(at)
    real = sqlite3.connect
    monkeypatch.setattr(
        runstore.sqlite3, "connect",
        lambda path, *a, **k: real(f"file:{path}?mode=ro", *a, uri=True, **k),
    )  # fmt: skip
    start_button(at).click().run()
    assert not at.exception, at.exception
    (error,) = [shown(e.value) for e in at.error]
    assert error.startswith("Cannot start: The run store") and "read-only" in error
    assert store.list_runs() == []
