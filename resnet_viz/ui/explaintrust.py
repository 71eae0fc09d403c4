"""Explain's "How far to trust it" sections: each method's maps scored against the true shape
of Shapes pictures, and the Adebayo et al. (2018) sanity check read against the paper; and the
two small records the Explain page hands its sections."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st
import torch

from .. import zoo
from ..errors import ResNetVizError
from ..explain import METHODS, Options, make_job, method_info, sanity
from ..explain.quality import score, summarise
from ..figures import explain as figures
from . import explainjobs, sources
from .look import plot
from .text import md

SANITY_DRAWS = 8


def label(method: str) -> str:
    return method_info(method).label


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
    plot(q[0], figures.quality_figure(summaries), key="explain.quality")
    pct = st.column_config.NumberColumn
    q[1].dataframe(  # short headers, so the table fits half a page without cutting a column
        figures.quality_table(summaries),
        hide_index=True,
        width="stretch",
        column_config={
            "pointing game hits %": pct("hits", format="%.0f%%", help="Pointing-game hit rate"),
            "energy on object %": pct("on shape", format="%.1f%%", help="Map energy on the shape"),
            "chance %": pct("chance", format="%.0f%%", help="What a blind map would score"),
            "images": pct("pictures", help="Pictures scored"),
            "empty maps": pct("empty", help="Maps with nothing to show"),
        },
    )
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
            st.warning(f"{md(err)} The check uses the chosen pictures.", icon=":material/info:")
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
        st.error(md(value), icon=":material/error:")
    elif kind == "sanity":
        sanity_verdicts(v, c, value, methods)


def sanity_verdicts(v: View, c: Controls, result: sanity.SanityResult, methods: list[str]) -> None:
    """The curves, then each verdict here beside the paper's, grouped by whether they agree."""
    labels = {m: label(m) for m in METHODS}
    plot(st, figures.sanity_figure(result, labels), key="explain.sanity")
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
