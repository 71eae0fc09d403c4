"""Activations page (AppTest): layer maps, residual anatomy, skips toggled at inference, response
strength across depth with and without a plain twin, two images, uploads."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from resnet_viz import zoo
from resnet_viz.activations import block_anatomy
from resnet_viz.models import residual_blocks

from ..conftest import shown

PAGE = "pages/activations.py"


@pytest.fixture
def at(open_page):
    at = open_page(PAGE)
    assert not at.exception, at.exception
    return at


def show(at, view: str):
    at.session_state["act.view"] = view  # the tabs' state: what a click on the tab sets
    at.run()
    assert not at.exception, at.exception
    return at


def shared_model():
    """The bundled model as the page's cache holds it (same process as the AppTest script)."""
    from resnet_viz.ui import sources

    return sources._default()


def png(colour=(200, 30, 30), size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_opens_on_the_first_block_with_feature_maps_only(at, charts):
    assert [t.value for t in at.title] == ["Activations"]
    assert at.selectbox(key="act.layer").value == "layer1.0"
    labels = at.selectbox(key="act.layer").options
    assert labels[0].startswith("conv1 — stem") and labels[-1].startswith("layer3.0 — stage 3")
    specs = charts(at)
    # Only the open tab ran: no anatomy, toggle, depth or comparison figure was built.
    assert set(specs) == {"act.top5", "act.grid", "act.hist"}
    grid = specs["act.grid"]
    assert len(grid["layout"]["annotations"]) == 16  # the 16 strongest channels, labelled
    assert grid["layout"]["title"]["text"] == "layer1.0: 16 of 16 channels (all)"
    top5 = specs["act.top5"]["data"][0]
    assert len(top5["y"]) == 5 and max(top5["x"]) <= 1
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 16  # every channel's stats


def test_choosing_a_layer_and_a_page_of_all_channels(at, charts):
    at.selectbox(key="act.layer").set_value("layer3.0.conv1").run()
    at.radio(key="act.which").set_value("All, page by page").run()
    at.number_input(key="act.page.layer3.0.conv1.64").set_value(2).run()
    assert not at.exception, at.exception
    grid = charts(at)["act.grid"]
    texts = [a["text"] for a in grid["layout"]["annotations"]]
    assert texts == [str(c) for c in range(32, 64)]
    assert at.selectbox(key="act.channel").options[0].startswith("channel 32 · mean")
    at.selectbox(key="act.channel").set_value(40).run()
    assert "channel 40" in at.image[-1].captions[0]


def test_residual_anatomy_of_the_chosen_block(at, charts):
    at.selectbox(key="act.layer").set_value("layer2.0.bn1").run()  # inside block layer2.0
    show(at, "Residual anatomy")
    specs = charts(at)
    assert "act.grid" not in specs
    panel = specs["act.anatomy"]
    assert [t["type"] for t in panel["data"]] == ["heatmap"] * 4
    assert "layer2.0" in panel["layout"]["title"]["text"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shortcut"] == "zero-pad"
    # The ratio on the page is the library's, on the picture the page shows.
    loaded = zoo.load_default()
    x = loaded.to_tensor(zoo.sample_images(loaded)[0].image)
    expected = block_anatomy(loaded.model, x, "layer2.0").ratio
    assert metrics["‖F(x)‖ / ‖x‖"] == f"{expected:.3f}"
    at.radio(key="act.amode").set_value("One channel").run()
    at.number_input(key="act.achannel.layer2.0.32").set_value(10).run()
    assert "channel 10" in charts(at)["act.anatomy"]["layout"]["title"]["text"]


def test_stem_layers_have_no_anatomy(at):
    at.selectbox(key="act.layer").set_value("conv1").run()
    show(at, "Residual anatomy")
    assert "stem has no skip connection" in at.info[0].value


def test_toggling_skips_compares_with_the_unchanged_model_and_leaves_it_alone(at, charts):
    model = shared_model().model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    show(at, "Toggle skips")
    assert "Every skip is as the model was trained" in at.info[0].value
    stage2 = next(p for p in at.pills if p.label == "Stage 2: skip on in")
    stage2.set_value([]).run()  # switch stage 2's skip off
    assert not at.exception, at.exception
    specs = charts(at)
    bars = specs["act.toggle.top5"]["data"]
    assert [b["name"] for b in bars] == ["unchanged", "skips off in layer2.0"]
    assert bars[0]["x"] != bars[1]["x"]
    ratio = specs["act.toggle.ratio"]["data"]
    # A block's own x and F(x) do not depend on its skip; the next block's input does.
    assert ratio[0]["y"][:2] == ratio[1]["y"][:2]
    assert ratio[0]["y"][2] != ratio[1]["y"][2]
    maps = specs["act.toggle.maps"]
    assert len(maps["layout"]["annotations"]) == 8  # the same 8 channels for both models
    assert maps["layout"]["yaxis"]["ticktext"] == ["unchanged", "toggled"]
    assert any("runs before the first switched-off skip" in c.value for c in at.caption)
    at.selectbox(key="act.layer").set_value("layer3.0").run()
    assert not any("runs before the first switched-off skip" in c.value for c in at.caption)
    # The shared, cached model: same object, same weights, skips on, no hooks left.
    assert shared_model().model is model
    assert [b.skip_scale for _, b in residual_blocks(model)] == [1.0, 1.0, 1.0]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks for m in model.modules())


def test_choices_survive_other_tabs_and_an_empty_image_list(at, charts):
    at.selectbox(key="act.layer").set_value("layer2.0").run()
    show(at, "Toggle skips")
    next(p for p in at.pills if p.label == "Stage 3: skip on in").set_value([]).run()
    show(at, "Residual anatomy")  # the switches are not rendered here…
    show(at, "Toggle skips")  # …and come back as they were
    assert next(p for p in at.pills if p.label == "Stage 3: skip on in").value == []
    assert "act.toggle.top5" in charts(at)
    at.segmented_control(key="act.mode").set_value("Upload").run()  # no picture: page stops
    at.segmented_control(key="act.mode").set_value("Samples").run()
    assert at.selectbox(key="act.layer").value == "layer2.0"


def test_depth_without_a_twin_says_how_to_make_one(at, charts):
    show(at, "Across depth")
    message = at.info[0].value
    assert "No plain twin" in message
    assert "/train?model.arch=resnet8&data.dataset=shapes&skips=" in message
    lines = charts(at)["act.depth"]["data"]
    assert [t["name"] for t in lines] == ["this model"] and len(lines[0]["y"]) == 3


def test_depth_with_a_plain_twin_from_the_run_store(open_page, train_run, charts):
    run_id = train_run("plain twin", **{"model.skip": "0,0,0"})
    train_run("residual", **{"model.skip": "1,1,1"})  # not a twin
    at = open_page(PAGE)
    show(at, "Across depth")
    assert at.selectbox(key="act.twin").options == [f"plain twin · {run_id}"]
    lines = charts(at)["act.depth"]["data"]
    assert [t["name"] for t in lines] == ["this model", "plain twin"]
    at.radio(key="act.measure").set_value("‖F(x)‖ / ‖x‖").run()
    assert charts(at)["act.depth"]["layout"]["yaxis"]["title"]["text"] == "‖F(x)‖ / ‖x‖"


def test_a_plain_model_is_not_compared_with_another_plain_one(open_page, train_run, charts):
    run_id = train_run("plain", **{"model.skip": "0,0,0"})
    at = open_page(PAGE)
    at.radio(key="act.source").set_value("A run").run()
    assert at.selectbox(key="act.run").value.endswith(run_id)
    show(at, "Across depth")
    assert "itself plain" in at.info[0].value
    assert [t["name"] for t in charts(at)["act.depth"]["data"]] == ["this model"]


def test_compare_two_images_at_the_same_layer(at, charts):
    show(at, "Compare images")
    assert "second picture" in at.info[0].value
    names = at.multiselect(key="act.samples").options[:2]
    at.multiselect(key="act.samples").set_value(names).run()
    assert not at.exception, at.exception
    specs = charts(at)
    grid = specs["act.compare.maps"]
    assert len(grid["layout"]["annotations"]) == 8
    assert grid["layout"]["yaxis"]["ticktext"] == names
    scatter = specs["act.compare.scatter"]["data"][1]
    assert len(scatter["x"]) == 16  # every channel of layer1.0


def test_upload_an_image_and_a_bad_file(at, charts):
    at.segmented_control(key="act.mode").set_value("Upload").run()
    assert "Choose a picture" in at.info[0].value
    at.file_uploader(key="act.upload").upload("red.png", png(), "image/png").run()
    assert not at.exception, at.exception
    caption = at.image[0].captions[0]
    assert shown(caption).startswith("red.png, as the model sees it (32×32)")
    assert "act.grid" in charts(at)
    at.file_uploader(key="act.upload").upload("broken.png", b"not an image", "image/png").run()
    assert not at.exception, at.exception
    assert any("broken.png" in shown(e.value) for e in at.error)


def test_an_upload_is_kept_at_the_models_input_scale_in_the_session(at):
    """A large picture is not kept at full size: the session keeps it downscaled to what the
    model resizes to, and only while it is in the uploader."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(buf, format="PNG")
    at.segmented_control(key="act.mode").set_value("Upload").run()
    at.file_uploader(key="act.upload").upload("big.png", buf.getvalue(), "image/png").run()
    assert not at.exception, at.exception
    (sample,) = at.session_state["act.decoded"].values()
    assert sample.image.size == (48, 32)  # short side 32, the bundled model's input
    at.file_uploader(key="act.upload").upload("red.png", png(), "image/png").run()
    assert not at.exception
    assert [s.name for s in at.session_state["act.decoded"].values()] == ["red.png"]
