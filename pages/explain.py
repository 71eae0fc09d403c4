"""Explain: which pixels made the network say that, and how far to trust the answer."""

from typing import NamedTuple

import numpy as np
import streamlit as st

from resnet_viz import ui, zoo
from resnet_viz.errors import ResNetVizError
from resnet_viz.explain import (
    METHODS,
    Options,
    attribute,
    default_layer,
    empty_reason,
    grad_cam_layers,
    layer_label,
    method_info,
    to_unit,
)
from resnet_viz.explain.cache import ResultCache
from resnet_viz.explain.quality import score, summarise
from resnet_viz.explain.sanity import BORDERLINE, PASS_BELOW, cascading_randomisation
from resnet_viz.figures.explain import (
    COLORMAPS,
    enlarge,
    overlay,
    png_bytes,
    quality_figure,
    quality_table,
    sanity_figure,
)
from resnet_viz.ui import sources

ui.route_through_app()

DEFAULT_METHODS = ["gradcam", "saliency"]
SANITY_DRAWS = 8
# The four methods whose outcome Adebayo et al. (2018, Fig. 2 and §4) state plainly.
PUBLISHED = {
    "gradcam": "passes",
    "saliency": "passes",
    "guided_backprop": "fails",
    "guided_gradcam": "fails",
}
ss = st.session_state
ss.setdefault("explain.cancelled", set())  # requests the user cancelled
ss.setdefault("explain.sanity_runs", set())  # sanity checks the user asked for


# ---- cached work: shared, finished results only --------------------------------------------------
@st.cache_resource(show_spinner=False)
def results() -> ResultCache:
    """Maps and sanity results for every session (why not st.cache_data: see ResultCache)."""
    return ResultCache(max_entries=512)


@st.cache_resource(show_spinner=False, max_entries=8)
def dataset_draws(mkey: str, _loaded: zoo.LoadedModel, n: int) -> list:
    return [_loaded.to_tensor(s.image) for s in zoo.dataset_samples(_loaded, n, seed=0)]


class Job(NamedTuple):
    """One map to compute; also its cache key. A NamedTuple, not a dataclass: this class is
    defined anew on every script run, and tuples compare by value across those redefinitions
    (dataclasses compare equal only within one class object)."""

    model: str
    method: str
    image: str
    target: int
    layer: str | None  # only for the layer methods
    options: Options | None  # only for the methods that read them

    @property
    def label(self) -> str:
        return method_info(self.method).label + (f" · {self.layer}" if self.layer else "")


def make_job(model: str, method: str, image: str, target: int, layer: str, options: Options) -> Job:
    info = method_info(method)
    return Job(
        model,
        method,
        image,
        target,
        layer if info.uses_layer else None,
        options if info.slow else None,
    )


def cancel(keys: list) -> None:
    ss["explain.cancelled"] |= set(keys)


def retry(keys: list) -> None:
    ss["explain.cancelled"] -= set(keys)


def compute(jobs: list[Job], what: str, loaded: zoo.LoadedModel, tensors: dict) -> None:
    """Compute the jobs that are neither cached nor cancelled, with a progress bar.

    Cancel works through Streamlit itself: any click reruns the page, and a rerun stops this
    run at its next element update, i.e. at the next progress report, between two of Captum's
    chunks (IG steps, occlusion windows, noise samples). The button's callback then marks the
    requests as cancelled so the new run does not start them again.
    """
    cache = results()
    todo = [j for j in jobs if j not in cache and j not in ss["explain.cancelled"]]
    if not todo:
        return
    with st.status(f"Computing {what}…", expanded=True) as status:
        if any(method_info(j.method).slow for j in todo):
            st.button(
                "Cancel",
                icon=":material/cancel:",
                key=f"explain.cancel.{what}",
                on_click=cancel,
                args=(todo,),
            )
        bar = st.progress(0.0)
        for i, j in enumerate(todo):

            def show(f: float, i: int = i, label: str = j.label) -> None:
                bar.progress((i + f) / len(todo), text=f"{label}: {f:.0%}")

            x = tensors[j.image]
            try:
                attr = attribute(
                    loaded.model, x, j.method, j.target, j.layer, options=j.options, progress=show
                )
                cache.put(j, ("map", attr))
            except ResNetVizError as err:  # cannot run here: say why, do not try again
                cache.put(j, ("error", str(err)))
            except RuntimeError as err:  # from torch: out of memory, an odd layer…
                cache.put(j, ("error", f"{j.label} failed on this model: {err}"))
        status.update(label=f"Computed {what}.", state="complete", expanded=False)


