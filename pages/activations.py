"""Activations: what the network computes for an image, layer by layer and block by block."""

import streamlit as st

from resnet_viz import ui
from resnet_viz.activations import first_block, view_picture
from resnet_viz.errors import ResNetVizError
from resnet_viz.figures.activations import top_bars
from resnet_viz.ui import activations as act
from resnet_viz.ui import sources

ui.route_through_app()

st.title("Activations")
st.caption(
    "What the network computes for one image: every layer's feature maps, what each residual "
    "block adds to its input, what changes when skip connections are switched off, and how "
    "strongly each block responds across depth."
)

loaded, samples = sources.pick_model_and_images(
    "act", max_images=2, images_hint="Choose two to compare them at the same layer."
)

sample = samples[0]
x = loaded.to_tensor(sample.image)
mkey, ikey = sources.model_key(loaded), sources.image_key(x)
picture = view_picture(loaded.input_image(sample.image))
layers = act.layer_list(mkey, loaded)
by_name = {layer.name: layer for layer in layers}

# ---- the picture and the model's top 5 ---------------------------------------------------------
top = st.columns([1, 3])
top[0].image(
    picture,
    caption=f"{ui.md(sample.name)}, as the model sees it ({loaded.image_size}×{loaded.image_size})",
    width="stretch",
)
ranked = sources.top5(mkey, ikey, loaded, x)
ui.plot(
    top[1],
    top_bars(
        {
            ui.plain(loaded.name): (
                [ui.plain(name) for _, name, _ in ranked],
                [p for *_, p in ranked],
            )
        }
    ),
    key="act.top5",
)

# ---- the layer every tab looks at --------------------------------------------------------------
# A stored choice the current model does not offer falls back to the index (Streamlit's own rule).
layer = st.selectbox(
    "Layer or residual block (network order)",
    list(by_name),
    index=list(by_name).index(first_block(layers)),
    format_func=lambda n: by_name[n].label,
    key="act.layer",
    persist_state="page",
    help="Blocks show their output after the addition and final ReLU; the layers inside a "
    "block belong to its residual branch F(x).",
)
here = act.Subject(loaded, tuple(samples), x, mkey, ikey, picture, by_name[layer], tuple(by_name))

# ---- the tabs: lazy, only the open tab's content runs ------------------------------------------
views = {
    "Feature maps": act.feature_maps,
    "Residual anatomy": act.residual_anatomy,
    "Toggle skips": act.toggle_skips,
    "Across depth": act.across_depth,
    "Compare images": act.compare_images,
}
tabs = st.tabs(list(views), key="act.view", on_change="rerun")
try:
    for tab, view in zip(tabs, views.values(), strict=True):
        if tab.open:
            with tab:
                view(here)
except ResNetVizError as err:
    st.error(ui.md(err), icon=":material/error:")
