"""A run a user's own script records (resnet_viz.watch), on the Train and Runs pages."""

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
    at = open_page(RUNS)
    assert "from a script · Mlp · lr=0.05" in at.dataframe[0].value["setup"].tolist()
    at = select_rows(at, 0)
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["CSV", "TensorBoard"]
