"""Explain page (AppTest): predictions, overlays per method, layer and target choice, uploads,
empty maps, a failing method, cancel, the ground-truth scores and the sanity check."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from resnet_viz import explain
from resnet_viz.explain import METHODS, MethodError, method_info
from resnet_viz.explain.cache import ResultCache

from ..conftest import shown

PAGE = "pages/explain.py"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def at(open_page):
    at = open_page(PAGE)
    assert not at.exception, at.exception
    return at


def overlays(at) -> list[str]:
    """The overlays' media URLs, which name their content (the first image is the picture,
    the last the colour scale)."""
    return [img.proto.imgs[0].url for img in at.image[1:-1]]


def headings(at) -> list[str]:
    return [m.value.strip("*") for m in at.markdown if m.value.startswith("**")]


def png(colour=(40, 160, 220), size=(48, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_opens_with_predictions_two_overlays_and_scores(at, charts):
    assert [t.value for t in at.title] == ["Explain"]
    predictions = at.dataframe[0].value
    assert len(predictions) == 5
    assert list(predictions["probability"]) == sorted(predictions["probability"], reverse=True)
    target = next(sb for sb in at.selectbox if sb.key.startswith("explain.target."))
    top1 = int(predictions["class"][0].rsplit("(", 1)[1].rstrip(")"))
    assert target.value == top1  # the top class by default
    assert headings(at)[:2] == ["Grad-CAM · layer3", "Saliency"]
    assert len(at.get("download_button")) == 2
    assert not at.error and not at.warning
    scale = next(c.value for c in at.caption if c.value.startswith("Colour scale:"))
    assert scale.endswith("The top of Saliency (2%) is clipped to the right end.")
    # The first sample is a Shapes picture with its mask: both methods are scored.
    quality = charts(at)["explain.quality"]
    assert [t["x"] for t in quality["data"]] == [["Grad-CAM", "Saliency"]] * 3  # 2 bars, chance
    table = at.dataframe[1].value
    assert list(table["method"]) == ["Grad-CAM", "Saliency"] and (table["images"] == 1).all()


def test_every_method_layer_and_target(at):
    at.multiselect(key="explain.methods").set_value(list(METHODS)).run()
    assert not at.exception, at.exception
    assert not at.error
    labels = headings(at)[: len(METHODS)]
    assert labels == [
        method_info(m).label + (" · layer3" if method_info(m).uses_layer else "") for m in METHODS
    ]
    assert len(at.get("download_button")) == len(METHODS)

    at.multiselect(key="explain.methods").set_value(["gradcam"]).run()
    (before,) = overlays(at)
    layer = next(sb for sb in at.selectbox if sb.key.startswith("explain.layer."))
    assert layer.options == [f"stage {i} output (layer{i})" for i in (1, 2, 3)]
    layer.set_value("layer1").run()
    assert headings(at)[0] == "Grad-CAM · layer1"
    (at_layer1,) = overlays(at)
    assert at_layer1 != before
    target = next(sb for sb in at.selectbox if sb.key.startswith("explain.target."))
    target.set_value(next(i for i in range(10) if i != target.value)).run()
    assert not at.exception, at.exception
    (other_class,) = overlays(at)
    assert other_class != at_layer1
    at.slider(key="explain.opacity").set_value(0.9).run()
    assert overlays(at) != [other_class]


def test_upload_an_image_and_a_bad_file(at):
    at.segmented_control(key="explain.mode").set_value("Upload").run()
    at.file_uploader(key="explain.upload").upload("sky.png", png(), "image/png").run()
    assert not at.exception, at.exception
    assert [shown(c) for c in at.image[0].captions] == ["sky.png, as the model sees it (32×32)"]
    assert headings(at)[:2] == ["Grad-CAM · layer3", "Saliency"]
    assert any("Pick Shapes pictures" in i.value for i in at.info)  # no mask: no scores

    at.file_uploader(key="explain.upload").upload("notes.png", b"not an image", "image/png").run()
    assert not at.exception, at.exception
    assert any("notes.png" in shown(e.value) and "not an image" in e.value for e in at.error)


def test_an_empty_map_says_so_and_still_shows_the_picture(at, monkeypatch):
    def zeros(model, image, method, *args, **kwargs):
        return torch.zeros(image.shape[2:])

    monkeypatch.setattr(explain, "attribute", zeros)
    at.slider(key="explain.opacity").set_value(0.4).run()  # a new request, not in the cache
    at.multiselect(key="explain.methods").set_value(["occlusion"]).run()
    assert not at.exception, at.exception
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("The map is empty (every value is 0). Try another class")
    assert len(at.get("download_button")) == 1


def test_a_method_failing_on_the_model_is_named_and_the_others_still_show(at, monkeypatch):
    real = explain.attribute

    def failing(model, image, method, *args, **kwargs):
        if method == "deeplift":
            raise MethodError("DeepLift needs every ReLU to be its own module.")
        if method == "guided_backprop":
            raise RuntimeError("CUDA out of memory")
        return real(model, image, method, *args, **kwargs)

    monkeypatch.setattr(explain, "attribute", failing)
    at.multiselect(key="explain.methods").set_value(["deeplift", "guided_backprop", "saliency"])
    at.run()
    assert not at.exception, at.exception
    errors = [shown(e.value) for e in at.error]
    assert "DeepLift needs every ReLU to be its own module." in errors
    assert "Guided Backprop failed on this model: CUDA out of memory" in errors
    assert len(at.get("download_button")) == 1  # Saliency's


def test_cancel_then_compute_again(at, monkeypatch):
    """A click on Cancel interrupts the run in a browser, so nothing gets cached; here the
    interruption is simulated by a cache that drops integrated gradients' map."""
    put = ResultCache.put

    def interrupted(self, key, value):
        if getattr(key, "method", None) != "integrated_gradients":
            put(self, key, value)

    monkeypatch.setattr(ResultCache, "put", interrupted)
    at.multiselect(key="explain.methods").set_value(["gradcam", "integrated_gradients"]).run()
    at.button(key="explain.cancel.the maps").click().run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info][:1] == ["Cancelled."]
    assert len(at.get("download_button")) == 1  # Grad-CAM's map is still shown

    monkeypatch.setattr(ResultCache, "put", put)
    at.button(key="explain.retry.integrated_gradients").click().run()
    assert not at.exception, at.exception
    assert "Cancelled." not in [i.value for i in at.info]
    assert len(at.get("download_button")) == 2


