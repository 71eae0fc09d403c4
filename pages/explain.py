"""Explain: which pixels made the network say that, and how far to trust the answer."""

from typing import NamedTuple

import numpy as np
import streamlit as st
import torch

from resnet_viz import ui, zoo
from resnet_viz.errors import ResNetVizError
from resnet_viz.explain import (
    METHODS,
    Job,
    Options,
    default_layer,
    empty_reason,
    grad_cam_layers,
    layer_label,
    make_job,
    method_info,
    sanity,
    to_unit,
)
from resnet_viz.explain.quality import score, summarise
from resnet_viz.figures import explain as figures
from resnet_viz.ui import explainjobs, sources

ui.route_through_app()

DEFAULT_METHODS = ["gradcam", "saliency"]
SANITY_DRAWS = 8


class View(NamedTuple):
    """The model, the chosen pictures by image key (a picture given twice is explained once),
    and the one on show, as the model sees it."""

    loaded: zoo.LoadedModel
    mkey: str
    tensors: dict[str, torch.Tensor]
    samples: dict[str, zoo.Sample]
    ikey: str
    picture: np.ndarray


class Controls(NamedTuple):
    """What to explain and how to show it: the choices above the maps."""

    target: int
    methods: list[str]
    layer: str
    opacity: float
    colormap: str
    options: Options


def label(method: str) -> str:
    return method_info(method).label


def pick() -> View:
    """The sidebar's model and pictures; the page stops with a hint until it has both."""
    with st.sidebar:
        st.header("Model")
        loaded = sources.pick_model("explain")
        samples = []
        if loaded is not None:
            st.header("Images")
            samples = sources.pick_images("explain", loaded, max_images=4)
    if loaded is None:
        st.info("Choose a model in the sidebar.", icon=":material/arrow_back:")
        st.stop()
    if not samples:
        st.info(
            "Choose a picture in the sidebar: a sample, your own upload, or a draw from the "
            "model's dataset (Shapes pictures come with the true outline of the shape, used to "
            "score maps).",
            icon=":material/image:",
        )
        st.stop()
    tensors, by_key = {}, {}
    for s in samples:
        x = loaded.to_tensor(s.image)
        tensors.setdefault(sources.image_key(x), x)
        by_key.setdefault(sources.image_key(x), s)
    keys = list(by_key)
    ikey = keys[0]
    if len(keys) > 1:
        names = [by_key[k].name for k in keys]
        ikey = keys[names.index(st.radio("Explain", names, horizontal=True, key="explain.image"))]
    picture = np.asarray(loaded.input_image(by_key[ikey].image))
    return View(loaded, sources.model_key(loaded), tensors, by_key, ikey, picture)


def top5(v: View) -> dict[int, float]:
    """The picture beside the model's top 5; returns their probabilities by class."""
    sample, size = v.samples[v.ikey], v.loaded.image_size
    top = st.columns([1, 2])
    top[0].image(
        figures.enlarge(v.picture, 192),
        caption=f"{sample.name}, as the model sees it ({size}×{size})",
        width="stretch",
        output_format="PNG",
    )
    ranked = sources.top5(v.mkey, v.ikey, v.loaded, v.tensors[v.ikey])
    bar = st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)
    top[1].dataframe(
        {
            "class": [f"{name} ({i})" for i, name, _ in ranked],
            "probability": [p for *_, p in ranked],
        },
        column_config={"probability": bar},
        hide_index=True,
        width="stretch",
    )
    if sample.label is not None:
        top[1].caption(f"True class: **{v.loaded.classes[sample.label]}**")
    return {i: p for i, _, p in ranked}


