"""Ring closures: which pairs may be bonded, and which skeletons closures can build.

The atom environment grows a molecule by adding atoms as leaves and by closing
bonds between atoms at graph distance ``d`` when the ring size ``d + 1`` is
allowed. Not every cyclic molecule can be built that way (with rings of at most
8 atoms, cyclodecane cannot), and a parent that cannot be built is no parent:
the uniform backward policy must only count reachable ones. Reachability
depends on the skeleton alone (bond orders and elements never block a step
towards a valid molecule), so it is decided on adjacency sets:

- adding or removing a leaf keeps reachability both ways (a leaf lies on no path
  between other atoms), so a skeleton is reachable iff its 2-core is;
- a 2-core has no leaves, so its last step was a ring closure: it is reachable
  iff removing some bond ``(u, v)`` leaves a reachable skeleton in which ``u`` and
  ``v`` are at an allowed distance.
"""

from __future__ import annotations

import numpy as np

from ..lru import LRUCache
from .molecule import CACHE_SIZE

Adjacency = list[set[int]]
"""Neighbour sets of a skeleton's atoms."""


class RingClosures:
    """Reachability of skeletons when every ring closure makes a ring of ``ring_sizes``."""

    def __init__(self, ring_sizes: tuple[int, int]):
        self.low, self.high = ring_sizes
        self._reachable: LRUCache[frozenset[tuple[int, int]], bool] = LRUCache(CACHE_SIZE)

    def closable(self, adjacency: Adjacency, bonds: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The ring bonds among ``bonds`` that can have been the last one built.

        Bond ``(u, v)`` qualifies when ``u`` and ``v`` are still connected without it, at
        a distance giving an allowed ring size, and the skeleton without it is reachable.
        Both questions concern the 2-core only (paths between ring atoms never enter
        the trees hanging off it), which is computed once for all bonds.
        """
        core = _two_core(adjacency)
        return [(u, v) for u, v in bonds if self._last_closure(core, u, v)]

    def _last_closure(self, core: Adjacency, u: int, v: int) -> bool:
        """Whether bond ``(u, v)`` of the 2-core ``core`` can have been built last."""
        distance = _distance_around(core, u, v)
        if distance is None or not self.low <= distance + 1 <= self.high:
            return False
        return self._core_reachable(_strip(core, u, v))

    def _core_reachable(self, core: Adjacency) -> bool:
        """Whether a skeleton with 2-core ``core`` can be built from one atom."""
        bonds = [(u, v) for u, neighbours in enumerate(core) for v in neighbours if u < v]
        if not bonds:
            return True
        # the 2-core of a connected skeleton is connected, so if every atom left has two
        # neighbours it is one ring, built by closing it (what the search would conclude)
        ring = [neighbours for neighbours in core if neighbours]
        if all(len(neighbours) == 2 for neighbours in ring):
            return self.low <= len(ring) <= self.high
        return self._reachable.get(frozenset(bonds), lambda: self._search(core, bonds))

    def _search(self, core: Adjacency, bonds: list[tuple[int, int]]) -> bool:
        """Reachability of a 2-core: some bond closing an allowed ring was built last."""
        rings = {}
        for u, v in bonds:
            distance = _distance_around(core, u, v)
            if distance is not None:
                rings[u, v] = distance + 1
        # Each closure adds a cycle of at most ``high`` bonds that stays a cycle, so
        # the cycle space of a reachable skeleton is spanned by such cycles: a bond
        # whose every cycle is longer (a non-bridge with no short ring) rules it out.
        if any(size > self.high for size in rings.values()):
            return False
        last = [bond for bond, size in rings.items() if size >= self.low]
        # Bonds next to degree-2 atoms first: they end an ear (a chain of a ring), the
        # natural last closure, whereas removing a fusion bond merges two rings.
        last.sort(key=lambda bond: len(core[bond[0]]) + len(core[bond[1]]))
        return any(self._core_reachable(_strip(core, u, v)) for u, v in last)


def across_triple_bond(
    adjacency: Adjacency, triple: list[tuple[int, int]], iu: np.ndarray, ju: np.ndarray
) -> np.ndarray:
    """Whether a triple bond (of ``triple``) separates atoms ``iu[k]`` and ``ju[k]`` of the
    skeleton ``adjacency``: ``bool [len(iu)]``.

    Triple bonds stay out of rings: bonding such a pair would put one in a ring,
    and RDKit perceives some of those small rings (``N=c1c#c1``) as aromatic in a
    way its own Kekulé form does not reproduce; nor are they chemistry (the
    smallest isolable cycloalkyne has eight atoms).
    """
    across = np.zeros(len(iu), dtype=bool)
    for begin, end in triple:
        side = np.zeros(len(adjacency), dtype=bool)
        side[begin] = True
        frontier = [begin]
        while frontier:
            frontier = [
                b
                for a in frontier
                for b in adjacency[a]
                if not side[b] and not (a == begin and b == end)
            ]
            side[frontier] = True
        across |= side[iu] != side[ju]
    return across


def _two_core(adjacency: Adjacency) -> Adjacency:
    """``adjacency`` with leaves stripped repeatedly (stripped atoms keep empty sets)."""
    core = [set(neighbours) for neighbours in adjacency]
    _strip_leaves(core, [a for a, neighbours in enumerate(core) if len(neighbours) == 1])
    return core


def _strip(core: Adjacency, u: int, v: int) -> Adjacency:
    """The 2-core of the 2-core ``core`` without bond ``(u, v)``: only ``u`` and ``v`` can
    have become leaves, so stripping starts from them."""
    rest = [set(neighbours) for neighbours in core]
    rest[u].discard(v)
    rest[v].discard(u)
    _strip_leaves(rest, [a for a in (u, v) if len(rest[a]) == 1])
    return rest


def _strip_leaves(core: Adjacency, leaves: list[int]) -> None:
    """Strip ``leaves`` from ``core`` in place, and the leaves that this makes, repeatedly."""
    while leaves:
        leaf = leaves.pop()
        if len(core[leaf]) != 1:
            continue
        (neighbour,) = core[leaf]
        core[leaf].clear()
        core[neighbour].discard(leaf)
        if len(core[neighbour]) == 1:
            leaves.append(neighbour)


def _distance_around(adjacency: Adjacency, u: int, v: int) -> int | None:
    """Length of the shortest path from ``u`` to ``v`` that avoids the bond ``(u, v)``, by
    breadth-first search; ``None`` if there is none."""
    seen = {u}
    frontier = [w for w in adjacency[u] if w != v]
    seen.update(frontier)
    distance = 1
    while frontier:
        if v in seen:
            return distance
        distance += 1
        frontier = [w for a in frontier for w in adjacency[a] if w not in seen]
        seen.update(frontier)
    return None
