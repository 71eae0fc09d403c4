"""Home: what ResNet Viz is for, and where to go."""

import streamlit as st

from resnet_viz import ui

ui.route_through_app()

st.title("ResNet Viz")
st.markdown(
    """
See inside residual networks. Train a ResNet here — on a GPU when there is one, on the CPU when
not — and watch the loss and **every layer's gradient** stream in live. Switch skip connections
off and see training degrade or diverge; look at what each layer computes for a picture, and at
which pixels a prediction rests on — with a check of how far each explanation can be trusted.

The built-in **Shapes** dataset (ten kinds of coloured shapes on cluttered backgrounds) needs no
download: the default setup reaches 90% validation accuracy in about a minute on a laptop CPU, and
a model trained that way ships with the app, so every page works before any training.
"""
)

CARDS = [
    (
        "pages/train.py",
        "Train",
        "a ResNet, and watch it learn",
        ":material/model_training:",
        "Pick an architecture (CIFAR ResNet-8…110 or torchvision ResNet-18/34/50), skips, "
        "BatchNorm, dataset and optimiser; press Start. The setup lives in the page URL, so a "
        "link opens the same experiment.",
    ),
    (
        "pages/skiplab.py",
        "Skip Lab",
        "why residual connections matter",
        ":material/alt_route:",
        "Train plain and residual twins side by side on the same batches, flip skips while they "
        "train, and reproduce the published experiments: degradation, no BatchNorm, broken "
        "shortcuts, lesions.",
    ),
    (
        "pages/activations.py",
        "Activations",
        "inside every layer",
        ":material/layers:",
        "Feature maps of any layer for your picture, and each residual block taken apart: "
        "input, residual branch, shortcut and output.",
    ),
    (
        "pages/explain.py",
        "Explain",
        "a prediction, and how far to trust it",
        ":material/center_focus_strong:",
        "Grad-CAM and Captum attributions side by side, scored against ground-truth masks and "
        "checked by randomising the model's weights.",
    ),
    (
        "pages/landscape.py",
        "Landscape",
        "the loss around the trained weights",
        ":material/landscape:",
        "Li et al.'s loss surfaces for any finished run: a ResNet's and its plain twin's side by "
        "side, cut along the same random directions, with what this run shows.",
    ),
    (
        "pages/runs.py",
        "Runs",
        "every run, kept",
        ":material/history:",
        "Open any past run's charts, compare runs on one chart, delete what you no longer need. "
        "Runs survive server restarts.",
    ),
]
for row in (CARDS[:3], CARDS[3:6]):
    for col, (page, name, what, icon, caption) in zip(st.columns(3), row, strict=False):
        with col, st.container(border=True):
            # A link's label never wraps (a long one is cut off in a narrow column): the page's
            # name is the link, what it is for a line of its own.
            st.page_link(page, label=f"**{name}**", icon=icon)
            st.markdown(f"**{what[0].upper()}{what[1:]}**")
            st.caption(caption)
st.caption(
    "Runs are stored under `RESNET_VIZ_RUNS_DIR` (default `./runs`); datasets and your own image "
    "folders under `RESNET_VIZ_DATA_ROOT` (default `./data`)."
)
