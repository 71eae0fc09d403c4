"""Explain: which pixels made the network say that, and how far to trust the answer."""

import re

import numpy as np
import streamlit as st

from resnet_viz import ui
from resnet_viz.explain import (
    METHODS,
    Job,
    Options,
    default_layer,
    empty_hint,
    empty_reason,
    grad_cam_layers,
    layer_label,
    make_job,
    method_info,
    scale_note,
    to_unit,
)
from resnet_viz.figures import explain as figures
from resnet_viz.ui import explainjobs, sources
from resnet_viz.ui.explaintrust import Controls, View, against_true_shape, label, sanity_check

ui.route_through_app()

DEFAULT_METHODS = ["gradcam", "saliency"]


def pick() -> View:
    """The sidebar's model and pictures; the page stops with a hint until it has both."""
    loaded, samples = sources.pick_model_and_images(
        "explain",
        max_images=4,
        missing=" (Shapes pictures come with the true outline of the shape, used to score maps)",
    )
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
        caption=f"{ui.md(sample.name)}, as the model sees it ({size}×{size})",
        width="stretch",
        output_format="PNG",
    )
    ranked = sources.top5(v.mkey, v.ikey, v.loaded, v.tensors[v.ikey])
    top[1].dataframe(
        {
            "class": [f"{name} ({i})" for i, name, _ in ranked],
            "probability": [ui.percent(p) for *_, p in ranked],
        },
        column_config={"probability": ui.percent_bar()},
        hide_index=True,
        width="stretch",
    )
    if sample.label is not None:
        top[1].caption(f"True class: **{ui.md(v.loaded.classes[sample.label])}**")
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
    if jobs:
        scale = st.columns([2, 1])[0]
        scale.image(figures.colour_bar(c.colormap, height=12), width="stretch", output_format="PNG")
        info = {j.label: method_info(j.method) for j in jobs}
        scale.caption(scale_note({k: (i.sign, i.outlier_perc) for k, i in info.items()}))


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
        st.error(ui.md(value), icon=":material/error:")
    elif kind == "map":
        if why := empty_reason(value, info.sign):
            hint = empty_hint(uses_layer=info.uses_layer)
            st.warning(f"The {why}. {hint}", icon=":material/visibility_off:")
        heat = to_unit(value, info.sign, info.outlier_perc)
        shown = figures.enlarge(figures.overlay(v.picture, heat, c.colormap, c.opacity), 256)
        st.image(shown, width="stretch", output_format="PNG")
        name = f"{j.method}_{v.loaded.classes[c.target]}_{v.samples[v.ikey].name}"
        st.download_button(
            "PNG",
            figures.png_bytes(shown),
            file_name=re.sub(r"[^\w.-]+", "-", name).strip(".-")[:120] + ".png",
            mime="image/png",
            key=f"explain.png.{j.method}",
            on_click="ignore",
            icon=":material/download:",
        )
    st.caption(info.summary)


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
