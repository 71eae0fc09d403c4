"""attribute(): every method, and the pitfalls of running Captum on a shared model."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
import torchvision
from captum.attr._utils.visualization import _normalize_attr
from torch import nn

from resnet_viz.errors import InputError
from resnet_viz.explain import (
    METHODS,
    Cancelled,
    MethodError,
    Options,
    attribute,
    empty_reason,
    hook_count,
    method_info,
    to_unit,
)
from resnet_viz.models import build_model

from .conftest import assert_same_state, state_of

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FAST = Options(ig_steps=8, smoothgrad_samples=4, shap_samples=4, batch_size=4)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_a_finite_map_of_the_image_size(trained, image, method):
    model, _ = trained
    before = state_of(model)
    attr = attribute(model, image, method, options=FAST)
    assert attr.shape == (32, 32) and attr.dtype == torch.float32 and attr.device.type == "cpu"
    assert empty_reason(attr, method_info(method).sign) is None
    assert_same_state(model, before)
    assert hook_count(model) == 0
    assert not any(hasattr(m, "input") or hasattr(m, "output") for m in model.modules())


@pytest.mark.parametrize("method", ["smoothgrad", "gradient_shap", "occlusion"])
def test_same_request_same_map(trained, image, method):
    a = attribute(trained[0], image, method, 2, options=FAST)
    b = attribute(trained[0], image, method, 2, options=FAST)
    assert torch.equal(a, b)
    c = attribute(trained[0], image, method, 2, options=Options(**{**FAST.__dict__, "seed": 1}))
    assert method == "occlusion" or not torch.equal(a, c)


@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients"])
def test_default_target_is_the_top_class(trained, image, method):
    top = int(trained[0](image).argmax())
    assert torch.allclose(
        attribute(trained[0], image, method, options=FAST),
        attribute(trained[0], image, method, top, options=FAST),
        atol=1e-6,
    )


def test_works_inside_inference_mode_and_no_grad(trained, image):
    expected = attribute(trained[0], image, "saliency", 3)
    with torch.inference_mode():
        frozen = image.clone()  # an inference tensor
        assert torch.equal(attribute(trained[0], frozen, "saliency", 3), expected)
    cam = attribute(trained[0], image, "gradcam", 3)
    with torch.no_grad():
        assert torch.equal(attribute(trained[0], image, "gradcam", 3), cam)


def test_target_changes_the_map(trained, image):
    assert not torch.allclose(
        attribute(trained[0], image, "gradcam", 0), attribute(trained[0], image, "gradcam", 5)
    )


def test_clear_errors(trained, image):
    model = trained[0]
    with pytest.raises(MethodError, match="Unknown attribution method 'lime'"):
        attribute(model, image, "lime")
    with pytest.raises(InputError, match="1×3×H×W"):
        attribute(model, image[0], "saliency")
    with pytest.raises(MethodError, match="Class 10 does not exist"):
        attribute(model, image, "saliency", target=10)
    with pytest.raises(MethodError, match="≥ 0"):
        attribute(model, image, "gradcam", target=-1)
    with pytest.raises(MethodError, match=r"no layer 'layer4'.*layer1, layer2, layer3"):
        attribute(model, image, "gradcam", layer="layer4")
    with pytest.raises(MethodError, match="spatial"):
        attribute(model, image, "gradcam", layer="fc")
    with pytest.raises(MethodError, match="fraction of the input range"):
        Options(smoothgrad_noise=2.0)
    assert hook_count(model) == 0


# ---- eval mode and a shared model ------------------------------------------------------------


def test_train_mode_model_is_explained_in_eval_mode_and_left_in_train_mode(model, image):
    expected = attribute(model, image, "integrated_gradients", 3, options=FAST)
    model.train()
    model.layer2.eval()  # mixed flags come back exactly as they were
    before = state_of(model)
    for method in METHODS:
        attr = attribute(model, image, method, 3, options=FAST)
        if method == "integrated_gradients":
            assert torch.allclose(attr, expected, atol=1e-6)  # BN used running statistics
    assert_same_state(model, before)  # BN statistics untouched: no train-mode forward happened


def test_frozen_parameters_stay_frozen(model, image):
    model.fc.weight.requires_grad_(False)
    before = state_of(model)
    attribute(model, image, "gradcam")
    assert_same_state(model, before)
    assert model.conv1.weight.grad is None  # no parameter gradient was ever built


def test_hooks_and_flags_restored_when_cancelled_mid_run(model, image):
    before = state_of(model)
    seen: list[float] = []
    with pytest.raises(Cancelled):
        attribute(
            model,
            image,
            "integrated_gradients",
            options=Options(ig_steps=16, internal_batch_size=4),
            progress=seen.append,
            cancel=lambda: len(seen) >= 2,
        )
    assert seen == [0.25, 0.5]  # two chunks of 4 steps ran, the third was refused
    assert_same_state(model, before)
    assert hook_count(model) == 0


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam", "deeplift", "occlusion"])
def test_hooks_released_when_a_method_fails(model, image, method):
    before = state_of(model)
    with pytest.raises(MethodError):
        attribute(model, image, method, target=99, options=FAST)
    assert hook_count(model) == 0
    assert_same_state(model, before)


def test_progress_counts_match_what_captum_evaluates(trained, image):
    """Each method's announced cost equals the images Captum pushes through the model, so the
    progress bar ends exactly at 1."""
    opts = Options(ig_steps=10, internal_batch_size=4, smoothgrad_samples=6, shap_samples=5)
    opts = Options(**{**opts.__dict__, "batch_size": 4, "occlusion_window": 8})
    for method in ("integrated_gradients", "smoothgrad", "gradient_shap", "occlusion"):
        seen: list[float] = []
        attribute(trained[0], image, method, 1, options=opts, progress=seen.append)
        assert seen == sorted(seen) and seen[-1] == 1.0
        assert seen[-2] == 1.0, (method, seen)  # the last chunk, before the final report
        assert len(seen) > 2


# ---- DeepLift ----------------------------------------------------------------------------------


def test_deeplift_on_a_model_that_reuses_its_relu_says_which():
    stock = torchvision.models.resnet18(num_classes=10).eval()  # BasicBlock calls self.relu twice
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(MethodError, match=r"reuses .*layer1\.0\.relu"):
        attribute(stock, x, "deeplift", 0)
    assert hook_count(stock) == 0
    assert all(m.inplace for m in stock.modules() if isinstance(m, nn.ReLU))  # copy, not stock
    assert not any(hasattr(m, "input") for m in stock.modules())


def test_deeplift_on_our_resnet18_and_its_summation_to_delta():
    torch.manual_seed(0)
    model = build_model("resnet18", 10).eval()
    x = torch.randn(1, 3, 32, 32)
    attr = attribute(model, x, "deeplift", 4)
    with torch.no_grad():
        delta = model(x)[0, 4] - model(torch.zeros_like(x))[0, 4]
    # DeepLift's summation-to-delta property (Shrikumar et al. 2017, eq. 1).
    assert math.isclose(float(attr.sum()), float(delta), rel_tol=1e-3, abs_tol=1e-4)


# ---- Integrated Gradients: memory and completeness ---------------------------------------------


def test_ig_batches_are_bounded_by_internal_batch_size(model, image):
    sizes: list[int] = []
    handle = model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
    try:
        attribute(model, image, "integrated_gradients", options=Options(internal_batch_size=5))
    finally:
        handle.remove()
    assert max(sizes) == 5 and sum(sizes[1:]) == 32  # the first pass finds the top class
    assert Options().ig_batch(224, 224) == 8 and Options().ig_batch(32, 32) == 32


def test_ig_attributions_add_up_to_the_score_change(trained, image):
    model = trained[0]
    attr = attribute(model, image, "integrated_gradients", 2, options=Options(ig_steps=64))
    with torch.no_grad():
        delta = model(image)[0, 2] - model(torch.zeros_like(image))[0, 2]
    # Completeness (Sundararajan et al. 2017, Prop. 1), up to the path integral's error.
    assert math.isclose(float(attr.sum()), float(delta), rel_tol=0.05)


# ---- SmoothGrad noise --------------------------------------------------------------------------


class Scaled(nn.Module):
    """``model`` fed inputs ``k`` times larger: same function of the picture, another range."""

    def __init__(self, model: nn.Module, k: float) -> None:
        super().__init__()
        self.model, self.k = model, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x / self.k)


def test_smoothgrad_noise_is_relative_to_the_input_range(trained, image):
    """With σ relative to the range, rescaling the input space rescales the map and nothing
    else; a fixed σ would drown the small-range input in noise or barely touch the large one."""
    opts = Options(smoothgrad_samples=6, batch_size=3, smoothgrad_noise=0.2)
    ref = attribute(trained[0], image, "smoothgrad", 1, options=opts)
    k = 50.0
    scaled = attribute(Scaled(trained[0], k), image * k, "smoothgrad", 1, options=opts)
    assert torch.allclose(scaled * k, ref, rtol=1e-3, atol=1e-6)


def test_smoothgrad_noise_sigma(model, image):
    seen: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        opts = Options(smoothgrad_samples=16, batch_size=16, smoothgrad_noise=0.1)
        attribute(model, image, "smoothgrad", 1, options=opts)
    finally:
        handle.remove()
    noise = seen[-1] - image
    expected = 0.1 * float(image.max() - image.min())
    assert noise.std().item() == pytest.approx(expected, rel=0.05)


# ---- empty maps --------------------------------------------------------------------------------


def test_a_model_that_ignores_its_input_gives_empty_maps_and_no_crash(model, image):
    with torch.no_grad():
        model.fc.weight.zero_()  # constant output: every gradient and every occlusion is 0
    for method in METHODS:
        attr = attribute(model, image, method, 0, options=FAST)
        sign = method_info(method).sign
        assert empty_reason(attr, sign).startswith("map is empty"), method
        assert not to_unit(attr, sign).any()


def test_all_negative_map_read_as_positive_is_empty_not_an_assertion():
    negative = -np.random.default_rng(0).random((8, 8))
    with pytest.raises(AssertionError):  # what Captum 0.9's visualiser does with it
        _normalize_attr(negative, "positive", 2)
    assert "every value is ≤ 0" in empty_reason(negative, "positive")
    assert not to_unit(negative, "positive").any()
    assert to_unit(negative, "absolute_value").max() == 1.0
    assert "not finite" in empty_reason(np.full((2, 2), np.nan), "all")


def test_to_unit_matches_captums_scaling():
    rng = np.random.default_rng(1)
    attr = rng.normal(size=(16, 16))
    for sign in ("positive", "absolute_value", "all"):
        np.testing.assert_allclose(to_unit(attr, sign, 2), _normalize_attr(attr, sign, 2))
    assert to_unit(attr, "all").min() == -1.0


def test_concurrent_calls_on_one_shared_model(model, image):
    """Sessions share cached models: parallel calls must neither see each other's frozen
    parameters as "original" nor each other's hooks."""
    expected = {m: attribute(model, image, m, 1, options=FAST) for m in ("gradcam", "deeplift")}
    before = state_of(model)
    results: list[tuple[str, torch.Tensor]] = []
    errors: list[BaseException] = []

    def work(method: str) -> None:
        try:
            for _ in range(3):
                results.append((method, attribute(model, image, method, 1, options=FAST)))
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(m,)) for m in ("gradcam", "deeplift") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12
    assert all(torch.allclose(attr, expected[m], atol=1e-6) for m, attr in results)
    assert_same_state(model, before)
    assert hook_count(model) == 0


def test_to_unit_without_clipping_divides_by_the_maximum():
    # A map where Captum's own search for the 100th percentile overshoots by rounding.
    attr = np.random.default_rng(3).random((32, 32)) * 0.1
    expected = attr / attr.max()
    np.testing.assert_allclose(to_unit(attr, "positive", 0.0), expected, rtol=1e-6)
    assert to_unit(-attr, "absolute_value", 0.0).max() == 1.0
