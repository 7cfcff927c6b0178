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
from rdkit import Chem

from .molecule import LRUCache

Adjacency = list[set[int]]
"""Neighbour sets of a skeleton's atoms."""


class RingClosures:
    """Reachability of skeletons when every ring closure makes a ring of ``ring_sizes``."""

    def __init__(self, ring_sizes: tuple[int, int]):
        self.low, self.high = ring_sizes
        self._reachable: LRUCache[frozenset[tuple[int, int]], bool] = LRUCache()

    def closable(self, adjacency: Adjacency, u: int, v: int) -> bool:
        """Whether bond ``(u, v)`` of a skeleton can have been the last one built.

        True when ``u`` and ``v`` are still connected without it, at a distance
        giving an allowed ring size, and the skeleton without it is reachable.
        """
        rest = _without(adjacency, u, v)
        distance = _distance(rest, u, v)
        if distance is None or not self.low <= distance + 1 <= self.high:
            return False
        return self.reachable(rest)

    def reachable(self, adjacency: Adjacency) -> bool:
        """Whether the connected skeleton ``adjacency`` can be built from one atom."""
        core = _two_core(adjacency)
        bonds = [(u, v) for u, neighbours in enumerate(core) for v in neighbours if u < v]
        if not bonds:
            return True
        return self._reachable.get(frozenset(bonds), lambda: self._search(core, bonds))

    def _search(self, core: Adjacency, bonds: list[tuple[int, int]]) -> bool:
        """Reachability of a 2-core: some bond closing an allowed ring was built last."""
        rings = {}
        for u, v in bonds:
            distance = _distance(_without(core, u, v), u, v)
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
        return any(self.reachable(_without(core, u, v)) for u, v in last)


def across_triple_bond(mol: Chem.Mol, iu: np.ndarray, ju: np.ndarray) -> np.ndarray:
    """Whether a triple bond separates atoms ``iu[k]`` and ``ju[k]``: ``bool [len(iu)]``.

    Triple bonds stay out of rings: bonding such a pair would put one in a ring,
    and RDKit perceives some of those small rings (``N=c1c#c1``) as aromatic in a
    way its own Kekulé form does not reproduce; nor are they chemistry (the
    smallest isolable cycloalkyne has eight atoms).
    """
    across = np.zeros(len(iu), dtype=bool)
    for bond in mol.GetBonds():
        if bond.GetBondType() != Chem.BondType.TRIPLE:
            continue
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        side = np.zeros(mol.GetNumAtoms(), dtype=bool)
        side[begin] = True
        frontier = [begin]
        while frontier:
            frontier = [
                n.GetIdx()
                for a in frontier
                for n in mol.GetAtomWithIdx(a).GetNeighbors()
                if not side[n.GetIdx()] and not (a == begin and n.GetIdx() == end)
            ]
            side[frontier] = True
        across |= side[iu] != side[ju]
    return across


def _without(adjacency: Adjacency, u: int, v: int) -> Adjacency:
    """A copy of ``adjacency`` without bond ``(u, v)``."""
    rest = [set(neighbours) for neighbours in adjacency]
    rest[u].discard(v)
    rest[v].discard(u)
    return rest


def _two_core(adjacency: Adjacency) -> Adjacency:
    """``adjacency`` with leaves stripped repeatedly (stripped atoms keep empty sets)."""
    core = [set(neighbours) for neighbours in adjacency]
    leaves = [a for a, neighbours in enumerate(core) if len(neighbours) == 1]
    while leaves:
        leaf = leaves.pop()
        if len(core[leaf]) != 1:
            continue
        (neighbour,) = core[leaf]
        core[leaf].clear()
        core[neighbour].discard(leaf)
        if len(core[neighbour]) == 1:
            leaves.append(neighbour)
    return core


def _distance(adjacency: Adjacency, source: int, target: int) -> int | None:
    """Graph distance by breadth-first search; ``None`` if ``target`` is unreachable."""
    seen, frontier, distance = {source}, [source], 0
    while frontier:
        if target in seen:
            return distance
        distance += 1
        frontier = [v for u in frontier for v in adjacency[u] if v not in seen]
        seen.update(frontier)
    return distance if target in seen else None
