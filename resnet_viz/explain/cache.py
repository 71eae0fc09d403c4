"""A small thread-safe LRU for finished attribution results, shared by browser sessions.

Why not ``st.cache_data``: the slow methods report progress to a bar the page created before the
call, and Streamlit refuses element updates inside a cached function on blocks created outside
it (``CacheReplayClosureError``: it could not replay them). The page keeps one of these in
``st.cache_resource`` instead, and stores only completed results: a cancelled or interrupted
computation leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class ResultCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
