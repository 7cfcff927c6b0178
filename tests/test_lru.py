"""The package's bounded cache keeps the most recently used entries."""

import pickle

from gfncompose.lru import LRUCache


def test_cache_computes_once_and_evicts_the_least_recently_used():
    calls = []

    def compute(key):
        calls.append(key)
        return key * 10

    cache = LRUCache(maxsize=2)
    assert cache.get(1, lambda: compute(1)) == 10
    assert cache.get(2, lambda: compute(2)) == 20
    assert cache.get(1, lambda: compute(1)) == 10  # a hit: 1 is now the most recent
    cache.put(3, 30)  # evicts 2, the least recently used
    assert len(cache) == 2 and calls == [1, 2]
    assert cache.peek(2) is None
    assert cache.peek(1) == 10  # a use: 3 is now the least recent
    cache.put(4, 40)
    assert cache.peek(3) is None and cache.peek(1) == 10 and cache.peek(4) == 40


def test_a_cache_pickles_empty_with_its_bound():
    cache = LRUCache(maxsize=3)
    cache.put("a", 1)
    copy = pickle.loads(pickle.dumps(cache))
    assert len(copy) == 0 and copy.maxsize == 3
    assert len(cache) == 1  # the original keeps its entries
