"""Jobs: one map to compute, named only by what decides its pixels, and its own cache key."""

from __future__ import annotations

from resnet_viz.explain import Job, Options, make_job, method_info
from resnet_viz.explain.cache import ResultCache

OPTIONS = Options(ig_steps=16)


def test_a_job_keeps_only_the_layer_and_options_its_method_reads():
    gradcam = make_job("m", "gradcam", "img", 3, "layer2", OPTIONS)
    assert (gradcam.layer, gradcam.options) == ("layer2", None)  # a layer method, not slow
    saliency = make_job("m", "saliency", "img", 3, "layer2", OPTIONS)
    assert (saliency.layer, saliency.options) == (None, None)
    ig = make_job("m", "integrated_gradients", "img", 3, "layer2", OPTIONS)
    assert (ig.layer, ig.options) == (None, OPTIONS)
    assert make_job("m", "saliency", "img", 3, "layer1", Options()) == saliency  # nothing it reads


def test_jobs_are_equal_by_value_and_serve_as_keys():
    a = make_job("m", "smoothgrad", "img", 1, "layer3", Options(smoothgrad_noise=0.2))
    b = make_job("m", "smoothgrad", "img", 1, "layer3", Options(smoothgrad_noise=0.2))
    assert a == b and a is not b and hash(a) == hash(b)
    assert a != make_job("m", "smoothgrad", "img", 2, "layer3", Options(smoothgrad_noise=0.2))
    assert {a: "map"}[b] == "map"
    cache = ResultCache()
    cache.put(a, ("map", None))
    assert b in cache and cache.get(b) == ("map", None)


def test_a_job_labels_itself_with_its_layer():
    assert make_job("m", "gradcam", "img", 0, "layer3", None).label == "Grad-CAM · layer3"
    saliency = Job("m", "saliency", "img", 0, None, None)
    assert saliency.label == method_info("saliency").label == "Saliency"
