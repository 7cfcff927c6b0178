"""Ring closures of the atom environment against the definition of a buildable skeleton.

``RingClosures`` reasons on 2-cores and strips leaves incrementally; the reference here
just applies the definition: a skeleton is buildable when it is one atom, or when
removing a leaf, or a bond whose ends then lie at an allowed distance, leaves a
buildable skeleton.
"""

import random

import pytest

from gfncompose.envs.rings import RingClosures


class Reference:
    def __init__(self, ring_sizes):
        self.low, self.high = ring_sizes
        self._memo: dict[frozenset, bool] = {}

    def closable(self, atoms: frozenset, bonds: frozenset, bond) -> bool:
        rest = bonds - {bond}
        distance = _distance(atoms, rest, *bond)
        return (
            distance is not None
            and self.low <= distance + 1 <= self.high
            and (self.buildable(atoms, rest))
        )

    def buildable(self, atoms: frozenset, bonds: frozenset) -> bool:
        key = (atoms, bonds)
        if key not in self._memo:
            self._memo[key] = (
                len(atoms) == 1
                or any(
                    self.buildable(atoms - {leaf}, bonds - {bond})
                    for leaf, bond in _leaves(atoms, bonds)
                )
                or any(self.closable(atoms, bonds, bond) for bond in bonds)
            )
        return self._memo[key]


def _leaves(atoms, bonds):
    for atom in atoms:
        incident = [bond for bond in bonds if atom in bond]
        if len(incident) == 1:
            yield atom, incident[0]


def _distance(atoms, bonds, source, target):
    seen, frontier, distance = {source}, {source}, 0
    while frontier:
        if target in seen:
            return distance
        distance += 1
        frontier = {b for a in frontier for bond in bonds if a in bond for b in bond} - seen
        seen |= frontier
    return None


def random_skeleton(rng: random.Random, n: int, extra: int):
    """A random connected graph: a random tree on ``n`` atoms plus ``extra`` bonds."""
    bonds = {(rng.randrange(i), i) for i in range(1, n)}
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if (i, j) not in bonds]
    bonds |= set(rng.sample(pairs, min(extra, len(pairs))))
    return bonds


@pytest.mark.parametrize("ring_sizes", [(3, 6), (3, 4), (5, 6)])
def test_closable_bonds_match_the_definition_on_random_skeletons(ring_sizes):
    rng = random.Random(0)
    closures, reference = RingClosures(ring_sizes), Reference(ring_sizes)
    outcomes = {True: 0, False: 0}
    for _ in range(300):
        n = rng.randint(3, 12)
        bonds = random_skeleton(rng, n, rng.randint(1, 4))
        adjacency = [set() for _ in range(n)]
        for u, v in bonds:
            adjacency[u].add(v)
            adjacency[v].add(u)
        atoms = frozenset(range(n))
        edges = frozenset(frozenset(bond) for bond in bonds)
        ring_bonds = sorted(
            (u, v) for u, v in bonds if _distance(atoms, edges - {frozenset((u, v))}, u, v)
        )
        expected = {
            (u, v): reference.closable(atoms, edges, frozenset((u, v))) for u, v in ring_bonds
        }
        got = closures.closable(adjacency, ring_bonds)
        assert got == [bond for bond in ring_bonds if expected[bond]], (bonds, ring_sizes)
        for outcome in expected.values():
            outcomes[outcome] += 1
    assert min(outcomes.values()) > 20  # both answers are exercised
