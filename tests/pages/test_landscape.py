"""Landscape page: pick a finished run and its members, compute their surfaces once, see them
side by side with what this run shows; the store keeps them for the next visit."""

from __future__ import annotations

from resnet_viz import keys

from ..conftest import shown

PAGE = "pages/landscape.py"


def compute_button(at):
    return [b for b in at.button if b.label == "Compute the landscape"]


def computed(open_page, run_id: str):
    """The page on ``run_id`` after computing a small (5×5, 64 images) landscape."""
    at = open_page(PAGE, query_params={"run": run_id})
    at.select_slider(key="land.steps").set_value(5)
    at.select_slider(key="land.images").set_value(64)
    at.run()
    compute_button(at)[0].click().run()
    assert not at.exception, at.exception
    return at


def test_without_a_finished_run_it_says_what_to_train(open_page):
    at = open_page(PAGE)
    assert not at.exception
    assert any("No finished run with saved weights" in i.value for i in at.info)


def test_compute_a_cohorts_surfaces_and_find_them_again(open_page, store, train_run, charts):
    run_id = train_run("twins", cohort="plain8", snapshots=3, **{"data.image_size": 16})
    at = open_page(PAGE, query_params={"run": run_id})
    assert not at.exception, at.exception
    assert at.selectbox(key="land.run").value == run_id
    assert at.multiselect(key=f"land.members.{run_id}").value == ["resnet8", "plain8"]
    at.select_slider(key="land.steps").set_value(5)
    at.select_slider(key="land.images").set_value(64)
    at.run()
    (note,) = [i.value for i in at.info if "Not computed yet" in i.value]
    assert "resnet8, plain8" in note and "50 grid points" in note

    compute_button(at)[0].click().run()
    assert not at.exception, at.exception
    assert not compute_button(at)  # nothing left to compute
    stored = store.analyses(run_id, keys.LANDSCAPE)
    assert sorted(stored) == [0, 1] and stored[0]["steps"] == 5
    specs = charts(at)
    contours = [t for t in specs["land.contours"]["data"] if t["type"] == "contour"]
    assert len(contours) == 2 and contours[0]["zmin"] == contours[1]["zmin"]  # one scale
    assert len(specs["land.slices"]["data"]) == 4  # two directions per member
    assert [t["name"] for t in specs["land.path"]["data"]] == ["resnet8", "plain8"]  # from init
    assert any(k.startswith("land.3d.") for k in specs)
    # The path training took, on each member's PCA plane: 3 snapshots, the start and the end.
    path = specs["land.trajectory"]
    assert len([t for t in path["data"] if t["type"] == "contour"]) == 2
    walks = [t for t in path["data"] if t.get("name") == "training path"]
    assert [len(t["x"]) for t in walks] == [5, 5] and walks[0]["customdata"] == [0, 1, 2, 3, 4]
    assert path["layout"]["xaxis"]["title"]["text"].startswith("PC 1 · ")
    assert any("share of the path's movement" in c.value for c in at.caption)
    verdicts = [*at.success, *at.warning]
    assert len(verdicts) == 1 and "local minim" in verdicts[0].value

    again = open_page(PAGE, query_params={"run": run_id})  # a new visit: from the store
    again.select_slider(key="land.steps").set_value(5)
    again.select_slider(key="land.images").set_value(64)
    again.run()
    assert not compute_button(again) and "land.contours" in charts(again)


def test_measure_the_sharpness_of_each_member(open_page, store, train_run, monkeypatch):
    import functools

    from resnet_viz.landscape import run as landscape_run

    small = functools.partial(landscape_run.record_sharpness, images=32, steps=6, samples=2)
    monkeypatch.setattr(landscape_run, "record_sharpness", small)
    run_id = train_run("twins", cohort="plain8", **{"data.image_size": 16})
    at = open_page(PAGE, query_params={"run": run_id})
    (button,) = [b for b in at.button if b.key == "land.sharpness"]
    assert button.label == "Measure the sharpness of resnet8, plain8"
    button.click().run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "land.sharpness"]
    (table,) = at.dataframe
    assert list(table.value["member"]) == ["resnet8", "plain8"]
    assert (table.value["λmax"] >= table.value["λmin"]).all()
    assert sorted(store.analyses(run_id, keys.SHARPNESS)) == [0, 1]


def test_a_single_model_run_says_how_to_compare(open_page, train_run):
    at = computed(open_page, train_run("single", **{"data.image_size": 16}))
    assert any("plain twin" in i.value for i in at.info)


def test_members_of_different_shapes_are_said_to_have_their_own_directions(open_page, train_run):
    at = computed(open_page, train_run("depths", cohort="resnet14", **{"data.image_size": 16}))
    (note,) = [w.value for w in at.warning if "different shapes" in w.value]
    assert "resnet8; resnet14" in note


def test_a_run_without_snapshots_says_how_to_keep_them(open_page, train_run):
    at = computed(open_page, train_run("single", **{"data.image_size": 16}))
    assert any("kept no weight snapshots" in c.value and "snapshots=10" in c.value
               for c in at.caption)  # fmt: skip


def test_out_of_memory_says_what_to_lower(open_page, train_run, monkeypatch):
    import torch

    from resnet_viz.landscape import run as landscape_run

    def no_room(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(landscape_run, "loss_surface", no_room)
    at = computed(open_page, train_run("single", **{"data.image_size": 16}))
    (error,) = at.error
    assert shown(error.value).startswith("Out of memory evaluating the landscape.")
    assert "fewer images, or a smaller grid" in shown(error.value)
    assert compute_button(at)  # nothing was stored: it can be tried again with less


def test_after_a_cancel_the_page_says_what_was_kept(open_page, train_run):
    at = open_page(PAGE, query_params={"run": train_run("single", **{"data.image_size": 16})})
    at.session_state["land.cancelled"] = "landscape"  # what the Cancel button's callback sets
    at.run()
    assert any(i.value.startswith("Cancelled the landscape") for i in at.info)
    at.run()
    assert not any(i.value.startswith("Cancelled") for i in at.info)  # said once