def test_sanity_check_chart_and_an_honest_verdict(at, charts):
    assert at.radio(key="explain.sanity_on").value == "8 from the model's dataset"
    at.radio(key="explain.sanity_on").set_value("the 1 chosen").run()
    at.button(key="explain.sanity.run").click().run()
    assert not at.exception, at.exception
    spec = charts(at)["explain.sanity"]
    lines = [t for t in spec["data"] if t["type"] == "scatter"]
    assert [t["name"] for t in lines] == [
        "Grad-CAM", "Saliency", "Guided Backprop", "Guided Grad-CAM"
    ]  # fmt: skip
    assert lines[0]["x"] == ["original", "fc", "layer3.0", "layer2.0", "layer1.0", "stem"]
    verdicts = at.dataframe[-1].value
    published = dict(zip(verdicts["method"], verdicts["Adebayo et al. 2018"], strict=True))
    here = dict(zip(verdicts["method"], verdicts["here"], strict=True))
    said = " ".join(m.value for m in [*at.success, *at.info, *at.warning])
    for method, verdict in here.items():
        # Every method is reported under the heading its own result calls for.
        assert f"{method} {verdict} (published: {published[method]})" in said
        if verdict not in (published[method], "borderline", "empty"):
            assert any(method in w.value for w in at.warning), method


def test_repeated_requests_are_served_from_the_cache(at, monkeypatch):
    real = explain.attribute
    calls: list[str] = []

    def counting(model, image, method, *args, **kwargs):
        calls.append(method)
        return real(model, image, method, *args, **kwargs)

    monkeypatch.setattr(explain, "attribute", counting)
    at.multiselect(key="explain.methods").set_value(["gradcam", "smoothgrad"]).run()
    assert calls == ["smoothgrad"]  # Grad-CAM's map is cached from the first view
    at.slider(key="explain.opacity").set_value(0.7).run()  # display only: nothing recomputed
    at.multiselect(key="explain.methods").set_value(["smoothgrad", "gradcam"]).run()
    assert calls == ["smoothgrad"]
    assert len(at.get("download_button")) == 2
