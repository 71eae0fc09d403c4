"""Home: what ResNet Viz is for, and where to go."""

import streamlit as st

from resnet_viz import ui

ui.route_through_app()

st.title("ResNet Viz")
st.markdown(
    """
See inside residual networks. Train a ResNet here — on a GPU when there is one, on the CPU when
not — and watch the loss and **every layer's gradient** stream in live. Switch skip connections
off and see what changes; keep every run and compare them.

The built-in **Shapes** dataset (ten kinds of coloured shapes on cluttered backgrounds) needs no
download: the default setup reaches 90% validation accuracy in under a minute on a laptop CPU.
"""
)
c1, c2 = st.columns(2)
with c1, st.container(border=True):
    st.page_link(
        "pages/train.py",
        label="**Train** a ResNet and watch it learn",
        icon=":material/model_training:",
    )
    st.caption(
        "Pick an architecture (CIFAR ResNet-8…110 or torchvision ResNet-18/34/50), skips, "
        "BatchNorm, dataset and optimiser; press Start. The setup lives in the page URL, so a "
        "link opens the same experiment."
    )
with c2, st.container(border=True):
    st.page_link("pages/runs.py", label="**Runs**: every run, kept", icon=":material/history:")
    st.caption(
        "Open any past run's charts, compare runs on one chart, delete what you no longer need."
        " Runs survive server restarts."
    )
st.caption(
    "Runs are stored under `RESNET_VIZ_RUNS_DIR` (default `./runs`); datasets and your own image "
    "folders under `RESNET_VIZ_DATA_ROOT` (default `./data`)."
)
