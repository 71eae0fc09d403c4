"""Train: set up a run, start it, watch it learn live. The setup is kept in the URL."""

import dataclasses

import streamlit as st

from resnet_viz import ui
from resnet_viz.archs import ARCHS, CIFAR_ARCHS, depth, stage_count
from resnet_viz.config import DATASETS, DEVICES, MAX_SNAPSHOTS, OPTIMIZERS, SCHEDULES, TrainConfig
from resnet_viz.devices import pick_device
from resnet_viz.figures.training import line_figure
from resnet_viz.paths import data_root, resolve_under
from resnet_viz.train.cohort import lr_schedule
from resnet_viz.train.launcher import prewarm
from resnet_viz.train.presets import PRESETS, get_preset
from resnet_viz.ui.launch import start_row, twin_button
from resnet_viz.ui.links import remember_link, report_link

ui.route_through_app()

URL = {"bind": "query-params"}
# What the widgets offer where it is narrower than the configuration allows: the choices, or the
# lowest and highest value. A shared link asking for more is told so (ui.links).
LIMITS: dict = {
    "data.image_size": [32, 64, 96, 128, 224],
    "batch_size": [16, 32, 64, 128, 256, 512],
    "data.train_size": (0, 1_000_000),
    "data.val_size": (0, 1_000_000),
    "optim.lr": (1e-5, 10.0),
    "optim.weight_decay": (0.0, 1.0),
    "optim.momentum": (0.0, 0.99),
    "optim.grad_clip": (0.0, 1000.0),
    "epochs": (1, 1000),
}


def stage_names(arch: str) -> list[str]:
    return [f"stage {i}" for i in range(1, stage_count(arch) + 1)]


def widget_values(cfg: TrainConfig) -> dict:
    """The Train page's widget values for ``cfg`` (keys are the widget keys = URL params)."""
    stages = stage_names(cfg.model.arch)
    skip = cfg.model.skip * len(stages) if len(cfg.model.skip) == 1 else cfg.model.skip
    values = {k: v for k, v in cfg.flat_values().items() if k != "model.skip"}
    values["skips"] = [name for name, s in zip(stages, skip, strict=False) if s > 0]
    return values


def config_from_widgets() -> TrainConfig:
    ss = st.session_state
    stages = stage_names(ss["model.arch"])
    flat = {k: ss[k] for k in TrainConfig().flat() if k in ss and k != "model.skip"}
    flat["model.skip"] = ",".join("1" if s in (ss["skips"] or []) else "0" for s in stages)
    cfg = get_preset("default").with_overrides(flat)
    if cfg.name in ("", PRESETS[ss["preset"]].config.name):  # nobody named it: say what it is
        cfg = dataclasses.replace(cfg, name=ui.store().distinct_name(cfg.setup_name()))
    if cfg.data.dataset != "shapes" and cfg.data.folder:
        resolve_under(data_root(), cfg.data.folder)  # raises InputError if it leaves the root
    return cfg


def apply_preset() -> None:
    for key, value in widget_values(get_preset(st.session_state["preset"])).items():
        st.session_state[key] = value


def reset_skips() -> None:
    st.session_state["skips"] = stage_names(st.session_state["model.arch"])


def number(where, label: str, key: str, **kwargs) -> None:
    """A number input bound to the URL, within LIMITS[key], starting at the default preset."""
    where.number_input(label, *LIMITS[key], D[key], key=key, **URL, **kwargs)


# Widget defaults are the default preset: Streamlit drops a bound URL parameter that equals its
# widget's default, so a link carries exactly what differs from the default preset.
D = widget_values(get_preset("default"))
ARCH_NOTES = {
    a: f"CIFAR-style ResNet-{depth(a)} (He et al. 2015, §4.2): 16/32/64 filters, "
    "parameter-free identity shortcuts."
    for a in CIFAR_ARCHS
}
ARCH_NOTES |= {
    a: f"torchvision {a}; ImageNet design, works on small images too."
    for a in ARCHS
    if a not in CIFAR_ARCHS
}

st.title("Train")
remember_link(st.query_params.to_dict(), LIMITS)
prewarm(ui.store())  # a worker with torch imported, so Start begins training at once

