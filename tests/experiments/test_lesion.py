"""Lesion study (Veit et al. 2016): deleting blocks keeps the skip path; results add up."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnet_viz.experiments.lesion import LesionResult, accuracy, deleted, describe, lesion_study
from resnet_viz.models import build_model, residual_blocks


def _data(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("skip", [1.0, 0.0])
def test_a_deleted_block_computes_only_its_shortcut_and_comes_back(skip):
    torch.manual_seed(0)
    model = build_model("resnet8", 10, skip=skip).eval()
    block = model.layer1[0]  # identity shortcut
    x = F.relu(torch.randn(2, 16, 8, 8))
    before = block(x)
    with deleted(model, ["layer1.0", "layer2.0"]):
        assert torch.equal(block(x), x)  # relu(x) = x: the input passes straight on
        down = model.layer2[0]
        assert torch.equal(down(x), F.relu(down.shortcut(x)))  # subsample + zero-pad
    assert torch.equal(block(x), before)
    assert [b.skip_scale for _, b in residual_blocks(model)] == [skip] * 3
    assert [b.branch_scale for _, b in residual_blocks(model)] == [1.0] * 3


def test_deleted_restores_even_after_an_error():
    model = build_model("resnet8", 10, skip=(1, 0, 1))
    with pytest.raises(RuntimeError), deleted(model, ["layer2.0"]):
        raise RuntimeError("boom")
    assert model.layer2[0].skip_scale == 0.0 and model.layer2[0].branch_scale == 1.0


def test_lesion_study_adds_up():
    torch.manual_seed(0)
    model = build_model("resnet14", 10).train()
    x, y = _data()
    result = lesion_study(model, x, y, num_classes=10, draws=3, seed=1)
    assert model.training  # mode restored
    assert result.blocks == tuple(n for n, _ in residual_blocks(model))
    assert result.downsampling == (False, False, True, False, True, False)
    model.eval()
    assert result.base_acc == accuracy(model, x, y)
    with deleted(model, ["layer2.1"]):
        assert result.single[3] == accuracy(model, x, y)
    assert result.ks == (1, 2, 3, 4, 5, 6)
    assert result.k_mean[0] == pytest.approx(sum(result.single) / 6)  # k=1: every block once
    with deleted(model, result.blocks):  # k = n: one draw, all blocks gone
        assert result.k_mean[-1] == accuracy(model, x, y) and result.k_std[-1] == 0
    assert result.chance == 0.1 and result.images == 64
    assert LesionResult.from_dict(result.to_dict()) == result


def test_blocks_whose_branch_is_zero_cost_nothing_to_delete():
    """A zero-initialised residual branch contributes nothing, so deleting it changes nothing."""
    torch.manual_seed(0)
    model = build_model("resnet8", 10, zero_init_residual=True)
    x, y = _data()
    result = lesion_study(model, x, y, num_classes=10)
    assert result.single == (result.base_acc,) * 3
    assert result.mean_single_drop() == 0.0
    assert "costs 0.0 points on average" in describe("resnet8", result)


def test_mean_single_drop_leaves_out_downsampling_blocks():
    r = LesionResult(
        blocks=("a", "b", "c"),
        downsampling=(False, True, False),
        base_acc=0.9,
        single=(0.8, 0.1, 0.9),
        ks=(1,),
        k_mean=(0.6,),
        k_std=(0.0,),
        chance=0.1,
        images=10,
    )
    assert r.mean_single_drop() == pytest.approx(0.05)
    assert r.mean_single_drop(identity_only=False) == pytest.approx((0.1 + 0.8 + 0.0) / 3)
    assert describe("m", r) == (
        "m: intact 90.0%; deleting one non-downsampling block costs 5.0 points on average; "
        "the worst single deletion (b) leaves 10.0% (chance 10%)."
    )


def test_describe_reads_the_result_against_veit_et_al():
    def result(single, downsampling=None):
        n = len(single)
        return LesionResult(
            blocks=tuple("abcdefgh"[:n]), downsampling=downsampling or (False,) * n,
            base_acc=0.9, single=single, ks=(1,), k_mean=(0.5,), k_std=(0.0,), chance=0.1,
            images=10,
        )  # fmt: skip

    assert "as Veit et al. found, it barely notices" in describe(
        "r", result((0.85, 0.82)), plain=False
    )
    costly = describe("r", result((0.7, 0.8)), plain=False)  # 15 points on average
    assert "more than Veit et al." in costly and "costs 15.0 points" in costly
    assert "near chance (at best 12.0 points above" in describe(
        "p", result((0.22, 0.15)), plain=True
    )
    assert "unlike Veit et al." in describe("p", result((0.3, 0.15)), plain=True)
    assert "Veit" not in describe("x", result((0.3, 0.15)))
