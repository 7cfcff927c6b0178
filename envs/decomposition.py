"""Splitting a molecule into vocabulary fragments: smallest assembly and leaf cuts.

An assembly partitions a molecule's piece tree (:class:`~.piece_tree.PieceTree`) into
fragment sets, so the smallest one is a dynamic programme over *sides* of the tree; a
leaf cut removes a fragment set with a single boundary junction, and its parent is a
side too, so one programme gives the molecule's ``min_fragments`` and its parents'.

A leaf cut's parent (a canonical SMILES) is computed when it is first read; parents are
counted with an isomorphism invariant of each cut's parent, so that only cuts whose
invariants coincide need their SMILES (:meth:`Decomposition.num_parents`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

from rdkit import Chem

from .assembly import FragmentTable, marked_form, remove_leaf
from .piece_tree import PieceTree


class LeafCut:
    """Removing a leaf fragment from a molecule.

    Attributes:
        stem: flat (fragment, stem) index of the removed fragment and its cut atom.
        parent_min_fragments: ``min_fragments`` of the parent (``inf`` if none).
        parent_signature: an isomorphism invariant of the parent, equal to its
            :attr:`Decomposition.signature`.
        parent: canonical SMILES of the rest of the molecule (computed on first use).
        parent_atom: the rest's cut atom, index in ``parent``.
    """

    __slots__ = (
        "stem",
        "parent_min_fragments",
        "parent_signature",
        "_tree",
        "_leaf",
        "_ends",
        "_parent",
        "_class",
    )

    def __init__(
        self,
        stem: int,
        parent_min_fragments: float,
        parent_signature: Hashable,
        tree: PieceTree,
        leaf: tuple[int, ...],
        ends: tuple[int, int],
        parent: tuple[str, int] | None = None,
    ):
        self.stem = stem
        self.parent_min_fragments = parent_min_fragments
        self.parent_signature = parent_signature
        self._tree, self._leaf, self._ends = tree, leaf, ends
        self._parent = parent
        self._class: Hashable | None = None

    def _resolve(self) -> tuple[str, int]:
        if self._parent is None:
            self._parent = remove_leaf(self._tree.frozen, sorted(self._leaf), self._ends[1])
        return self._parent

    @property
    def parent(self) -> str:
        return self._resolve()[0]

    @property
    def parent_atom(self) -> int:
        return self._resolve()[1]

    @property
    def resolved(self) -> bool:
        """Whether ``parent`` is known without computing it."""
        return self._parent is not None

    def automorphism_class(self) -> Hashable:
        """Equal for two cuts of one molecule exactly when an automorphism maps one onto the
        other (its cut bond, leaf atom first); such cuts have the same parent and the same
        inverse action. Computed once per cut: counting parents and inverting a step both
        ask for it."""
        if self._class is None:
            tree = self._tree
            self._class = marked_form(tree.frozen, self._ends, tree.labels, tree.bonds)
        return self._class

    def __repr__(self) -> str:
        return f"LeafCut(stem={self.stem}, parent_min_fragments={self.parent_min_fragments})"


@dataclass(frozen=True)
class Decomposition:
    """How a molecule splits into vocabulary fragments.

    Attributes:
        fragment: vocabulary index of the molecule itself, or ``None``.
        min_fragments: size of its smallest assembly (``inf`` if it has none).
        leaf_cuts: every leaf cut, one per junction bond and side.
        signature: an isomorphism invariant of the molecule (atoms, ``min_fragments``
            and a sum over atoms of hashes of their labels and their neighbours'), equal
            to ``parent_signature`` of every leaf cut whose parent it is.
    """

    fragment: int | None
    min_fragments: float
    leaf_cuts: tuple[LeafCut, ...]
    signature: Hashable

    def parent_cuts(self, max_fragments: int) -> list[LeafCut]:
        """The leaf cuts whose parent may grow (fewer than ``max_fragments`` fragments)."""
        return [cut for cut in self.leaf_cuts if cut.parent_min_fragments < max_fragments]

    def distinct_parent_cuts(self, max_fragments: int) -> list[list[LeafCut]]:
        """:meth:`parent_cuts` grouped by parent signature, keeping one cut per automorphism
        class in each group: cuts in different groups, or of one class, are known to have
        different, or equal, parents without computing them."""
        groups: dict[Hashable, list[LeafCut]] = {}
        for cut in self.parent_cuts(max_fragments):
            groups.setdefault(cut.parent_signature, []).append(cut)
        return [_one_per_class(cuts) for cuts in groups.values()]

    def parents(self, max_fragments: int) -> set[str]:
        """Keys of the distinct parents (``""``, ``s0``, when the molecule is a fragment)."""
        keys = {cut.parent for cuts in self.distinct_parent_cuts(max_fragments) for cut in cuts}
        return keys | ({""} if self.fragment is not None else set())

    def num_parents(self, max_fragments: int) -> int:
        """``len(parents(max_fragments))``, computing only the parents it must compare."""
        count = int(self.fragment is not None)
        for cuts in self.distinct_parent_cuts(max_fragments):
            count += 1 if len(cuts) == 1 else len({cut.parent for cut in cuts})
        return count

    def cuts_to(self, parent: str, signature: Hashable) -> list[LeafCut]:
        """The leaf cuts whose parent is ``parent``, a parent of the molecule of
        :attr:`signature` ``signature``, one per automorphism class."""
        cuts = _one_per_class([cut for cut in self.leaf_cuts if cut.parent_signature == signature])
        # some cut has ``parent`` as its parent, so a single candidate class is it, unresolved
        return cuts if len(cuts) == 1 else [cut for cut in cuts if cut.parent == parent]


def _one_per_class(cuts: list[LeafCut]) -> list[LeafCut]:
    """One cut per automorphism class, preferring cuts whose parent is already known."""
    if len(cuts) < 2:
        return cuts
    first: dict[Hashable, LeafCut] = {}
    for cut in sorted(cuts, key=lambda cut: not cut.resolved):
        first.setdefault(cut.automorphism_class(), cut)
    return list(first.values())


class _SmallestAssemblies:
    """The smallest assembly of each *side* of a piece tree, memoised: side ``(edge, node)`` is
    the subtree holding piece ``node`` once junction ``edge`` is cut (``edge = -1``: the whole
    tree). A method rather than a recursive closure, which would be a reference cycle (with
    its memo and lists) left to the cyclic garbage collector at every decomposition."""

    def __init__(self, tree: PieceTree):
        self.tree = tree
        self.containing: list[list[tuple[frozenset[int], tuple[tuple[int, int], ...]]]] = [
            [] for _ in tree.pieces
        ]
        for nodes, (_, _, boundary) in tree.fragment_sets.items():
            for k in nodes:
                self.containing[k].append((nodes, boundary))
        self.memo: dict[tuple[int, int], float] = {}

    def of_side(self, edge: int, node: int) -> float:
        """Smallest assembly of side ``(edge, node)``; ``inf`` if it has none."""
        memo = self.memo
        known = memo.get((edge, node))
        if known is not None:
            return known
        far = -1
        if edge >= 0:
            _, _, a, b = self.tree.edges[edge]
            far = b if a == node else a
        result = math.inf
        for nodes, boundary in self.containing[node]:
            if far in nodes:
                continue
            total = 1.0
            for side in boundary:
                if side[0] != edge:
                    value = memo.get(side)
                    total += self.of_side(*side) if value is None else value
                    if total >= result:
                        break
            result = min(result, total)
        memo[edge, node] = result
        return result


def decomposition_of(tree: PieceTree, table: FragmentTable) -> Decomposition:
    """The :class:`Decomposition` of the non-empty molecule of ``tree``."""
    smallest = _SmallestAssemblies(tree)

    # The signature hashes each atom's label and degree with those of its neighbours (one
    # round of colour refinement) and sums over atoms: an isomorphism invariant strong enough
    # that cuts with different parents rarely share it. A cut changes the hashes of the rest
    # atom and of its neighbours only, so each parent's signature costs a few updates.
    own = [hash((*label, d)) for label, d in zip(tree.labels, tree.degree, strict=True)]
    around = [0] * tree.num_atoms
    incident: list[list[tuple[int, int]]] = [[] for _ in own]
    for u, v, kind in tree.bonds:
        around[u] += hash((own[v], kind))
        around[v] += hash((own[u], kind))
        incident[u].append((v, kind))
        incident[v].append((u, kind))
    atom_hash = [hash(pair) for pair in zip(own, around, strict=True)]
    piece_hash = [sum(atom_hash[i] for i in atoms) for atoms in tree.pieces]
    total_hash = sum(piece_hash)
    single = int(Chem.BondType.SINGLE)
    origin_edge, origin_rest, origin_key, origin_atom = tree.origin or (-1, -1, "", -1)
    whole = None
    cuts = []
    for nodes, (f, match, boundary) in tree.fragment_sets.items():
        if not boundary:
            whole = f
        if len(boundary) != 1:
            continue
        ((e, outside),) = boundary
        u, v, a, _ = tree.edges[e]
        leaf_atom, rest_atom = (v, u) if a == outside else (u, v)
        rest_min = smallest.of_side(e, outside)
        label = tree.labels[rest_atom]
        capped = hash((*label[:4], label.hydrogens + 1, tree.degree[rest_atom] - 1))
        rest_hash = total_hash - sum(piece_hash[k] for k in nodes) - atom_hash[rest_atom]
        rest_hash += hash((capped, around[rest_atom] - hash((own[leaf_atom], single))))
        for j, kind in incident[rest_atom]:
            if j != leaf_atom:
                changed = around[j] - hash((own[rest_atom], kind)) + hash((capped, kind))
                rest_hash += hash((own[j], changed)) - atom_hash[j]
        undoes_join = e == origin_edge and outside == origin_rest
        stem = table.fragments[f].stem_of_atom[match.index(leaf_atom)]
        cuts.append(
            LeafCut(
                stem=table.stem_offset[f] + stem,
                parent_min_fragments=rest_min,
                parent_signature=(tree.num_atoms - len(match), rest_min, rest_hash),
                tree=tree,
                leaf=match,
                ends=(leaf_atom, rest_atom),
                parent=(origin_key, origin_atom) if undoes_join else None,
            )
        )
    min_fragments = smallest.of_side(-1, 0)
    return Decomposition(
        fragment=whole,
        min_fragments=min_fragments,
        leaf_cuts=tuple(cuts),
        signature=(tree.num_atoms, min_fragments, total_hash),
    )
