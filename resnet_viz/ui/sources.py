"""The model and picture pickers the Explain and Activations pages share, and the cache keys
and cached top-5 predictions both pages use.

Each picker renders where it is called and returns what the user chose, or nothing usable after
saying why on the page. Loading is cached per source, so switching pages or images reloads
nothing.
"""

from __future__ import annotations

import hashlib

import streamlit as st
import torch

from .. import zoo
from ..errors import CheckpointError, DataError, InputError, StoreError
from ..images import load_image
from ..models import ARCHS, TORCHVISION_ARCHS
from .resources import store
from .text import md

SOURCES = ("Bundled default", "A run", "ImageNet (torchvision)", "Upload weights")
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
IMAGE_MODES = ("Samples", "Upload", "From the dataset")


def model_key(loaded: zoo.LoadedModel) -> str:
    """A cache key for a picked model. LoadedModel is cached (cache_resource) for as long as it
    is offered, so the id is stable."""
    return f"{loaded.name}|{loaded.arch}|{id(loaded.model)}"


def image_key(x: torch.Tensor) -> str:
    """A cache key for a picture: a hash of its input tensor."""
    return hashlib.blake2b(x.numpy().tobytes(), digest_size=16).hexdigest()


@st.cache_data(show_spinner=False, max_entries=32)
def top5(mkey: str, ikey: str, _loaded: zoo.LoadedModel, _x: torch.Tensor):
    """The model's top-5 predictions for a picture, cached by ``model_key``/``image_key``."""
    return _loaded.predict(_x, k=5)


@st.cache_resource(show_spinner="Loading the bundled model…")
def _default() -> zoo.LoadedModel:
    return zoo.load_default()


@st.cache_resource(show_spinner="Loading the run's checkpoint…", max_entries=8)
def _run(root: str, run_id: str, member: int, mtime: float) -> zoo.LoadedModel:
    return zoo.load_run(store(), run_id, member)  # root and mtime key the cache


@st.cache_resource(show_spinner="Loading ImageNet weights…", max_entries=3)
def _torchvision(arch: str) -> zoo.LoadedModel:
    return zoo.load_torchvision(arch)


@st.cache_resource(show_spinner="Reading the weights file…", max_entries=2)
def _uploaded(data: bytes, filename: str, arch: str | None) -> zoo.LoadedModel:
    return zoo.load_user_weights(data, filename, arch=arch)


def pick_model(key: str) -> zoo.LoadedModel | None:
    """Model source → a loaded model, or ``None`` after an error or hint shown on the page."""
    source = st.radio("Model", SOURCES, key=f"{key}.source", horizontal=True)
    try:
        if source == SOURCES[0]:
            loaded = _default()
        elif source == SOURCES[1]:
            runs = zoo.run_checkpoints(store())
            if not runs:
                st.info(
                    "No run has a checkpoint yet. Train one on the **Train** page (a run saves its "
                    "model when it finishes or is stopped), or pick another source.",
                    icon=":material/info:",
                )
                return None
            label = st.selectbox("Run", [r[0] for r in runs], key=f"{key}.run")
            _, run_id, member = next(r for r in runs if r[0] == label)
            mtime = store().checkpoint_path(run_id, member).stat().st_mtime
            loaded = _run(str(store().root), run_id, member, mtime)
        elif source == SOURCES[2]:
            arch = st.selectbox("Architecture", TORCHVISION_ARCHS, key=f"{key}.tv")
            loaded = _torchvision(arch)
        else:
            up = st.file_uploader(
                "Weights file (.safetensors, or a PyTorch state dict .pth/.pt)",
                type=["safetensors", "pth", "pt"],
                key=f"{key}.weights",
                help="Files are read without unpickling: .safetensors, or .pth through "
                "torch.load(weights_only=True), which refuses anything but tensors.",
            )
            arch = st.selectbox("Architecture", ("detect from the file", *ARCHS), key=f"{key}.arch")
            if up is None:
                st.caption("Upload a weights file to inspect your own model.")
                return None
            chosen = None if arch.startswith("detect") else arch
            loaded = _uploaded(up.getvalue(), up.name, chosen)
    except (CheckpointError, DataError, StoreError) as err:
        st.error(md(err), icon=":material/error:")
        return None
    st.caption(
        f"**{md(loaded.name)}** · {len(loaded.classes)} classes · {loaded.image_size}×"
        f"{loaded.image_size} input"
    )
    if loaded.note:
        st.caption(f":material/info: {loaded.note}")
    return loaded