def controls(v: View, prob: dict[int, float]) -> Controls:
    classes = list(prob) + [i for i in range(len(v.loaded.classes)) if i not in prob]
    layers = grad_cam_layers(v.loaded.model)
    c = st.columns([2, 3, 2])
    target = c[0].selectbox(
        "Explain the class",
        classes,
        key=f"explain.target.{v.mkey}.{v.ikey}",  # a new picture starts at its own top-1 class
        format_func=lambda i: v.loaded.classes[i] + (f" · {prob[i]:.1%}" if i in prob else ""),
    )
    methods = c[1].multiselect(
        "Methods", METHODS, default=DEFAULT_METHODS, key="explain.methods", format_func=label
    )
    layer = c[2].selectbox(
        "Grad-CAM layer",
        layers,
        index=layers.index(default_layer(v.loaded.model)),
        key=f"explain.layer.{v.mkey}",
        format_func=layer_label,
        help="Any stage or block. Later layers know more about the class but are coarser.",
    )
    with st.expander("Display, and the settings of the slower methods"):
        d = st.columns(4)
        opacity = d[0].slider("Opacity", 0.0, 1.0, 0.5, 0.05, key="explain.opacity")
        colormap = d[1].selectbox("Colour map", figures.COLORMAPS, key="explain.colormap")
        steps = d[2].select_slider("IG steps", [8, 16, 32, 64, 128], 32, key="explain.ig_steps")
        noise = d[3].slider(
            "SmoothGrad noise (× value range)", 0.05, 0.3, 0.15, 0.05, key="explain.sg_noise"
        )
    options = Options(ig_steps=steps, smoothgrad_noise=noise)
    return Controls(target, methods, layer, opacity, colormap, options)


def maps(v: View, c: Controls) -> None:
    if not c.methods:
        st.info("Choose one or more methods above.", icon=":material/tune:")
    jobs = [make_job(v.mkey, m, v.ikey, c.target, c.layer, c.options) for m in c.methods]
    explainjobs.compute(jobs, "the maps", v.loaded, v.tensors)
    for row in range(0, len(jobs), 3):
        for col, j in zip(st.columns(3), jobs[row : row + 3], strict=False):
            with col:
                one_map(v, c, j)


def one_map(v: View, c: Controls, j: Job) -> None:
    info = method_info(j.method)
    st.markdown(f"**{j.label}**")
    kind, value = explainjobs.outcome(j)
    if kind == "cancelled":
        st.info("Cancelled.", icon=":material/cancel:")
        st.button(
            "Compute", key=f"explain.retry.{j.method}", on_click=explainjobs.retry, args=([j],)
        )
    elif kind == "error":
        st.error(value, icon=":material/error:")
    elif kind == "map":
        if why := empty_reason(value, info.sign):
            st.warning(f"The {why}.", icon=":material/visibility_off:")
        heat = to_unit(value, info.sign, info.outlier_perc)
        shown = figures.enlarge(figures.overlay(v.picture, heat, c.colormap, c.opacity), 256)
        st.image(shown, width="stretch", output_format="PNG")
        name = f"{j.method}_{v.loaded.classes[c.target]}_{v.samples[v.ikey].name}.png"
        st.download_button(
            "PNG",
            figures.png_bytes(shown),
            file_name=name.replace(" ", "-"),
            mime="image/png",
            key=f"explain.png.{j.method}",
            on_click="ignore",
            icon=":material/download:",
        )
    st.caption(info.summary)


def against_true_shape(v: View, c: Controls) -> None:
    """Each method's maps for the true class of the Shapes pictures, scored on the shape."""
    st.subheader("Against the true shape")
    masks = {k: v.loaded.input_mask(s.mask) for k, s in v.samples.items() if s.mask is not None}
    if not masks:
        st.info(
            "Pick Shapes pictures (the Shapes samples, or **From the dataset** for a Shapes "
            "model) to score each method against the true outline of the shape.",
            icon=":material/info:",
        )
        return
    if not c.methods:
        return
    scored = {
        m: [make_job(v.mkey, m, k, v.samples[k].label, c.layer, c.options) for k in masks]
        for m in c.methods
    }
    explainjobs.compute(
        [j for js in scored.values() for j in js], "the scores", v.loaded, v.tensors
    )
    summaries = {}
    for m, js in scored.items():
        if found := explainjobs.computed(js):
            scores = [score(a, masks[j.image], method_info(m).sign) for j, a in found.items()]
            summaries[label(m)] = summarise(scores)
    q = st.columns([1, 1])
    q[0].plotly_chart(figures.quality_figure(summaries), key="explain.quality")
    q[1].dataframe(figures.quality_table(summaries), hide_index=True, width="stretch")
    q[1].caption(
        f"Maps for the true class of {len(masks)} Shapes picture(s). **Pointing game**: does "
        "the map's strongest pixel lie on the shape (Zhang et al. 2016)? **Energy**: the share "
        "of the map on the shape. A map that knows nothing scores the shape's share of the image "
        "on both: the dashed chance line. Far above chance means the map points at the object; "
        "it does not prove that the network uses what the map shows."
    )


