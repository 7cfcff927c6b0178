"""Reuse of per-batch work while one batch of states is being decided."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from .envs.base import States

T = TypeVar("T")


class StatesMemo(Generic[T]):
    """Values computed from a batch of states, kept by the batch's identity while active.

    Guidance asks a classifier several questions about the same batch in one step
    (``G(i | s)``, then ``Q`` of proposed actions, round after round); inside
    :meth:`active` the batch is encoded once. Outside it nothing is kept, so a model
    whose weights change (training) is never answered from an old value.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[States, T]] | None = None

    @contextmanager
    def active(self) -> Iterator[None]:
        """Keep values until the outermost ``active`` block exits."""
        outermost = self._entries is None
        if outermost:
            self._entries = {}
        try:
            yield
        finally:
            if outermost:
                self._entries = None

    def get(self, states: States, compute: Callable[[], T]) -> T:
        """``compute()``, or the value kept for this very ``states`` object."""
        if self._entries is None:
            return compute()
        entry = self._entries.get(id(states))
        if entry is None or entry[0] is not states:
            entry = (states, compute())
            self._entries[id(states)] = entry
        return entry[1]
