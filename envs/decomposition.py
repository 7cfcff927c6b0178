"""Splitting a molecule into vocabulary fragments: smallest assembly and leaf cuts.

The junction candidates of a molecule (see :mod:`.assembly`) are bridges, so
removing them leaves rigid pieces joined in a tree. An assembly partitions that
tree into connected parts that are fragments, so the smallest one is a dynamic
programme over *sides* of the tree; every leaf cut's parent is a side too, so
one programme gives the molecule's ``min_fragments`` and its parents'.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from rdkit import Chem

from .assembly import FragmentTable, atom_label, remove_leaf, stem_kind
from .editing import freeze_hydrogens


@dataclass(frozen=True)
class LeafCut:
    """Removing a leaf fragment from a molecule.

    Attributes:
        parent: canonical SMILES of the rest of the molecule.
        parent_atom: the rest's cut atom, index in ``parent``.
        stem: flat (fragment, stem) index of the removed fragment and its cut atom.
        parent_min_fragments: ``min_fragments`` of ``parent`` (``inf`` if none).
    """

    parent: str
    parent_atom: int
    stem: int
    parent_min_fragments: float


@dataclass(frozen=True)
class Decomposition:
    """How a molecule splits into vocabulary fragments.

    Attributes:
        fragment: vocabulary index of the molecule itself, or ``None``.
        min_fragments: size of its smallest assembly (``inf`` if it has none).
        leaf_cuts: every leaf cut, one per junction bond and side.
    """

    fragment: int | None
    min_fragments: float
    leaf_cuts: tuple[LeafCut, ...]


_MAX_MATCHES = 1 << 20
"""Cap on substructure matches per fragment: far above any molecule's (it must never bind)."""


