"""The shared model and picture pickers (resnet_viz.ui.sources), driven through AppTest."""

from __future__ import annotations

import io

import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from resnet_viz.models import build_model

from ..conftest import shown


def _script() -> None:
    import streamlit as st

    from resnet_viz.ui.sources import pick_images, pick_model

    loaded = pick_model("t")
    st.session_state["picked_model"] = loaded and loaded.name
    if loaded is not None:
        samples = pick_images("t", loaded, max_images=2)
        st.session_state["picked"] = [
            (s.name, s.image.size, s.mask is not None, s.label) for s in samples
        ]


@pytest.fixture(autouse=True)
def _fresh_cache():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def _app() -> AppTest:
    return AppTest.from_function(_script, default_timeout=60).run()


def _png(size=(40, 30), colour=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def test_default_model_and_first_sample_are_ready_without_any_clicks():
    at = _app()
    assert not at.exception
    assert at.session_state["picked_model"].startswith("Bundled default")
    assert at.session_state["picked"] == [("Shapes circle #0", (32, 32), True, 0)]


def test_dataset_draws_follow_the_draw_number():
    at = _app()
    at.button_group(key="t.mode").set_value("From the dataset").run()
    first = at.session_state["picked"]
    assert len(first) == 2 and all(has_mask for _, _, has_mask, _ in first)
    at.number_input(key="t.seed").set_value(1).run()
    assert at.session_state["picked"] != first


def test_uploads_are_decoded_and_bad_files_are_named_not_fatal():
    at = _app()
    at.button_group(key="t.mode").set_value("Upload").run()
    uploader = at.file_uploader(key="t.upload")
    uploader.upload("red.png", _png(), "image/png")
    uploader.upload("fake.png", b"this is not a picture", "image/png")
    at.run()
    assert not at.exception
    assert at.session_state["picked"] == [("red.png", (40, 30), False, None)]
    assert any("fake.png" in shown(e.value) and "not an image" in e.value for e in at.error)


def test_a_run_without_checkpoints_gives_a_hint_not_an_error():
    at = _app()
    at.radio(key="t.source").set_value("A run").run()
    assert not at.exception and not at.error
    assert "Train" in at.info[0].value
    assert at.session_state["picked_model"] is None


def test_imagenet_weights_offline_explain_where_to_put_them():
    at = _app()  # tests/conftest.py: no downloads, an empty hub cache
    at.radio(key="t.source").set_value("ImageNet (torchvision)").run()
    assert not at.exception
    assert "torch hub cache" in at.error[0].value


def test_uploaded_weights_are_detected_and_a_mismatch_is_explained():
    buf = io.BytesIO()
    torch.save(build_model("resnet14", 4).state_dict(), buf)
    at = _app()
    at.radio(key="t.source").set_value("Upload weights").run()
    at.file_uploader(key="t.weights").upload("mine.pth", buf.getvalue(), "application/octet-stream")
    at.run()
    assert not at.exception
    assert at.session_state["picked_model"] == "mine.pth (resnet14, 4 classes)"
    at.selectbox(key="t.arch").set_value("resnet20").run()
    assert "does not fit resnet20" in at.error[0].value


def test_switching_to_a_model_with_other_samples_starts_from_its_first_sample():
    buf = io.BytesIO()
    torch.save(build_model("resnet8", 3).state_dict(), buf)
    at = _app()
    at.radio(key="t.source").set_value("Upload weights").run()
    at.file_uploader(key="t.weights").upload("tiny.pth", buf.getvalue(), "application/octet-stream")
    at.run()
    assert not at.exception
    assert at.session_state["picked"] == [("flower", (320, 214), False, None)]


def _page_script() -> None:
    from resnet_viz.ui.sources import pick_model_and_images

    pick_model_and_images("p", max_images=2)


def test_the_page_warns_about_a_photo_and_a_tiny_picture_for_the_shapes_model():
    at = AppTest.from_function(_page_script, default_timeout=60).run()
    assert not at.warning  # the first sample is a drawn shape: nothing to warn about
    at.button_group(key="p.mode").set_value("Upload").run()
    at.file_uploader(key="p.upload").upload("dot.png", _png((1, 1)), "image/png")
    at.run()
    assert not at.exception, at.exception
    said = [w.value for w in at.warning]
    assert any("not one of the drawn shapes" in w for w in said)
    assert any("only 1×1 pixels" in w for w in said)
