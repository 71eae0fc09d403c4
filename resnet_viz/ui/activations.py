"""The Activations page's tabs: one function per tab, each rendering where it is called, and the
cached work behind them.

Cached work is keyed on the model (``sources.model_key``), the picture (``sources.image_key``)
and the layer; only what the open tab shows runs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from .. import zoo
from ..activations import (
    DEPTH_MEASURES,
    SHORTCUT_KINDS,
    Capture,
    Inspection,
    Layer,
    Reduce,
    block_anatomy,
    block_label,
    capture,
    chosen_scales,
    compare_skips,
    is_plain,
    off_label,
    per_block,
    pickable_layers,
    reduce_capture,
    response_depth,
    runs_before,
    skip_scales,
    stage_blocks,
    switched_off,
    view_picture,
)
from ..config import DATASETS
from ..figures.activations import (
    anatomy_figure,
    channel_scatter,
    compare_grid,
    depth_lines,
    layer_figures,
    top_bars,
)
from ..models import ARCHS, residual_blocks
from .look import plot
from .resources import store
from .sources import image_key
from .tables import percent, percent_bar
from .text import md, plain

TOP_K = 16  # channels in the default grid
PAGE = 32  # channels per page of "all channels"
MAX_SIDE = 112  # grid tiles are pooled down to this (the stem of a 224 input)
SMALL_K, SMALL_SIDE = 8, 56  # side-by-side comparisons


@dataclass(frozen=True)
class Subject:
    """What this run of the page looks at: a model, its pictures and the chosen layer."""

    loaded: zoo.LoadedModel
    samples: tuple[zoo.Sample, ...]  # the first is the one most tabs show
    x: torch.Tensor  # the first picture, as the model's input
    mkey: str  # sources.model_key(loaded)
    ikey: str  # sources.image_key(x)
    picture: np.ndarray  # the first picture, as shown
    layer: Layer  # the chosen layer
    order: tuple[str, ...]  # every pickable layer's name, network order


# ---- cached work -------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def layer_list(key: str, _loaded: zoo.LoadedModel):
    return pickable_layers(_loaded.model, _loaded.image_size)


@st.cache_data(show_spinner="Running the model up to this layer…", max_entries=32)
def layer_capture(key: str, image: str, layer: str, with_input: bool, _model, _x):
    """Every channel of ``layer`` at full size (and its input, for a block's anatomy)."""
    return capture(_model, _x, [layer], reduce=Reduce(inputs=with_input))[layer]


@st.cache_data(show_spinner=False, max_entries=32)
def anatomy_of(key: str, image: str, block: str, _model, _x):
    cap = layer_capture(key, image, block, True, _model, _x)
    return block_anatomy(_model, _x, block, captured=cap)


@st.cache_data(show_spinner="Running the unchanged and the toggled model…", max_entries=16)
def toggled(key: str, image: str, scales: tuple[float, ...], layer: str, _model, _x):
    reduce = Reduce(top_k=SMALL_K, max_side=SMALL_SIDE)
    return compare_skips(_model, _x, scales, [layer], reduce=reduce)


@st.cache_data(show_spinner="Measuring every block…", max_entries=16)
def depth(key: str, image: str, twin: str, _model, _x, _twin, _twin_x):
    return response_depth(_model, _x, _twin, _twin_x)


@st.cache_resource(show_spinner="Loading the plain twin…", max_entries=2)
def twin_model(root: str, run_id: str, mtime: float) -> zoo.LoadedModel:
    return zoo.load_run(store(), run_id)  # root and mtime key the cache


def _maps(s: Subject, ikey: str, x: torch.Tensor) -> Capture:
    """The chosen layer's full capture for one picture (``ikey``, ``x``)."""
    return layer_capture(s.mkey, ikey, s.layer.name, s.layer.kind == "block", s.loaded.model, x)


# ---- tabs --------------------------------------------------------------------------------------
def feature_maps(s: Subject) -> None:
    """The chosen layer's channels as a grid, one over the picture, and every channel's stats."""
    layer, channels = s.layer.name, s.layer.shape[0]
    c1, c2, c3 = st.columns([3, 2, 2])
    which = c1.radio(
        "Channels",
        [f"Strongest {TOP_K} (by mean activation)", "All, page by page"],
        horizontal=True,
        key="act.which",
        persist_state="page",
    )
    per_channel = c3.toggle(
        "Scale each channel separately",
        key="act.per_channel",
        persist_state="page",
        help="Shows patterns in weak channels; tiles are then not comparable in size.",
    )
    paged = which.startswith("All")
    if paged:
        pages = math.ceil(channels / PAGE)
        # One key per layer and size: a stored page is always within range.
        page = c2.number_input(
            f"Page (of {pages})",
            1,
            pages,
            key=f"act.page.{layer}.{channels}",
            persist_state="page",
        )
        start = (page - 1) * PAGE
        reduce = Reduce(
            channels=tuple(range(start, min(start + PAGE, channels))), max_side=MAX_SIDE
        )
    else:
        reduce = Reduce(top_k=TOP_K, max_side=MAX_SIDE)
    cap = _maps(s, s.ikey, s.x)
    shown = reduce_capture(cap, reduce)
    g1, g2 = st.columns([3, 2])
    channel = g2.selectbox(
        "Channel to see over the image",
        shown.channels.tolist(),
        format_func=lambda c: f"channel {c} · mean {float(cap.mean[0, c]):.3g}",
        key="act.channel",
        persist_state="page",
    )
    figs = layer_figures(
        shown, s.picture, channel=channel, per_channel=per_channel, ranked=not paged
    )
    plot(g1, figs.grid, key="act.grid")
    g2.image(
        figs.overlay,
        caption=f"{layer}, channel {channel}, upsampled over the image (min → max: "
        "dark purple → yellow)",
        width="stretch",
    )
    s1, s2 = st.columns([3, 2])
    s1.markdown("**Every channel** (full layer output, all pixels)")
    active = figs.table["active (> 0)"]
    s1.dataframe(
        {**figs.table, "active (> 0)": [percent(x) for x in active]},
        hide_index=True,
        height=300,
        column_config={
            k: st.column_config.NumberColumn(format="%.3g") for k in ("mean", "std", "min", "max")
        }
        | {"active (> 0)": percent_bar()},
        key="act.table",
    )
    plot(s2, figs.histogram, key="act.hist")


def residual_anatomy(s: Subject) -> None:
    """The block the chosen layer is, or lies in: x, F(x), the skip and the output."""
    block = s.layer.block
    if block is None:
        st.info(
            "The stem has no skip connection. Choose a residual block, or a layer inside one, "
            "above.",
            icon=":material/arrow_upward:",
        )
        return
    anatomy = anatomy_of(s.mkey, s.ikey, block, s.loaded.model, s.x)
    st.markdown(f"#### {block} · {block_label(block)}")
    m1, m2, m3 = st.columns(3)
    m1.metric("‖F(x)‖ / ‖x‖", f"{anatomy.ratio:.3f}")
    m2.metric("Shortcut", anatomy.kind)
    m3.metric("Skip scale s", f"{anatomy.skip_scale:g}")
    a1, a2 = st.columns([1, 2])
    mode = a1.radio(
        "Show",
        ["Mean over channels", "One channel"],
        horizontal=True,
        key="act.amode",
        persist_state="page",
    )
    chosen = None
    if mode == "One channel":
        out_channels = anatomy.output.shape[0]
        chosen = a2.number_input(
            f"Output channel (0–{out_channels - 1})",
            0,
            out_channels - 1,
            key=f"act.achannel.{block}.{out_channels}",
            persist_state="page",
        )
    plot(st, anatomy_figure(anatomy, chosen), key="act.anatomy")
    st.markdown(
        "Left to right: the block's input **x**; what its residual branch computes from it, "
        f"**F(x)**; what the skip path carries ({SHORTCUT_KINDS[anatomy.kind]}); and the "
        "**output**, ReLU(F(x) + s·shortcut(x)). F(x), the skip and the output are added pixel "
        "by pixel, so they share one colour scale."
        + (
            " The zero-padded channels count in the skip's channel mean, so it looks fainter "
            "than x."
            if anatomy.kind == "zero-pad" and chosen is None
            else ""
        )
    )
    st.caption(
        "**‖F(x)‖/‖x‖** compares the size of the block's change with the size of what flows in, "
        "over all channels and pixels of this one image. Well below 1, the block refines its "
        "input rather than replacing it: Veit et al. (2016) found most blocks of trained "
        "residual networks make such small refinements, so the network behaves like an "
        "ensemble of many shallow paths. The ratio does not say whether the change matters for "
        "the prediction (a small change can decide a class), it depends on the image, and at a "
        "downsampling block x and F(x) have different shapes (the norms still compare total "
        "size)."
    )


def _skips_on(s: Subject, trained_on: set[str]) -> list[str]:
    """One multi-select per stage of the blocks whose skip is on (at first: ``trained_on``,
    those trained with it); the switches are kept per model."""
    tag = hashlib.blake2b(s.mkey.encode(), digest_size=4).hexdigest()
    on: list[str] = []
    for i, names in enumerate(stage_blocks(s.loaded.model), start=1):
        on += (
            st.pills(
                f"Stage {i}: skip on in",
                names,
                selection_mode="multi",
                default=[n for n in names if n in trained_on],
                format_func=lambda n: block_label(n).split(" · ")[-1],
                key=f"act.skips.{tag}.{i}",
                persist_state="page",
            )
            or []
        )
    return on


def toggle_skips(s: Subject) -> None:
    """Skips switched off at inference on a private copy, next to the unchanged model."""
    model, layer = s.loaded.model, s.layer.name
    blocks = [name for name, _ in residual_blocks(model)]
    trained = skip_scales(model)
    st.caption(
        "Switch skip connections off at inference (on a private copy; the shared model is "
        "untouched) and compare with the unchanged model. A block without its skip outputs "
        "ReLU(F(x)) alone: the path that carried x through is gone."
    )
    on = _skips_on(s, {n for n, t in zip(blocks, trained, strict=True) if t > 0})
    scales = chosen_scales(blocks, trained, on)
    if list(scales) == trained:
        st.info(
            "Every skip is as the model was trained. Deselect blocks above to switch their "
            "skips off.",
            icon=":material/alt_route:",
        )
        return
    unchanged, changed = toggled(s.mkey, s.ikey, scales, layer, model, s.x)
    off = switched_off(blocks, scales)
    label = off_label(off)
    plot(
        st,
        top_bars({"unchanged": _ranked(s, unchanged), label: _ranked(s, changed)}),
        key="act.toggle.top5",
    )
    plot(
        st,
        depth_lines(
            blocks,
            {"unchanged": unchanged.stats.ratio, label: changed.stats.ratio},
            title="‖F(x)‖ / ‖x‖ per block",
            y_title="ratio",
        ),
        key="act.toggle.ratio",
    )
    before, after = unchanged.captures[layer], changed.captures[layer]
    plot(
        st,
        compare_grid(
            [before.maps[0].numpy(), after.maps[0].numpy()],
            ["unchanged", "toggled"],
            before.channels.tolist(),
            title=f"{layer}: the unchanged model's strongest channels, both models",
        ),
        key="act.toggle.maps",
    )
    if runs_before(s.order, layer, off):
        st.caption(
            f"{layer} runs before the first switched-off skip, so its maps cannot change; "
            "choose a later layer to see the difference."
        )
    st.caption(
        "A block's own ratio does not change when its skip goes (its x and F(x) are the same); "
        "the blocks after it receive a different input. Not the lesion study of Veit et al. "
        "(2016), which deletes a block's residual branch and keeps the skip (trained ResNets "
        "degrade gracefully then). Nor a plain network: a plain twin trained without skips is "
        "compared under *Across depth*."
    )


def _ranked(s: Subject, insp: Inspection) -> tuple[list[str], list[float]]:
    """One model's top classes for the first picture, as ``top_bars`` takes them."""
    return [plain(s.loaded.classes[int(i)]) for i in insp.classes[0]], insp.probs[0].tolist()


def _plain_twin(s: Subject) -> tuple[torch.nn.Module | None, torch.Tensor | None, str]:
    """``(twin, its input, run id)`` of the plain twin chosen from the run store, or
    ``(None, None, "")`` after saying why there is none."""
    loaded = s.loaded
    if is_plain(loaded.model):
        st.info(
            "This model is itself plain (every skip off). Open its residual twin to compare the "
            "two here.",
            icon=":material/info:",
        )
        return None, None, ""
    runs = store()
    twins = zoo.plain_twins(runs, loaded.arch, loaded.dataset)
    if not twins:
        trainable = loaded.arch in ARCHS and loaded.dataset in DATASETS
        how = (
            f"Train one: [open the Train page set up for a plain {loaded.arch} on "
            f"{loaded.dataset}](/train?model.arch={loaded.arch}&data.dataset="
            f"{loaded.dataset}&skips=) (every stage deselected under *Skip connections on in*), "
            "press Start, and come back when it has finished."
            if trainable
            else "This model's data set cannot be trained here, so it has no plain twin."
        )
        st.info(
            f"No plain twin in the run store (same architecture {loaded.arch}, same data set "
            f"{loaded.dataset or 'unknown'}, every skip off, finished). {how}",
            icon=":material/info:",
        )
        return None, None, ""
    labels = {f"{r.name} · {r.id}": r for r in twins}
    run = labels[
        st.selectbox(
            "Plain twin (a finished run, every skip off)",
            list(labels),
            key="act.twin",
            persist_state="page",
        )
    ]
    mtime = runs.checkpoint_path(run.id).stat().st_mtime
    twin = twin_model(str(runs.root), run.id, mtime)
    return twin.model, twin.to_tensor(s.samples[0].image), run.id


def across_depth(s: Subject) -> None:
    """How strongly each block responds, next to a plain twin's blocks where there is one."""
    twin, twin_x, twin_id = _plain_twin(s)
    measure = st.radio(
        "Measure", list(DEPTH_MEASURES), horizontal=True, key="act.measure", persist_state="page"
    )
    stats = depth(s.mkey, s.ikey, twin_id, s.loaded.model, s.x, twin, twin_x)
    names, lines = per_block(stats, measure)
    plot(
        st,
        depth_lines(
            names,
            lines,
            title=f"{measure} per residual block, this image",
            y_title=measure.split(" (")[0],
        ),
        key="act.depth",
    )
    st.caption(
        "He et al. (2015, Fig. 7) measured the standard deviation of every 3×3 layer's response "
        "(after BatchNorm, before the addition and ReLU) and found residual networks respond "
        "more weakly than their plain twins, which supports their idea that residual functions "
        "are generally closer to zero. Here: the last layer of each residual branch, on this "
        "one image, not averaged over a test set."
    )


def compare_images(s: Subject) -> None:
    """The first two pictures at the chosen layer: the first's strongest channels for both, and
    every channel's mean for one against the other."""
    if len(s.samples) < 2:
        st.info(
            "Choose a second picture in the sidebar (select two samples, upload two files, or "
            "draw from the dataset) to compare them at this layer.",
            icon=":material/compare:",
        )
        return
    sample, other = s.samples[:2]
    y = s.loaded.to_tensor(other.image)
    cap_a, cap_b = _maps(s, s.ikey, s.x), _maps(s, image_key(y), y)
    a = reduce_capture(cap_a, Reduce(top_k=SMALL_K, max_side=SMALL_SIDE))
    b = reduce_capture(cap_b, Reduce(channels=tuple(a.channels.tolist()), max_side=SMALL_SIDE))
    p1, p2 = st.columns([1, 5])
    p1.image(s.picture, caption=md(sample.name), width="stretch")
    p1.image(
        view_picture(s.loaded.input_image(other.image)), caption=md(other.name), width="stretch"
    )
    plot(
        p2,
        compare_grid(
            [a.maps[0].numpy(), b.maps[0].numpy()],
            [plain(sample.name), plain(other.name)],
            a.channels.tolist(),
            title=f"{s.layer.name}: the {SMALL_K} strongest channels for {plain(sample.name)}, one "
            "colour scale",
        ),
        key="act.compare.maps",
    )
    plot(
        st,
        channel_scatter(
            [cap_a.mean[0].numpy(), cap_b.mean[0].numpy()], [plain(sample.name), plain(other.name)]
        ),
        key="act.compare.scatter",
    )
    st.caption(
        "Each point is one channel of this layer, over all its channels: its mean activation "
        "for the first picture (x) and for the second (y). Points on the diagonal respond alike "
        "to both pictures; the correlation in the title sums up how similarly the whole layer "
        "responds."
    )