class _PieceTree:
    """The tree of rigid pieces of a molecule and the assembly dynamic programme on it.

    A *side* ``(edge, node)`` is the subtree holding ``node`` once junction ``edge``
    is cut (``edge = -1``: the whole tree). ``best(side)`` is the smallest number
    of fragments the side splits into: the minimum, over the connected piece sets
    ``Q`` that contain ``node`` and form a fragment, of one plus ``best`` of the
    sides hanging off ``Q``. Which piece sets form which fragment comes from one
    substructure search per fragment, checked atom by atom with the cut bonds
    capped by hydrogens.
    """

    def __init__(self, mol: Chem.Mol, table: FragmentTable):
        self.mol, self.table = mol, table
        n = mol.GetNumAtoms()
        in_k = [stem_kind(a) in table.kinds for a in mol.GetAtoms()]
        root = list(range(n))

        def find(i: int) -> int:
            while root[i] != i:
                root[i] = root[root[i]]
                i = root[i]
            return i

        junctions, internal = [], []
        for bond in mol.GetBonds():
            u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            if (
                bond.GetBondType() == Chem.BondType.SINGLE
                and not bond.IsInRing()
                and in_k[u]
                and in_k[v]
            ):
                junctions.append((u, v))
            else:
                internal.append(u)
                root[find(u)] = find(v)
        node_of: dict[int, int] = {}
        self.atoms: list[list[int]] = []
        for i in range(n):
            if find(i) not in node_of:
                node_of[find(i)] = len(self.atoms)
                self.atoms.append([])
            self.atoms[node_of[find(i)]].append(i)
        self.node = [node_of[find(i)] for i in range(n)]
        self.bonds = [0] * len(self.atoms)
        for u in internal:
            self.bonds[self.node[u]] += 1
        self.edges = [(u, v, self.node[u], self.node[v]) for u, v in junctions]
        self.adjacent: list[list[tuple[int, int]]] = [[] for _ in self.atoms]
        for e, (_, _, a, b) in enumerate(self.edges):
            self.adjacent[a].append((e, b))
            self.adjacent[b].append((e, a))
        self.size = [len(atoms) for atoms in self.atoms]
        self.labels = [atom_label(a) for a in mol.GetAtoms()]
        self._candidates: dict[frozenset[int], list[tuple[int, tuple[int, ...]]]] = {}
        for f, fragment in enumerate(table.fragments):
            if fragment.mol.GetNumAtoms() > n:
                continue
            matches = mol.GetSubstructMatches(fragment.mol, uniquify=False, maxMatches=_MAX_MATCHES)
            if len(matches) == _MAX_MATCHES:
                raise RuntimeError(f"{fragment.smiles} matches {Chem.MolToSmiles(mol)} too often")
            for match in matches:
                nodes = frozenset(self.node[t] for t in match)
                if sum(self.size[k] for k in nodes) == len(match):
                    self._candidates.setdefault(nodes, []).append((f, match))
        self._fragment_memo: dict[frozenset[int], tuple[int, tuple[int, ...]] | None] = {}
        self._best_memo: dict[tuple[int, int], float] = {}

    def side_nodes(self, edge: int, node: int) -> frozenset[int]:
        """All pieces of the side ``(edge, node)``."""
        seen, stack = {node}, [node]
        while stack:
            for e, other in self.adjacent[stack.pop()]:
                if e != edge and other not in seen:
                    seen.add(other)
                    stack.append(other)
        return frozenset(seen)

    def fragment_of(self, nodes: frozenset[int]) -> tuple[int, tuple[int, ...]] | None:
        """``(fragment, match)`` if the connected piece set ``nodes``, capped, is a vocabulary
        fragment (``match[i]``: the atom playing its atom ``i``), else ``None``."""
        if nodes not in self._fragment_memo:
            self._fragment_memo[nodes] = self._verify(nodes)
        return self._fragment_memo[nodes]

    def _verify(self, nodes: frozenset[int]) -> tuple[int, tuple[int, ...]] | None:
        candidates = self._candidates.get(nodes)
        if not candidates:
            return None
        capped: dict[int, int] = {}
        for u, v, a, b in self.edges:
            if (a in nodes) != (b in nodes):
                atom = u if a in nodes else v
                capped[atom] = capped.get(atom, 0) + 1
        bonds = sum(self.bonds[k] for k in nodes) + len(nodes) - 1
        for f, match in candidates:
            fragment = self.table.fragments[f]
            if fragment.mol.GetNumBonds() != bonds:
                continue
            if all(
                label[:4] == self.labels[t][:4] and label[4] == self.labels[t][4] + capped.get(t, 0)
                for label, t in zip(fragment.labels, match, strict=True)
            ):
                return f, match
        return None

    def best(self, edge: int, node: int) -> float:
        """Smallest assembly size of the side ``(edge, node)``; ``inf`` if it has none."""
        key = (edge, node)
        if key not in self._best_memo:
            self._best_memo[key] = self._compute_best(edge, node)
        return self._best_memo[key]

    def _compute_best(self, edge: int, node: int) -> float:
        best = math.inf
        for nodes, boundary in self._connected_sets(edge, node):
            if self.fragment_of(frozenset(nodes)) is None:
                continue
            total = 1.0
            for e, other in boundary:
                total += self.best(e, other)
                if total >= best:
                    break
            best = min(best, total)
        return best

    def _connected_sets(
        self, edge: int, node: int
    ) -> Iterator[tuple[tuple[int, ...], list[tuple[int, int]]]]:
        """Connected piece sets of the side ``(edge, node)`` that contain ``node`` and have at
        most ``table.max_atoms`` atoms, each with its boundary edges inside the side."""
        limit = self.table.max_atoms

        def grow(nodes, atoms, frontier, excluded):
            yield nodes, excluded + frontier
            for i, (e, other) in enumerate(frontier):
                if atoms + self.size[other] > limit:
                    continue
                onward = [(f, w) for f, w in self.adjacent[other] if f != e]
                yield from grow(
                    nodes + (other,),
                    atoms + self.size[other],
                    frontier[i + 1 :] + onward,
                    excluded + frontier[:i],
                )

        if self.size[node] > limit:
            return
        start = [(e, other) for e, other in self.adjacent[node] if e != edge]
        yield from grow((node,), self.size[node], start, [])


def decompose(mol: Chem.Mol, table: FragmentTable) -> Decomposition:
    """The :class:`Decomposition` of a non-empty, sanitized, canonical molecule ``mol``."""
    tree = _PieceTree(mol, table)
    whole = tree.fragment_of(frozenset(range(len(tree.atoms))))
    frozen = freeze_hydrogens(mol)
    cuts = []
    for e, (u, v, a, b) in enumerate(tree.edges):
        for leaf_atom, leaf_node, rest_atom, rest_node in ((u, a, v, b), (v, b, u, a)):
            found = tree.fragment_of(tree.side_nodes(e, leaf_node))
            if found is None:
                continue
            fragment, match = found
            leaf = sorted(match)
            parent, parent_atom = remove_leaf(frozen, leaf, rest_atom)
            stem = table.fragments[fragment].stem_of_atom[match.index(leaf_atom)]
            cuts.append(
                LeafCut(
                    parent=parent,
                    parent_atom=parent_atom,
                    stem=table.stem_offset[fragment] + stem,
                    parent_min_fragments=tree.best(e, rest_node),
                )
            )
    fragment = None if whole is None else whole[0]
    return Decomposition(fragment, tree.best(-1, 0), tuple(cuts))