def sanity_check(v: View, c: Controls) -> None:
    st.subheader("Sanity check: randomise the weights")
    st.markdown(
        "Adebayo et al. (2018) re-initialise a network's weights from the classifier down and "
        "compare each method's map with the trained network's (Spearman rank correlation of the "
        "map magnitudes). A method that explains *the model* must change as the model is "
        "destroyed: its curve falls. A curve that stays high shows the picture (edges, contrast) "
        "more than what the network learned. They found Grad-CAM and plain gradients pass, and "
        "Guided Backprop and Guided Grad-CAM stay similar: they fail."
    )
    sc = st.columns([3, 2])
    methods = sc[0].multiselect(
        "Methods to test",
        METHODS,
        default=list(sanity.PUBLISHED),
        key="explain.sanity_methods",
        format_func=label,
    )
    pictures = [f"the {len(v.tensors)} chosen"]
    if v.loaded.dataset in ("shapes", "cifar10", "folder"):
        pictures.insert(0, f"{SANITY_DRAWS} from the model's dataset")
    on = sc[1].radio(
        "Pictures",
        pictures,
        key="explain.sanity_on",
        help="The paper averages over many pictures; one picture's curve is noisy.",
    )
    images = list(v.tensors.values())
    if on.endswith("dataset"):
        try:
            images = explainjobs.dataset_draws(v.mkey, v.loaded, SANITY_DRAWS)
        except ResNetVizError as err:
            st.warning(f"{err} The check uses the chosen pictures.", icon=":material/info:")
    skey = ("sanity", v.mkey, *map(sources.image_key, images), *methods, c.layer, c.options)
    asked = st.button(
        f"Run the sanity check on {len(images)} picture(s)",
        icon=":material/science:",
        disabled=not methods,
        key="explain.sanity.run",
    )
    kind, value = explainjobs.sanity(skey, asked, v.loaded, images, methods, c.layer, c.options)
    if kind == "cancelled":
        st.info("Sanity check cancelled.", icon=":material/cancel:")
    elif kind == "error":
        st.error(value, icon=":material/error:")
    elif kind == "sanity":
        sanity_verdicts(v, c, value, methods)


def sanity_verdicts(v: View, c: Controls, result: sanity.SanityResult, methods: list[str]) -> None:
    """The curves, then each verdict here beside the paper's, grouped by whether they agree."""
    labels = {m: label(m) for m in METHODS}
    st.plotly_chart(figures.sanity_figure(result, labels), key="explain.sanity")
    st.dataframe(figures.sanity_table(result, methods, labels), hide_index=True)
    found = sanity.compare_with_published(result, methods)

    def listed(ms: tuple[str, ...]) -> str:
        said = (f"{label(m)} {found.verdicts[m]} (published: {sanity.PUBLISHED[m]})" for m in ms)
        return "; ".join(said)

    st.markdown(
        "**Passes** means the mean rank correlation over the cascade is below "
        f"{sanity.PASS_BELOW} (borderline within ±{sanity.BORDERLINE}; the paper gives no "
        "number, this threshold is ours). Passing is necessary, not sufficient: a map that "
        "changes with the weights can still be wrong about what the network uses. Each map "
        f"explains its picture's top class; {result.images} picture(s), Grad-CAM at {c.layer}."
    )
    if found.agree:
        st.success(f"As published: {listed(found.agree)}.", icon=":material/check:")
    if found.unclear:
        st.info(f"No clear verdict here: {listed(found.unclear)}.", icon=":material/help:")
    if found.opposite:
        size = v.loaded.image_size
        st.warning(
            f"**Not reproduced on this model:** {listed(found.opposite)}. The paper tested "
            f"ImageNet networks on many pictures; this is {v.loaded.arch} on {result.images} "
            f"picture(s) of {size}×{size}. The chart, not the paper, is what holds for this model.",
            icon=":material/warning:",
        )


st.title("Explain")
st.caption(
    "Which pixels made the network say that? Attribution maps from Grad-CAM and Captum side by "
    "side, and below them the checks that tell how far to trust a map."
)
view = pick()
chosen = controls(view, top5(view))
maps(view, chosen)
st.header("How far to trust it")
against_true_shape(view, chosen)
sanity_check(view, chosen)
