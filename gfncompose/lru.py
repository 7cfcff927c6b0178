"""The package's one bounded cache: a mapping that forgets its least recently used entry.

Environments cache per-state work by canonical key and rewards cache scores by canonical
SMILES; both see a stream of new keys without end during training, so every cache is
bounded by its owner's stated ``maxsize``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A mapping of at most ``maxsize`` entries that evicts the least recently used one."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The cached value of ``key``, computing and storing it on a miss."""
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = compute()
        self.put(key, value)
        return value

    def peek(self, key: K) -> V | None:
        """The cached value of ``key`` (a use: it becomes the most recent), or ``None``."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as the most recent entry, evicting the least recent beyond
        ``maxsize``."""
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __reduce__(self) -> tuple:
        """A cache pickles empty: a copy sent to another process starts cold, and sending it
        costs nothing however full it was."""
        return LRUCache, (self.maxsize,)