def outcome(j: Job) -> tuple[str, object]:
    if j in ss["explain.cancelled"] and j not in results():
        return ("cancelled", None)
    return results().get(j, ("missing", None))


# ---- what to explain ---------------------------------------------------------------------------
st.title("Explain")
st.caption(
    "Which pixels made the network say that? Attribution maps from Grad-CAM and Captum side by "
    "side, and below them the checks that tell how far to trust a map."
)

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
        "Choose a picture in the sidebar: a sample, your own upload, or a draw from the model's "
        "dataset (Shapes pictures come with the true outline of the shape, used to score maps).",
        icon=":material/image:",
    )
    st.stop()

mkey = sources.model_key(loaded)
tensors, by_key = {}, {}  # by image content: a picture given twice is explained once
for s in samples:
    x = loaded.to_tensor(s.image)
    tensors.setdefault(sources.image_key(x), x)
    by_key.setdefault(sources.image_key(x), s)
keys = list(tensors)
choice = 0
if len(by_key) > 1:
    names = [by_key[k].name for k in keys]
    choice = names.index(st.radio("Explain", names, horizontal=True, key="explain.image"))
ikey = keys[choice]
sample = by_key[ikey]
picture = np.asarray(loaded.input_image(sample.image))

top = st.columns([1, 2])
top[0].image(
    enlarge(picture, 192),
    caption=f"{sample.name}, as the model sees it ({loaded.image_size}×{loaded.image_size})",
    width="stretch",
    output_format="PNG",
)
ranked = sources.top5(mkey, ikey, loaded, tensors[ikey])
top[1].dataframe(
    {"class": [f"{name} ({i})" for i, name, _ in ranked], "probability": [p for *_, p in ranked]},
    column_config={
        "probability": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)
    },
    hide_index=True,
    width="stretch",
)
if sample.label is not None:
    top[1].caption(f"True class: **{loaded.classes[sample.label]}**")

prob = {i: p for i, _, p in ranked}
classes = list(prob) + [i for i in range(len(loaded.classes)) if i not in prob]
layers = grad_cam_layers(loaded.model)
c = st.columns([2, 3, 2])
target = c[0].selectbox(
    "Explain the class",
    classes,
    key=f"explain.target.{mkey}.{ikey}",  # a new picture starts at its own top-1 class
    format_func=lambda i: loaded.classes[i] + (f" · {prob[i]:.1%}" if i in prob else ""),
)
methods = c[1].multiselect(
    "Methods",
    METHODS,
    default=DEFAULT_METHODS,
    key="explain.methods",
    format_func=lambda m: method_info(m).label,
)
layer = c[2].selectbox(
    "Grad-CAM layer",
    layers,
    index=layers.index(default_layer(loaded.model)),
    key=f"explain.layer.{mkey}",
    format_func=layer_label,
    help="Any stage or block. Later layers know more about the class but are coarser.",
)
with st.expander("Display, and the settings of the slower methods"):
    d = st.columns(4)
    opacity = d[0].slider("Opacity", 0.0, 1.0, 0.5, 0.05, key="explain.opacity")
    colormap = d[1].selectbox("Colour map", COLORMAPS, key="explain.colormap")
    steps = d[2].select_slider("IG steps", [8, 16, 32, 64, 128], 32, key="explain.ig_steps")
    noise = d[3].slider(
        "SmoothGrad noise (× value range)", 0.05, 0.3, 0.15, 0.05, key="explain.sg_noise"
    )
    options = Options(ig_steps=steps, smoothgrad_noise=noise)

