"""Activations: what the network computes for an image, layer by layer and block by block."""

import hashlib
import math

import numpy as np
import streamlit as st
from PIL import Image

from resnet_viz import ui, zoo
from resnet_viz.activations import (
    SHORTCUT_KINDS,
    Reduce,
    block_anatomy,
    block_label,
    capture,
    compare_skips,
    pickable_layers,
    reduce_capture,
    response_depth,
    skip_scales,
)
from resnet_viz.config import DATASETS
from resnet_viz.errors import ResNetVizError
from resnet_viz.figures.activations import (
    anatomy_figure,
    channel_scatter,
    compare_grid,
    depth_lines,
    layer_figures,
    top_bars,
)
from resnet_viz.models import ARCHS, residual_blocks, stages
from resnet_viz.ui import sources

ui.route_through_app()

TOP_K = 16  # channels in the default grid
PAGE = 32  # channels per page of "all channels"
MAX_SIDE = 112  # grid tiles are pooled down to this (the stem of a 224 input)
SMALL_K, SMALL_SIDE = 8, 56  # side-by-side comparisons
VIEW_SIDE = 320  # the large channel view is drawn at least this big


# ---- cached work: keyed on model identity + image bytes + layer; only what is shown runs ----
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
    return zoo.load_run(ui.store(), run_id)  # root and mtime key the cache


def view_picture(loaded: zoo.LoadedModel, image: Image.Image) -> np.ndarray:
    """What the model sees, enlarged for display so a 32×32 input is not a smudge."""
    seen = loaded.input_image(image)
    side = max(VIEW_SIDE, loaded.image_size)
    return np.asarray(seen.resize((side, side), Image.Resampling.BICUBIC))


# ---- page --------------------------------------------------------------------------------------
st.title("Activations")
st.caption(
    "What the network computes for one image: every layer's feature maps, what each residual "
    "block adds to its input, what changes when skip connections are switched off, and how "
    "strongly each block responds across depth."
)

with st.sidebar:
    st.header("Model")
    loaded = sources.pick_model("act")
    samples = []
    if loaded is not None:
        st.header("Images")
        samples = sources.pick_images("act", loaded, max_images=2)
        st.caption("Choose two to compare them at the same layer.")
if loaded is None:
    st.info("Choose a model in the sidebar.", icon=":material/arrow_back:")
    st.stop()
if not samples:
    st.info(
        "Choose a picture in the sidebar: a sample, your own upload, or a draw from the "
        "model's dataset.",
        icon=":material/image:",
    )
    st.stop()

sample = samples[0]
x = loaded.to_tensor(sample.image)
mkey, ikey = sources.model_key(loaded), sources.image_key(x)
picture = view_picture(loaded, sample.image)
layers = layer_list(mkey, loaded)
by_name = {layer.name: layer for layer in layers}
first_block = next((layer.name for layer in layers if layer.kind == "block"), layers[0].name)

top = st.columns([1, 3])
top[0].image(
    picture,
    caption=f"{sample.name}, as the model sees it ({loaded.image_size}×{loaded.image_size})",
    width="stretch",
)
ranked = sources.top5(mkey, ikey, loaded, x)
top[1].plotly_chart(
    top_bars({loaded.name: ([name for _, name, _ in ranked], [p for *_, p in ranked])}),
    key="act.top5",
)

# A stored choice the current model does not offer falls back to the index (Streamlit's own rule).
layer = st.selectbox(
    "Layer or residual block (network order)",
    list(by_name),
    index=list(by_name).index(first_block),
    format_func=lambda n: by_name[n].label,
    key="act.layer",
    persist_state="page",
    help="Blocks show their output after the addition and final ReLU; the layers inside a "
    "block belong to its residual branch F(x).",
)
info = by_name[layer]

feature_tab, anatomy_tab, toggle_tab, depth_tab, compare_tab = st.tabs(
    ["Feature maps", "Residual anatomy", "Toggle skips", "Across depth", "Compare images"],
    key="act.view",
    on_change="rerun",  # lazy: only the open tab's content runs
)

