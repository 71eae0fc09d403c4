"""The cascading model-parameter randomisation test (Adebayo et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from resnet_viz.explain import hook_count
from resnet_viz.explain.sanity import (
    BORDERLINE,
    PASS_BELOW,
    PUBLISHED,
    SanityResult,
    cascading_randomisation,
    compare_with_published,
    randomisation_steps,
    spearman,
)
from resnet_viz.models import build_model

from .conftest import assert_same_state, state_of

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=200).astype(float)  # many ties, like a ReLU'd map's zeros
    b = a + rng.normal(size=200)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(np.zeros(10), b[:10]) == 0.0  # a constant map has no ordering


def test_steps_go_from_the_classifier_down(trained):
    steps = randomisation_steps(trained[0])
    assert [label for label, _ in steps] == ["fc", "layer3.0", "layer2.0", "layer1.0", "stem"]
    assert steps[-1][1] == ["conv1", "bn1"]
    r18 = [label for label, _ in randomisation_steps(build_model("resnet18", 10))]
    assert r18[:3] == ["fc", "layer4.1", "layer4.0"] and r18[-2:] == ["layer1.0", "stem"]


def test_cascade_runs_on_a_copy_and_decorrelates(trained, shapes):
    model = trained[0]
    before = state_of(model)
    methods = ["gradcam", "guided_backprop", "saliency"]
    seen: list[float] = []
    result = cascading_randomisation(
        model, shapes.images[:2], methods, progress=seen.append, seed=3
    )
    assert_same_state(model, before)
    assert hook_count(model) == 0
    assert result.steps == ("original", "fc", "layer3.0", "layer2.0", "layer1.0", "stem")
    assert result.images == 2 and result.layer == "layer3"
    assert result.targets == tuple(int(t) for t in model(shapes.images[:2]).argmax(1))
    for method in methods:
        rho = result.correlations[method]
        assert rho[0] == 1.0 and len(rho) == 6
        assert all(-1.0 <= r <= 1.0 for r in rho)
        assert rho[-1] < 0.9  # a fully random network's map is not the trained one's
    assert seen == sorted(seen) and seen[-1] == 1.0
    again = cascading_randomisation(model, shapes.images[:2], methods, seed=3)
    assert again.correlations == result.correlations  # seeded: reproducible


def test_verdicts():
    def result(rhos: list[float], empty_first: int = 0) -> SanityResult:
        return SanityResult(
            steps=("original", "a", "b"),
            correlations={"m": (1.0, *rhos)},
            empty={"m": (empty_first, 0, 0)},
            images=2,
            targets=(0, 0),
            layer="layer3",
        )

    assert result([0.1, 0.2]).verdict("m") == "passes" and result([0.1, 0.2]).passes("m")
    assert result([0.9, 0.8]).verdict("m") == "fails" and not result([0.9, 0.8]).passes("m")
    assert result([0.5, 0.5]).verdict("m") == "borderline"
    assert result([0.1, 0.1], empty_first=2).verdict("m") == "empty"
    assert result([0.1, 0.1], empty_first=2).passes("m") is None


def cascade(rhos: dict[str, float], empty: tuple[str, ...] = ()) -> SanityResult:
    """A result whose methods keep correlation ``rhos[m]`` at every step; ``empty`` methods had
    only empty maps on the trained model."""
    return SanityResult(
        steps=("original", "fc", "stem"),
        correlations={m: (1.0, rho, rho) for m, rho in rhos.items()},
        empty={m: (2 if m in empty else 0, 0, 0) for m in rhos},
        images=2,
        targets=(0, 1),
        layer="layer3",
    )


def test_the_published_finding_is_the_papers():
    assert dict(PUBLISHED) == {
        "gradcam": "passes",
        "saliency": "passes",
        "guided_backprop": "fails",
        "guided_gradcam": "fails",
    }
    with pytest.raises(TypeError):
        PUBLISHED["gradcam"] = "fails"  # type: ignore[index]


def test_verdicts_as_published_agree():
    methods = ["gradcam", "saliency", "guided_backprop", "guided_gradcam"]
    found = compare_with_published(
        cascade({"gradcam": 0.1, "saliency": 0.0, "guided_backprop": 0.9, "guided_gradcam": 0.8}),
        methods,
    )
    assert found.agree == tuple(methods)
    assert found.unclear == found.opposite == ()
    assert dict(found.verdicts) == {m: PUBLISHED[m] for m in methods}


def test_borderline_and_empty_verdicts_are_unclear_not_opposite():
    near = PASS_BELOW + BORDERLINE / 2
    found = compare_with_published(
        cascade({"gradcam": near, "saliency": 0.1, "guided_backprop": 0.9}, empty=("saliency",)),
        ["gradcam", "saliency", "guided_backprop"],
    )
    assert found.verdicts == {
        "gradcam": "borderline",
        "saliency": "empty",
        "guided_backprop": "fails",
    }
    assert found.unclear == ("gradcam", "saliency")
    assert found.agree == ("guided_backprop",) and found.opposite == ()


def test_the_opposite_verdict_is_named_and_unstated_methods_only_get_a_verdict():
    found = compare_with_published(
        cascade({"guided_backprop": 0.1, "gradcam": 0.9, "occlusion": 0.2, "saliency": 0.2}),
        ["occlusion", "guided_backprop", "gradcam", "saliency"],
    )
    assert found.opposite == ("guided_backprop", "gradcam")  # in the order they were tested
    assert found.agree == ("saliency",) and found.unclear == ()
    assert found.verdicts["occlusion"] == "passes"  # the paper says nothing: no group


def test_randomising_changes_the_copy_only():
    torch.manual_seed(0)
    model = build_model("resnet8", 10).eval()
    before = state_of(model)
    cascading_randomisation(model, torch.randn(1, 3, 32, 32), ["saliency"])
    assert_same_state(model, before)