with st.sidebar:
    st.header("Setup")
    st.selectbox(
        "Preset",
        list(PRESETS),
        key="preset",
        on_change=apply_preset,
        **URL,
        help="Loads a complete setup; change anything below afterwards.",
    )
    st.caption(PRESETS[st.session_state["preset"]].description)
    st.text_input("Run name", D["name"], key="name", **URL)

    st.subheader("Model")
    arch = st.selectbox(
        "Architecture",
        ARCHS,
        ARCHS.index(D["model.arch"]),
        key="model.arch",
        on_change=reset_skips,
        **URL,
    )
    st.caption(ARCH_NOTES[arch])
    stages = stage_names(arch)
    st.pills(
        "Skip connections on in",
        stages,
        selection_mode="multi",
        default=stages,
        key="skips",
        **URL,
        help="Deselect a stage to turn its residual blocks into plain layer pairs; deselect all "
        "for the plain twin (same layers, same parameters).",
    )
    st.toggle("BatchNorm", D["model.batchnorm"], key="model.batchnorm", **URL)
    st.toggle(
        "Pretrained ImageNet weights",
        D["model.pretrained"],
        key="model.pretrained",
        **URL,
        disabled=arch in CIFAR_ARCHS,
        help="torchvision models only; needs the weights in the torch hub cache or internet.",
    )

    st.subheader("Data")
    dataset = st.selectbox(
        "Dataset", DATASETS, DATASETS.index(D["data.dataset"]), key="data.dataset", **URL
    )
    if dataset != "shapes":
        st.text_input(
            "Folder under the data root",
            D["data.folder"],
            key="data.folder",
            **URL,
            help=f"Relative to {data_root()}. CIFAR-10: optional (default 'cifar10'). Image "
            "folder: one subfolder per class, or train/ and val/ each with those subfolders.",
        )
    sizes = LIMITS["data.image_size"]
    st.selectbox(
        "Image size (pixels)",
        sizes,
        sizes.index(D["data.image_size"]),
        key="data.image_size",
        **URL,
    )
    c1, c2 = st.columns(2)
    number(c1, "Train images", "data.train_size", step=1000,
           help="Shapes: how many to draw. Others: a cap; 0 = all.")  # fmt: skip
    number(c2, "Val images", "data.val_size", step=500)
    st.toggle("Augment (random crop + flip)", D["data.augment"], key="data.augment", **URL)

    st.subheader("Optimisation")
    c1, c2 = st.columns(2)
    optimizers = list(OPTIMIZERS)
    optimizer = c1.selectbox(
        "Optimizer",
        optimizers,
        optimizers.index(D["optim.optimizer"]),
        key="optim.optimizer",
        **URL,
        help="sgd: SGD with (Nesterov) momentum. adamw: AdamW.",
    )
    number(c2, "Learning rate", "optim.lr", step=0.01, format="%.4g")
    schedules = list(SCHEDULES)
    c1.selectbox(
        "Schedule", schedules, schedules.index(D["optim.schedule"]), key="optim.schedule", **URL
    )
    number(c2, "Weight decay", "optim.weight_decay", step=1e-4, format="%.4g")
    if optimizer == "sgd":
        number(c1, "Momentum", "optim.momentum", step=0.05)
    number(
        c1, "Clip gradient norm", "optim.grad_clip", step=0.5, format="%.4g",
        help="Scale each step's gradient down to this global L2 norm when it is larger; 0 = "
        "off. Keeps one bad batch from wrecking a net without BatchNorm. The gradient charts "
        "show the gradients before clipping.",
    )  # fmt: skip
    batch_sizes = LIMITS["batch_size"]
    c2.selectbox(
        "Batch size", batch_sizes, batch_sizes.index(D["batch_size"]), key="batch_size", **URL
    )
    number(c1, "Epochs", "epochs")
    c2.number_input("Seed", 0, 2**31 - 1, D["seed"], key="seed", **URL)
    c1.number_input("Weight snapshots", 0, MAX_SNAPSHOTS, D["snapshots"], key="snapshots", **URL,
                    help="Kept evenly through training for the Landscape path.")  # fmt: skip

    st.subheader("Device")
    devices = list(DEVICES)
    st.selectbox("Train on", devices, devices.index(D["device"]), key="device", **URL)
    device, why = pick_device(st.session_state["device"])
    st.caption(f"**{device}** — {why}")
report_link()

cfg, run_id = start_row(
    config_from_widgets,
    lambda cfg: f"**{ui.md(cfg.name)}** · {cfg.describe()} · on {device}",
    what="setup",
    label="Start training",
    icon=":material/play_arrow:",
    key="train.run_id",
)
if run_id:
    twin_button(run_id)
    ui.show_run(run_id, key="train")
else:
    st.info(
        "Choose a setup in the sidebar (or keep the default preset) and press **Start training**. "
        "Charts appear within seconds and keep updating while it trains; you can switch pages "
        "or open a second tab meanwhile."
    )
    if cfg is not None:
        # Also loads the browser's chart library now, not when the first training charts need
        # it: on a 2-core laptop that took ~2.5 s, most of the wait for the first chart.
        epochs, lrs = lr_schedule(cfg)
        ui.plot(
            st,
            line_figure(
                {f"{cfg.optim.optimizer} · {cfg.optim.schedule}": (epochs, lrs)},
                title="Learning rate over this run (the schedule you chose)",
                y_title="learning rate",
                y="zero",
                x="linear",
                height=260,
            ).update_xaxes(title_text="epoch"),
            key="train.schedule",
        )
