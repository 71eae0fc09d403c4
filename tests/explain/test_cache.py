"""The shared result cache: least recently used entries go first."""

from __future__ import annotations

from resnet_viz.explain.cache import ResultCache


def test_lru_eviction_and_recency():
    cache = ResultCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.get("b", "missing") == "missing"
    cache.put("a", 10)
    assert cache.get("a") == 10 and len(cache) == 2
