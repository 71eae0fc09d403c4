"""ResNet Viz: the router. Each page is a script in pages/; this file only registers them (and
what every page shares: the sidebar's switches, and a run store that cannot be used said in
words instead of a traceback)."""

import streamlit as st

from resnet_viz import ui
from resnet_viz.errors import StoreError

st.set_page_config(page_title="ResNet Viz", page_icon=":material/hub:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:", url_path="runs"),
    st.Page("pages/skiplab.py", title="Skip Lab", icon=":material/alt_route:", url_path="skiplab"),
    st.Page(
        "pages/activations.py",
        title="Activations",
        icon=":material/layers:",
        url_path="activations",
    ),
    st.Page(
        "pages/landscape.py",
        title="Landscape",
        icon=":material/landscape:",
        url_path="landscape",
    ),
    st.Page(
        "pages/explain.py",
        title="Explain",
        icon=":material/center_focus_strong:",
        url_path="explain",
    ),
]
page = st.navigation(pages)
ui.presentation_switch()  # the sidebar's Presentation mode, on every page
try:
    ui.roles.sidebar()  # in classroom mode: presenter or viewer
    ui.store_notice()
    page.run()
except StoreError as err:
    ui.store_failure(err)
