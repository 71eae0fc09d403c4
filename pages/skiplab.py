"""Skip Lab: train variants side by side, switch skips live, and check published effects."""

import dataclasses

import streamlit as st

from resnet_viz import keys, ui
from resnet_viz.config import TrainConfig, parse_member
from resnet_viz.devices import pick_device
from resnet_viz.errors import ResNetVizError
from resnet_viz.experiments.gradflow import format_ratio, gradient_flow, ratio_verdict
from resnet_viz.experiments.lesion import LesionResult, describe
from resnet_viz.experiments.verdicts import FINAL_FRACTION
from resnet_viz.figures.lab import (
    grad_flow,
    lesion_bars,
    lesion_curve,
    shattering_by_depth,
    shattering_lags,
)
from resnet_viz.figures.training import line_figure, member_colour
from resnet_viz.train.launcher import prewarm
from resnet_viz.train.presets import LAB_PRESETS
from resnet_viz.ui.launch import start_row

ui.route_through_app()

CUSTOM = "custom"
TITLES = {name: p.title for name, p in LAB_PRESETS.items()} | {CUSTOM: "Your own cohort"}
CUSTOM_WATCH = (
    "Pick any models to train in lockstep: same batches in the same order, the same initial "
    "weights where the parameters match (a ResNet and its plain twin). Write one per line or "
    "separate them with ';': `resnet20`, `plain20` (skips off), `resnet20 skip 1,0,1` (per "
    "stage), `resnet20 skip 0.5` (scaled shortcut), `resnet20 no-BN zero-init`."
)


def sized(name: str) -> TrainConfig:
    preset = LAB_PRESETS.get(name, LAB_PRESETS["degradation"])
    cfg = preset.sized(accelerated=pick_device("auto")[0].type != "cpu")
    if name == CUSTOM:  # the degradation setup at full resolution, with no verdict to check
        data = dataclasses.replace(cfg.data, image_size=32)
        cfg = dataclasses.replace(cfg, name="cohort", experiment="", data=data)
    return cfg


def load_setup(cfg: TrainConfig | None = None) -> None:
    """Fill the editable fields from ``cfg``, or from the chosen experiment sized for this
    device."""
    cfg = cfg or sized(st.session_state["lab.preset"])
    st.session_state["lab.members"] = "; ".join(m.label for m in cfg.members)
    st.session_state["lab.epochs"] = cfg.epochs
    st.session_state["lab.lr"] = cfg.optim.lr
    st.session_state["lab.train_size"] = cfg.data.train_size


def config_from_widgets() -> TrainConfig:
    ss = st.session_state
    base = sized(ss["lab.preset"])
    labels = [t.strip() for t in ss["lab.members"].replace("\n", ";").split(";") if t.strip()]
    if not labels:
        raise ResNetVizError("Name at least one model, e.g. resnet20; plain20.")
    members = [parse_member(label) for label in labels]
    flat = {
        "epochs": ss["lab.epochs"],
        "optim.lr": ss["lab.lr"],
        "data.train_size": ss["lab.train_size"],
    }
    cohort = dataclasses.replace(base, model=members[0], cohort=tuple(members[1:]))
    cohort = dataclasses.replace(cohort, name=ui.store().distinct_name(cohort.name))
    return cohort.with_overrides(flat)


st.title("Skip Lab")
st.caption(
    "Why residual connections matter, from the networks themselves: train variants in lockstep "
    "(same batches, same initial weights), switch skips off and on while they train, and check "
    "published results against what this run measured."
)
prewarm(ui.store())

if "lab.members" not in st.session_state:
    # A link to a run (a reload, a second tab) opens that run's own setup, so the sidebar and
    # the summary above the run match what is shown.
    linked = ui.store().get_run(st.query_params["run"]) if "run" in st.query_params else None
    experiment = linked.config.experiment if linked else ""
    if linked and len(linked.config.members) > 1:
        st.session_state.setdefault(
            "lab.preset", experiment if experiment in LAB_PRESETS else CUSTOM
        )
        load_setup(linked.config)
    else:
        st.session_state.setdefault("lab.preset", next(iter(LAB_PRESETS)))
        load_setup()

with st.sidebar:
    st.header("Experiment")
    choice = st.selectbox(
        "Experiment", [*LAB_PRESETS, CUSTOM], format_func=TITLES.get, key="lab.preset",
        on_change=load_setup,
    )  # fmt: skip
    st.markdown(LAB_PRESETS[choice].watch if choice in LAB_PRESETS else CUSTOM_WATCH)
    st.text_area("Members (member 0 first)", key="lab.members", height=90)
    c1, c2 = st.columns(2)
    c1.number_input("Epochs", 1, 1000, key="lab.epochs")
    c2.number_input("Learning rate", 1e-5, 10.0, step=0.01, format="%.4g", key="lab.lr")
    st.number_input("Training images", 256, 1_000_000, step=1000, key="lab.train_size")
    device, why = pick_device("auto")
    st.caption(f"**{device}** — {why} Presets are sized for it (deeper and longer on a GPU).")

