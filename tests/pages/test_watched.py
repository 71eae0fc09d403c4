"""A run a user's own script records (resnet_viz.watch), on the Train and Runs pages, and its
saved model on the Explain page."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

import resnet_viz

from ..conftest import shown
from .test_runs import RUNS, select_rows


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def _steps(run, model, n: int) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for i in range(n):
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(i))
        loss = F.cross_entropy(model(x), (x[:, 0] > 0).long())
        loss.backward()
        run.step(loss=loss, lr=0.05)
        opt.step()
        opt.zero_grad()


def test_a_watched_run_shows_live_on_the_train_page_as_from_a_script(open_page, store, charts):
    model = Mlp()
    with resnet_viz.watch(model, name="my loop", runs_dir=store.root, config={"lr": 0.05}) as run:
        _steps(run, model, 12)
        run.eval(val_acc=0.5)
        deadline = time.monotonic() + 10  # the writer thread records in the background
        while store.get_run(run.id).step < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        at = open_page("pages/train.py", query_params={"run": run.id})
        assert not at.exception
        text = shown(" ".join(c.value for c in at.caption))
        assert "from a script · Mlp · lr=0.05" in text
        assert "Trained by your script" in text and "the app's live controls do not" in text
        assert "**running** · step 12" in [m.value for m in at.markdown]
        assert not at.get("progress")  # no bar that never fills: the loop's length is unknown
        assert not [b for b in at.button if b.key == "train.twin"]  # no setup to train again
        heat = charts(at)["train.heat.0"]["data"][0]
        assert heat["y"] == ["fc1", "fc2"]
        metrics = {m.label: m.value for m in at.metric}
        assert "Images / s" not in metrics and metrics["Steps / s"] != "–"
        lr = charts(at)["train.lr"]
        assert lr["data"][-1]["name"] == "steps/s"
    at = open_page(RUNS)
    assert "from a script · Mlp · lr=0.05" in at.dataframe[0].value["setup"].tolist()
    at = select_rows(at, 0)
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["CSV", "TensorBoard"]


def test_a_saved_watched_resnet_opens_on_the_explain_page(open_page, store):
    from resnet_viz.data import SHAPE_CLASSES
    from resnet_viz.models import build_model

    model = build_model("resnet8", 10)
    with resnet_viz.watch(model, name="my resnet", runs_dir=store.root) as run:
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.arange(4)).backward()
        run.step(loss=1.0)
        opt.step()
        run.save(classes=SHAPE_CLASSES, mean=(0.5,) * 3, std=(1.0,) * 3)
    at = open_page("pages/explain.py")
    at.sidebar.radio(key="explain.source").set_value("A run").run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="explain.run").value.endswith(run.id)
    assert any("my resnet" in c.value and "10 classes" in c.value for c in at.sidebar.caption)
    assert at.image, "the picture and its overlays"