def _decoded(key: str, files: list, short_side: int) -> list[zoo.Sample | InputError]:
    """This session's uploads, decoded once and kept at the model's input scale (a 6000×6000
    picture becomes 256 px on its short side for ImageNet models, 32 px for CIFAR ones), in
    the session's own state: nothing outlives the session, and what is kept is bounded by the
    uploader's file count times the model's input size. Files no longer in the uploader are
    dropped."""
    kept: dict = st.session_state.setdefault(f"{key}.decoded", {})
    wanted = {(f.file_id, short_side): f for f in files}
    for stale in set(kept) - set(wanted):
        del kept[stale]
    for k, f in wanted.items():
        if k not in kept:
            try:
                kept[k] = zoo.Sample(f.name, load_image(f.getvalue(), short_side=short_side))
            except InputError as err:
                kept[k] = err
    return [kept[k] for k in wanted]


@st.cache_resource(show_spinner=False, max_entries=8)
def _samples(_loaded: zoo.LoadedModel, dataset: str | None, size: int) -> list[zoo.Sample]:
    return zoo.sample_images(_loaded)  # the samples depend only on the dataset and input size


def pick_images(key: str, loaded: zoo.LoadedModel, *, max_images: int = 4) -> list[zoo.Sample]:
    """Pictures to look at: bundled samples, uploads (bad files are named and skipped), or
    draws from the model's dataset."""
    mode = st.segmented_control(
        "Images", IMAGE_MODES, key=f"{key}.mode", default=IMAGE_MODES[0], selection_mode="single"
    )
    if mode == "Upload":
        files = st.file_uploader(
            f"Images (up to {max_images})",
            type=IMAGE_TYPES,
            accept_multiple_files=True,
            key=f"{key}.upload",
        )
        if len(files) > max_images:
            st.warning(f"Showing the first {max_images} of {len(files)} images.")
        out = []
        decoded = _decoded(key, files[:max_images], loaded.short_side)
        for f, got in zip(files, decoded, strict=False):
            if isinstance(got, InputError):
                st.error(f"**{md(f.name)}**: {md(got)}", icon=":material/broken_image:")
            else:
                out.append(got)
        if not files:
            st.caption("PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF.")
        return out
    if mode == "From the dataset":
        seed = st.number_input("Draw", min_value=0, value=0, step=1, key=f"{key}.seed")
        try:
            return zoo.dataset_samples(loaded, max_images, int(seed))
        except (DataError, InputError) as err:
            st.error(md(err), icon=":material/error:")
            return []
    samples = {s.name: s for s in _samples(loaded, loaded.dataset, loaded.image_size)}
    chosen = st.session_state.get(f"{key}.samples")
    if chosen is not None and not set(chosen) <= set(samples):
        # The offered samples depend on the model: after a switch (say, from a Shapes model to
        # an ImageNet one) start from the first sample again rather than from an empty list.
        st.session_state[f"{key}.samples"] = list(samples)[:1]
    names = st.multiselect(
        "Samples",
        list(samples),
        default=list(samples)[:1],
        max_selections=max_images,
        key=f"{key}.samples",
    )
    return [samples[n] for n in names]


def pick_model_and_images(
    key: str, *, max_images: int, images_hint: str = "", missing: str = ""
) -> tuple[zoo.LoadedModel, list[zoo.Sample]]:
    """The sidebar's model and pictures. Stops the page with a hint until it has both:
    ``images_hint`` is a caption under the picture picker, ``missing`` ends the hint shown
    while no picture is chosen."""
    with st.sidebar:
        st.header("Model")
        loaded = pick_model(key)
        samples: list[zoo.Sample] = []
        if loaded is not None:
            st.header("Images")
            samples = pick_images(key, loaded, max_images=max_images)
            if images_hint:
                st.caption(images_hint)
    if loaded is None:
        st.info("Choose a model in the sidebar.", icon=":material/arrow_back:")
        st.stop()
    if not samples:
        st.info(
            "Choose a picture in the sidebar: a sample, your own upload, or a draw from the "
            f"model's dataset{missing}.",
            icon=":material/image:",
        )
        st.stop()
    for sample in samples:
        for note in zoo.picture_warnings(loaded, sample):
            st.warning(note, icon=":material/help:")
    return loaded, samples