try:
    if feature_tab.open:
        with feature_tab:
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
            channels = info.shape[0]
            if which.startswith("All"):
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
            cap = layer_capture(mkey, ikey, layer, info.kind == "block", loaded.model, x)
            shown = reduce_capture(cap, reduce)
            kept = shown.channels.tolist()
            g1, g2 = st.columns([3, 2])
            channel = g2.selectbox(
                "Channel to see over the image",
                kept,
                format_func=lambda c: f"channel {c} · mean {float(cap.mean[0, c]):.3g}",
                key="act.channel",
                persist_state="page",
            )
            figs = layer_figures(shown, picture, channel=channel, per_channel=per_channel)
            g1.plotly_chart(figs.grid, key="act.grid")
            g2.image(
                figs.overlay,
                caption=f"{layer}, channel {channel}, upsampled over the image (min → max: "
                "dark purple → yellow)",
                width="stretch",
            )
            s1, s2 = st.columns([3, 2])
            s1.markdown("**Every channel** (full layer output, all pixels)")
            s1.dataframe(
                figs.table,
                hide_index=True,
                height=300,
                column_config={
                    k: st.column_config.NumberColumn(format="%.3g")
                    for k in ("mean", "std", "min", "max")
                }
                | {"active (> 0)": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)},
                key="act.table",
            )
            s2.plotly_chart(figs.histogram, key="act.hist")

    if anatomy_tab.open:
        with anatomy_tab:
            block = info.block
            if block is None:
                st.info(
                    "The stem has no skip connection. Choose a residual block, or a layer "
                    "inside one, above.",
                    icon=":material/arrow_upward:",
                )
            else:
                anatomy = anatomy_of(mkey, ikey, block, loaded.model, x)
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
                st.plotly_chart(anatomy_figure(anatomy, chosen), key="act.anatomy")
                st.markdown(
                    "Left to right: the block's input **x**; what its residual branch computes "
                    "from it, **F(x)**; what the skip path carries "
                    f"({SHORTCUT_KINDS[anatomy.kind]}); and the **output**, "
                    "ReLU(F(x) + s·shortcut(x)). F(x), the skip and the output are added "
                    "pixel by pixel, so they share one colour scale."
                    + (
                        " The zero-padded channels count in the skip's channel mean, so it looks "
                        "fainter than x."
                        if anatomy.kind == "zero-pad" and chosen is None
                        else ""
                    )
                )
                st.caption(
                    "**‖F(x)‖/‖x‖** compares the size of the block's change with the size of "
                    "what flows in, over all channels and pixels of this one image. Well below 1, "
                    "the block refines its input rather than replacing it: Veit et al. (2016) "
                    "found most blocks of trained residual networks make such small "
                    "refinements, so the network behaves like an ensemble of many shallow paths. "
                    "The ratio does not say whether the change matters for the prediction (a "
                    "small change can decide a class), it depends on the image, and at a "
                    "downsampling block x and F(x) have different shapes (the norms still "
                    "compare total size)."
                )

    if toggle_tab.open:
        with toggle_tab:
            model = loaded.model
            blocks = [name for name, _ in residual_blocks(model)]
            trained = skip_scales(model)
            st.caption(
                "Switch skip connections off at inference (on a private copy; the shared model "
                "is untouched) and compare with the unchanged model. A block without its skip "
                "outputs ReLU(F(x)) alone: the path that carried x through is gone."
            )
            named = {id(b): n for n, b in residual_blocks(model)}
            tag = hashlib.blake2b(mkey.encode(), digest_size=4).hexdigest()  # switches per model
            on = []
            for i, group in enumerate(stages(model), start=1):
                names = [named[id(b)] for b in group]
                on += (
                    st.pills(
                        f"Stage {i}: skip on in",
                        names,
                        selection_mode="multi",
                        default=[n for n in names if trained[blocks.index(n)] > 0],
                        format_func=lambda n: block_label(n).split(" · ")[-1],
                        key=f"act.skips.{tag}.{i}",
                        persist_state="page",
                    )
                    or []
                )
            scales = tuple(
                (s if s > 0 else 1.0) if n in on else 0.0
                for n, s in zip(blocks, trained, strict=True)
            )
            if list(scales) == trained:
                st.info(
                    "Every skip is as the model was trained. Deselect blocks above to switch "
                    "their skips off.",
                    icon=":material/alt_route:",
                )
            else:
                unchanged, changed = toggled(mkey, ikey, scales, layer, model, x)

                def ranked_of(insp):
                    classes = [loaded.classes[int(i)] for i in insp.classes[0]]
                    return classes, insp.probs[0].tolist()

                off = [n for n, s in zip(blocks, scales, strict=True) if s == 0]
                label = (
                    f"skips off in {', '.join(off)}" if len(off) <= 3 else f"{len(off)} skips off"
                )
                st.plotly_chart(
                    top_bars({"unchanged": ranked_of(unchanged), label: ranked_of(changed)}),
                    key="act.toggle.top5",
                )
                st.plotly_chart(
                    depth_lines(
                        blocks,
                        {"unchanged": unchanged.stats.ratio, label: changed.stats.ratio},
                        title="‖F(x)‖ / ‖x‖ per block",
                        y_title="ratio",
                    ),
                    key="act.toggle.ratio",
                )
                before, after = unchanged.captures[layer], changed.captures[layer]
                st.plotly_chart(
                    compare_grid(
                        [before.maps[0].numpy(), after.maps[0].numpy()],
                        ["unchanged", "toggled"],
                        before.channels.tolist(),
                        title=f"{layer}: the unchanged model's strongest channels, both models",
                    ),
                    key="act.toggle.maps",
                )
                order = list(by_name)
                if order.index(layer) < min(order.index(n) for n in off):
                    st.caption(
                        f"{layer} runs before the first switched-off skip, so its maps cannot "
                        "change; choose a later layer to see the difference."
                    )
                st.caption(
                    "A block's own ratio does not change when its skip goes (its x and F(x) are "
                    "the same); the blocks after it receive a different input. "
                    "Not the lesion study of Veit et al. (2016), which deletes a block's residual "
                    "branch and keeps the skip (trained ResNets degrade gracefully then). Nor a "
                    "plain network: a plain twin trained without skips is compared under "
                    "*Across depth*."
                )

    if depth_tab.open:
        with depth_tab:
            s = ui.store()
            plain = not any(skip_scales(loaded.model))
            twins = [] if plain else zoo.plain_twins(s, loaded.arch, loaded.dataset)
            twin = twin_x = None
            twin_id = ""
            if plain:
                st.info(
                    "This model is itself plain (every skip off). Open its residual twin to "
                    "compare the two here.",
                    icon=":material/info:",
                )
            elif twins:
                labels = {f"{r.name} · {r.id}": r for r in twins}
                run = labels[
                    st.selectbox(
                        "Plain twin (a finished run, every skip off)",
                        list(labels),
                        key="act.twin",
                        persist_state="page",
                    )
                ]
                mtime = s.checkpoint_path(run.id).stat().st_mtime
                twin_loaded = twin_model(str(s.root), run.id, mtime)
                twin, twin_x, twin_id = (
                    twin_loaded.model,
                    twin_loaded.to_tensor(sample.image),
                    run.id,
                )
            else:
                trainable = loaded.arch in ARCHS and loaded.dataset in DATASETS
                how = (
                    f"Train one: [open the Train page set up for a plain {loaded.arch} on "
                    f"{loaded.dataset}](/train?model.arch={loaded.arch}&data.dataset="
                    f"{loaded.dataset}&skips=) (every stage deselected under *Skip connections "
                    "on in*), press Start, and come back when it has finished."
                    if trainable
                    else "This model's data set cannot be trained here, so it has no plain twin."
                )
                st.info(
                    f"No plain twin in the run store (same architecture {loaded.arch}, same "
                    f"data set {loaded.dataset or 'unknown'}, every skip off, finished). {how}",
                    icon=":material/info:",
                )
            measures = {
                "std of F(x) (He et al. 2015, Fig. 7)": "branch_std",
                "std of the block output": "output_std",
                "‖F(x)‖ / ‖x‖": "ratio",
            }
            measure = st.radio(
                "Measure", list(measures), horizontal=True, key="act.measure", persist_state="page"
            )
            stats = depth(mkey, ikey, twin_id, loaded.model, x, twin, twin_x)
            field = measures[measure]
            names = next(iter(stats.values())).names
            st.plotly_chart(
                depth_lines(
                    names,
                    {label: getattr(v, field) for label, v in stats.items()},
                    title=f"{measure} per residual block, this image",
                    y_title=measure.split(" (")[0],
                ),
                key="act.depth",
            )
            st.caption(
                "He et al. (2015, Fig. 7) measured the standard deviation of every 3×3 layer's "
                "response (after BatchNorm, before the addition and ReLU) and found residual "
                "networks respond more weakly than their plain twins, which supports their idea "
                "that residual functions are generally closer to zero. Here: the last layer of "
                "each residual branch, on this one image, not averaged over a test set."
            )

    if compare_tab.open:
        with compare_tab:
            if len(samples) < 2:
                st.info(
                    "Choose a second picture in the sidebar (select two samples, upload two "
                    "files, or draw from the dataset) to compare them at this layer.",
                    icon=":material/compare:",
                )
            else:
                other = samples[1]
                y = loaded.to_tensor(other.image)
                ykey = sources.image_key(y)
                block = info.kind == "block"
                cap_a = layer_capture(mkey, ikey, layer, block, loaded.model, x)
                cap_b = layer_capture(mkey, ykey, layer, block, loaded.model, y)
                a = reduce_capture(cap_a, Reduce(top_k=SMALL_K, max_side=SMALL_SIDE))
                b = reduce_capture(
                    cap_b, Reduce(channels=tuple(a.channels.tolist()), max_side=SMALL_SIDE)
                )
                p1, p2 = st.columns([1, 5])
                p1.image(picture, caption=sample.name, width="stretch")
                p1.image(view_picture(loaded, other.image), caption=other.name, width="stretch")
                p2.plotly_chart(
                    compare_grid(
                        [a.maps[0].numpy(), b.maps[0].numpy()],
                        [sample.name, other.name],
                        a.channels.tolist(),
                        title=f"{layer}: the {SMALL_K} strongest channels for {sample.name}, "
                        "one colour scale",
                    ),
                    key="act.compare.maps",
                )
                st.plotly_chart(
                    channel_scatter(
                        [cap_a.mean[0].numpy(), cap_b.mean[0].numpy()], [sample.name, other.name]
                    ),
                    key="act.compare.scatter",
                )
                st.caption(
                    "Each point is one channel of this layer, over all its channels: its mean "
                    "activation for the first picture (x) and for the second (y). Points on the "
                    "diagonal respond alike to both pictures; the correlation in the title sums "
                    "up how similarly the whole layer responds."
                )
except ResNetVizError as err:
    st.error(str(err), icon=":material/error:")