# ---- the maps ----------------------------------------------------------------------------------
if not methods:
    st.info("Choose one or more methods above.", icon=":material/tune:")
jobs = [make_job(mkey, m, ikey, target, layer, options) for m in methods]
compute(jobs, "the maps", loaded, tensors)
for row in range(0, len(jobs), 3):
    for col, j in zip(st.columns(3), jobs[row : row + 3], strict=False):
        info = method_info(j.method)
        col.markdown(f"**{j.label}**")
        kind, value = outcome(j)
        if kind == "cancelled":
            col.info("Cancelled.", icon=":material/cancel:")
            col.button("Compute", key=f"explain.retry.{j.method}", on_click=retry, args=([j],))
        elif kind == "error":
            col.error(value, icon=":material/error:")
        elif kind == "map":
            if why := empty_reason(value, info.sign):
                col.warning(f"The {why}.", icon=":material/visibility_off:")
            heat = to_unit(value, info.sign, info.outlier_perc)
            shown = enlarge(overlay(picture, heat, colormap, opacity), 256)
            col.image(shown, width="stretch", output_format="PNG")
            col.download_button(
                "PNG",
                png_bytes(shown),
                file_name=f"{j.method}_{loaded.classes[target]}_{sample.name}.png".replace(
                    " ", "-"
                ),
                mime="image/png",
                key=f"explain.png.{j.method}",
                on_click="ignore",
                icon=":material/download:",
            )
        col.caption(info.summary)

# ---- how far to trust it -----------------------------------------------------------------------
st.header("How far to trust it")
st.subheader("Against the true shape")
masked = [k for k in keys if by_key[k].mask is not None]
if not masked:
    st.info(
        "Pick Shapes pictures (the Shapes samples, or **From the dataset** for a Shapes model) to "
        "score each method against the true outline of the shape.",
        icon=":material/info:",
    )
elif methods:
    scored = {
        m: [make_job(mkey, m, k, by_key[k].label, layer, options) for k in masked] for m in methods
    }
    compute([j for js in scored.values() for j in js], "the scores", loaded, tensors)
    summaries = {}
    for m, js in scored.items():
        scores = [
            score(value, loaded.input_mask(by_key[j.image].mask), method_info(m).sign)
            for j in js
            if (out := outcome(j))[0] == "map" and (value := out[1]) is not None
        ]
        if scores:
            summaries[method_info(m).label] = summarise(scores)
    q = st.columns([1, 1])
    q[0].plotly_chart(quality_figure(summaries), key="explain.quality")
    q[1].dataframe(quality_table(summaries), hide_index=True, width="stretch")
    q[1].caption(
        f"Maps for the true class of {len(masked)} Shapes picture(s). **Pointing game**: does "
        "the map's strongest pixel lie on the shape (Zhang et al. 2016)? **Energy**: the share "
        "of the map on the shape. A map that knows nothing scores the shape's share of the image "
        "on both: the dashed chance line. Far above chance means the map points at the object; "
        "it does not prove that the network uses what the map shows."
    )

st.subheader("Sanity check: randomise the weights")
st.markdown(
    "Adebayo et al. (2018) re-initialise a network's weights from the classifier down and "
    "compare each method's map with the trained network's (Spearman rank correlation of the "
    "map magnitudes). A method that explains *the model* must change as the model is destroyed: "
    "its curve falls. A curve that stays high shows the picture (edges, contrast) more than "
    "what the network learned. They found Grad-CAM and plain gradients pass, and Guided "
    "Backprop and Guided Grad-CAM stay similar: they fail."
)
sc = st.columns([3, 2])
sanity_methods = sc[0].multiselect(
    "Methods to test",
    METHODS,
    default=list(PUBLISHED),
    key="explain.sanity_methods",
    format_func=lambda m: method_info(m).label,
)
pictures = [f"the {len(keys)} chosen"]
if loaded.dataset in ("shapes", "cifar10", "folder"):
    pictures.insert(0, f"{SANITY_DRAWS} from the model's dataset")
