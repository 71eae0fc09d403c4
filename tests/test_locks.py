"""One lock per shared model (resnet_viz.locks): forward passes from other sessions wait while
a method has hooks on the model."""

from __future__ import annotations

import threading

import torch

from resnet_viz import zoo
from resnet_viz.activations.capture import forward_hooks
from resnet_viz.locks import model_lock


def _blocked_while_held(model: torch.nn.Module, work) -> bool:
    """Run ``work`` in another thread while this one holds the model's lock; report whether it
    waited for the lock (True) or ran straight through (False)."""
    done = threading.Event()
    with model_lock(model):
        with model_lock(model):  # re-entrant for its holder
            pass
        t = threading.Thread(target=lambda: (work(), done.set()))
        t.start()
        waited = not done.wait(0.5)
    t.join(10)
    assert done.is_set()
    return waited


def test_predictions_wait_for_a_model_someone_has_hooks_on():
    loaded = zoo.load_default()
    x = torch.zeros(1, 3, 32, 32)
    assert _blocked_while_held(loaded.model, lambda: loaded.predict(x))


def test_activation_capture_waits_too_but_other_models_do_not():
    loaded = zoo.load_default()
    other = loaded.clone()
    x = torch.zeros(1, 3, 32, 32)

    def capture(model):
        with forward_hooks(model, {"layer1": lambda *a: None}), torch.no_grad():
            model(x)

    assert _blocked_while_held(loaded.model, lambda: capture(loaded.model))
    assert not _blocked_while_held(loaded.model, lambda: capture(other))