cfg, run_id = start_row(
    config_from_widgets,
    lambda cfg: f"**{TITLES[choice]}** · {cfg.describe()}",
    what="cohort",
    label="Start experiment",
    icon=":material/science:",
    key="lab.run_id",
    cohort=True,
)
if not run_id:
    st.info(
        "Pick an experiment in the sidebar and press **Start experiment**. Each member's curves "
        "overlay on every chart; while it trains, the live controls switch skips, scale the "
        "learning rate or freeze BatchNorm, and every chart marks the change."
    )
    st.stop()

store = ui.store()
record = store.get_run(run_id)
if record is not None:
    experiment = record.config.experiment
    verdict = (record.summary or {}).get("verdict")
    if experiment in LAB_PRESETS:
        # Unfolded while it trains (that is when a class needs it) and in presentation mode.
        shown = record.active or ui.presenting()
        with st.expander(f"What to watch: {LAB_PRESETS[experiment].title}", expanded=shown):
            st.markdown(LAB_PRESETS[experiment].watch)
    if verdict and verdict.get("reproduced") is True:
        st.success(f"**Verdict: reproduced.** {verdict['text']}", icon=":material/check_circle:")
    elif verdict and verdict.get("reproduced") is False:
        st.warning(f"**Verdict: did not reproduce.** {verdict['text']}", icon=":material/warning:")
    elif verdict:
        st.info(f"**No verdict.** {verdict['text']}")
    if verdict and "final train loss" in verdict["text"]:
        st.caption(
            f"A verdict's final loss is a member's mean per-batch training loss over the last "
            f"{FINAL_FRACTION:.0%} of steps; the table below shows the smoothed loss at the "
            "last step, so the two differ a little."
        )
    if not verdict and experiment in LAB_PRESETS and record.active:
        st.info("The verdict, computed from this run's own numbers, appears when it finishes.")

run = ui.show_run(run_id, key="lab.view", controls=True)
if run is None or run.active:
    st.stop()

# ---- after training ---------------------------------------------------------------------------
st.header("After training")
st.page_link(
    "pages/landscape.py",
    label="Draw these members' loss landscapes (Li et al. 2018)",
    icon=":material/landscape:",
    query_params={"run": run.id},
)
names = list(run.members) or [ui.plain(run.name)]
colours = {n: i for i, n in enumerate(names)}

st.subheader("Gradient flow")
flows = {
    n: f
    for i, n in enumerate(names)
    if (f := gradient_flow(store.layer_series(run.id, keys.GRAD_NORM, i)))
}
if flows:
    ui.plot(st, grad_flow(flows, colours=colours), key="lab.flow")
    st.caption(
        "Median gradient norm of each layer over the first, middle and last 10% of steps. "
        "First-to-last layer ratio (two orders of magnitude either way counts as vanishing or "
        "exploding; dead when no layer gets any gradient, every ReLU switched off): "
        + "; ".join(
            f"{n}: " + ", ".join(
                f"{p} {format_ratio(f.first_to_last(p))} ({ratio_verdict(f.first_to_last(p))})"
                for p in ("start", "middle", "end")
            )
            for n, f in flows.items()
        )
    )  # fmt: skip

lesions = store.analyses(run.id, keys.LESION)
if lesions:
    st.subheader("Lesion study")
    results = {names[i]: p for i, p in lesions.items() if i < len(names)}
    plain = {names[i]: m.plain for i, m in enumerate(run.config.members) if i < len(names)}
    c1, c2 = st.columns(2)
    ui.plot(c1, lesion_bars(results, colours=colours), key="lab.lesion")
    ui.plot(c2, lesion_curve(results, colours=colours), key="lab.lesion_k")
    st.markdown(
        "Each residual block is deleted in turn (its skip path kept, so the block passes its "
        "input on); for a plain member this removes a layer pair. Veit et al. (2016) found "
        "residual nets behave like ensembles of shallower paths: losing one block barely "
        "matters, while a plain net falls to chance.\n\n"
        + "\n".join(
            f"- {describe(n, LesionResult.from_dict(p), plain=plain.get(n))}"
            for n, p in results.items()
        )
    )

ui.generalisation(store, run, names)

shatter = store.analyses(run.id, keys.SHATTERING)
sweep = store.analyses(run.id, keys.SHATTERING_DEPTH).get(keys.RUN_LEVEL)
if shatter or sweep:
    st.subheader("Shattered gradients")
    c1, c2, c3 = st.columns(3)
    if sweep:
        ui.plot(c1, shattering_by_depth(sweep), key="lab.shatter_depth")
    if shatter:
        curves = {names[i]: p for i, p in shatter.items() if i < len(names)}
        ui.plot(c2, shattering_lags(curves, colours=colours), key="lab.shatter_lags")
    during = {n: store.scalars(run.id, keys.SHATTER_NEIGHBOUR, i) for i, n in enumerate(names)}
    if any(len(x) for x, _ in during.values()):
        ui.plot(
            c3,
            line_figure(
                during,
                title="Neighbour correlation during training",
                y_title="correlation",
                styles={n: {"color": member_colour(i)} for i, n in enumerate(names)},
            ),
            key="lab.shatter_during",
        )
    st.caption(
        "Correlation of the input gradients of nearby inputs (points along a random line "
        "through validation images), after removing their mean along the line. Balduzzi et al. "
        "(2017): in plain nets it decays towards white noise as depth grows, even when "
        "gradient norms look healthy; residual nets keep it."
    )