on = sc[1].radio(
    "Pictures",
    pictures,
    key="explain.sanity_on",
    help="The paper averages over many pictures; one picture's curve is noisy.",
)
sanity_images = [tensors[k] for k in keys]
if on.endswith("dataset"):
    try:
        sanity_images = dataset_draws(mkey, loaded, SANITY_DRAWS)
    except ResNetVizError as err:
        st.warning(f"{err} The check uses the chosen pictures.", icon=":material/info:")
skey = ("sanity", mkey, *map(sources.image_key, sanity_images), *sanity_methods, layer, options)
if st.button(
    f"Run the sanity check on {len(sanity_images)} picture(s)",
    icon=":material/science:",
    disabled=not sanity_methods,
    key="explain.sanity.run",
):
    ss["explain.sanity_runs"].add(skey)
    ss["explain.cancelled"].discard(skey)
if skey in ss["explain.cancelled"] and skey not in results():
    st.info("Sanity check cancelled.", icon=":material/cancel:")
elif skey in ss["explain.sanity_runs"] and skey not in results():
    with st.status("Randomising the network, layer by layer…", expanded=True) as status:
        st.button("Cancel", key="explain.cancel.sanity", on_click=cancel, args=([skey],))
        bar = st.progress(0.0)
        try:
            found = cascading_randomisation(
                loaded.model,
                sanity_images,
                sanity_methods,
                layer=layer,
                options=options,
                progress=lambda f: bar.progress(f, text=f"{f:.0%}"),
            )
        except (ResNetVizError, RuntimeError) as err:
            found = f"The sanity check failed on this model: {err}"
        results().put(skey, found)
        status.update(label="Sanity check done.", state="complete", expanded=False)
result = results().get(skey)
if isinstance(result, str):
    st.error(result, icon=":material/error:")
elif result is not None:
    st.plotly_chart(
        sanity_figure(result, {m: method_info(m).label for m in METHODS}), key="explain.sanity"
    )
    verdicts = {m: result.verdict(m) for m in sanity_methods}
    st.dataframe(
        [
            {
                "method": method_info(m).label,
                "mean ρ over the cascade": round(result.mean_correlation(m), 2),
                "here": verdicts[m],
                "Adebayo et al. 2018": PUBLISHED.get(m, "not stated"),
            }
            for m in sanity_methods
        ],
        hide_index=True,
    )
    tested = [m for m in sanity_methods if m in PUBLISHED]
    agree = [m for m in tested if verdicts[m] == PUBLISHED[m]]
    unclear = [m for m in tested if verdicts[m] in ("borderline", "empty")]
    opposite = [m for m in tested if m not in agree and m not in unclear]

    def listed(ms: list[str]) -> str:
        return "; ".join(
            f"{method_info(m).label} {verdicts[m]} (published: {PUBLISHED[m]})" for m in ms
        )

    st.markdown(
        f"**Passes** means the mean rank correlation over the cascade is below {PASS_BELOW} "
        f"(borderline within ±{BORDERLINE}; the paper gives no number, this threshold is ours). "
        "Passing is necessary, not sufficient: a map that changes with the weights can still "
        f"be wrong about what the network uses. Each map explains its picture's top class; "
        f"{result.images} picture(s), Grad-CAM at {layer}."
    )
    if agree:
        st.success(f"As published: {listed(agree)}.", icon=":material/check:")
    if unclear:
        st.info(f"No clear verdict here: {listed(unclear)}.", icon=":material/help:")
    if opposite:
        st.warning(
            f"**Not reproduced on this model:** {listed(opposite)}. The paper tested ImageNet "
            f"networks on many pictures; this is {loaded.arch} on {result.images} picture(s) of "
            f"{loaded.image_size}×{loaded.image_size}. The chart, not the paper, is what holds "
            "for this model.",
            icon=":material/warning:",
        )
