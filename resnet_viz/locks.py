"""One lock per model, for models shared between browser sessions.

The pages cache one loaded model for every session, and each session runs in its own thread.
Anything that puts hooks on a shared model (Captum's layer methods, activation capture) or
changes its flags for the length of a call holds the model's lock, and so does every other forward
pass of it: another session's forward pass must never run through someone else's hooks.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

_locks: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


@contextmanager
def model_lock(model: nn.Module) -> Iterator[None]:
    """Hold ``model``'s lock (re-entrant: a holder may call code that takes it again)."""
    with _guard:
        lock = _locks.setdefault(model, threading.RLock())
    with lock:
        yield
