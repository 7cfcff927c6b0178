"""The fragment environment: build a molecule by joining vocabulary fragments."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from ..errors import UserError
from ..lru import LRUCache
from ..segments import positions_in_rows, row_starts
from .assembly import FragmentTable, attachment_points, symmetry_representatives
from .decomposition import Decomposition, decomposition_of
from .molecule import CACHE_SIZE, MolArrays, MolFeaturizer, MolState, MolStates
from .molecule_env import MoleculeEnvironment
from .piece_tree import PieceTree
from .vocabulary import Vocabulary, default_vocabulary

_NO_POINTS = torch.zeros(0, dtype=torch.long)
"""The attachment points of the empty state."""

RECORDS_CACHED = 1 << 12
"""States whose tree, decomposition and slots stay cached. A record takes ~100 kB (its RDKit
molecule, measured by resident memory), so 4,096 of them, the states of a batch of 256
trajectories of ~11 steps with room to spare, stay near 400 MB."""


@dataclass(frozen=True)
class _Slots:
    """The attachment slots of one state, computed once per key."""

    attachments: np.ndarray  # int [n]: atom of each slot (attachment points, ascending)
    slot_of_atom: dict[int, int]  # attachment point -> slot of its orbit's representative
    allowed: np.ndarray  # bool [S]: the slot holds its orbit's representative
    tree_atoms: list[int]  # the atom of each slot in the PieceTree's order


class SlotMask(NamedTuple):
    """The allowed actions of ``B`` states by kind (:meth:`FragmentEnv.slot_mask`): the flat
    mask without its ``S·K`` attach columns, each allowed slot allowing every stem.

    Attributes:
        empty: ``BoolTensor[B]``, the empty state: placing a fragment is allowed, stopping
            is not; the other way round for every other state.
        slots: ``BoolTensor[B, S]``, attaching at the slot is allowed.
    """

    empty: torch.Tensor
    slots: torch.Tensor


@dataclass
class _Record:
    """What the environment knows of one state, each part computed when first needed; one
    cache entry, so the parts (which share the tree's RDKit molecule) go together."""

    tree: PieceTree
    decomposition: Decomposition | None = None
    slots: _Slots | None = None


class FragmentEnv(MoleculeEnvironment):
    """Molecules assembled from vocabulary fragments, keyed by canonical SMILES.

    A state *is* a molecule up to isomorphism (the initial state is empty); see
    :mod:`gfncompose.envs.assembly` for the rules and
    :mod:`gfncompose.envs.decomposition` for how a molecule splits. Its attachment points, its
    parents and whether it may grow are functions of the molecule alone, which
    makes both sources of bias tractable:

    * automorphisms: only one attachment point per orbit (its lowest atom index)
      and one stem per orbit of each fragment are offered, and
      ``log_transition`` sums the few remaining actions that still give the same
      molecule (found by inverting the child's leaf cuts);
    * several assemblies of one molecule: they all reach the *same* state, whose
      parents (for the uniform ``P_B``) are the distinct molecules left by its
      leaf cuts, plus ``s0`` when it is a fragment itself. Stopping makes the
      state the terminal object, so the stop transition has a single parent.

    The fragment limit is a function of the molecule so that the DAG stays
    Markov: a molecule may grow while its *smallest* assembly has fewer than
    ``max_fragments`` fragments (any assembly order of that assembly passes only
    through states that may grow, so every molecule with a small enough
    assembly is reachable). Parents are restricted to molecules that may grow.

    Flat action space, with ``F`` fragments, ``K`` (fragment, stem) pairs
    (``table.stem_offset``) and ``S`` attachment slots:

    - ``[0, F)``: place fragment ``f`` (empty state only);
    - ``F + s*K + k``: bond pair ``k``'s stem to the ``s``-th attachment point of the
      molecule (ascending atom index);
    - ``stop_action = F + S*K`` (last): the molecule is the terminal object.

    ``S = max_fragments * (attachment points of the richest fragment)`` bounds the
    attachment points of any reachable molecule, so no slot limit ever binds.
    """

    def __init__(
        self,
        vocabulary: Vocabulary | None = None,
        max_fragments: int = 9,
        device: str | torch.device = "cpu",
    ):
        if max_fragments < 1:
            raise UserError(f"max_fragments must be at least 1, got {max_fragments}")
        self.vocabulary = default_vocabulary() if vocabulary is None else vocabulary
        self.table = FragmentTable(self.vocabulary)
        self.max_fragments = max_fragments
        super().__init__()
        self.device = torch.device(device)
        self.num_fragments = len(self.table)
        self.num_stems = self.table.num_stems
        self.num_slots = max_fragments * self.table.max_attachments
        self.attach_offset = self.num_fragments
        self.stop_action = self.attach_offset + self.num_slots * self.num_stems
        self.num_actions = self.stop_action + 1
        elements = sorted(
            {a.GetSymbol() for f in self.table.fragments for a in f.mol.GetAtoms()},
            key=lambda s: Chem.Atom(s).GetAtomicNum(),
        )
        self.featurizer = MolFeaturizer(elements)
        self._fragment_trees = [PieceTree.from_mol(f.mol, self.table) for f in self.table.fragments]
        self._records: LRUCache[str, _Record] = LRUCache(RECORDS_CACHED)
        self._attachments: LRUCache[str, torch.Tensor] = LRUCache(CACHE_SIZE)

    # -- actions ---------------------------------------------------------------------------
    def decode(self, action: int) -> tuple[int | None, int, int]:
        """``(slot, fragment, stem atom)``; ``slot`` is ``None`` for place-first actions."""
        if action < self.attach_offset:
            return None, action, -1
        if action >= self.stop_action:
            raise ValueError("the stop action has no child state")
        slot, pair = divmod(action - self.attach_offset, self.num_stems)
        fragment = bisect.bisect_right(self.table.stem_offset, pair) - 1
        stems = self.table.fragments[fragment].stems
        return slot, fragment, stems[pair - self.table.stem_offset[fragment]]

    # -- per-state data --------------------------------------------------------------------
    def _record(self, state: MolState) -> _Record:
        return self._records.get(
            state.key, lambda: _Record(PieceTree.from_mol(state.mol, self.table))
        )

    def _tree(self, state: MolState) -> PieceTree:
        """The :class:`PieceTree` of a non-empty ``state`` (cached by key; a forward step
        derives its child's from its own)."""
        return self._record(state).tree

    def _arrays(self, state: MolState) -> MolArrays:
        """What the featurizer reads of ``state``: from its tree when that is cached (no
        SMILES to parse), else from its molecule; bonds sorted by their canonical ends
        either way, so that the features of a key never depend on the cache."""
        record = self._records.peek(state.key)
        if record is None:
            arrays = MolArrays.of(state.mol)
            bonds = sorted(
                (min(u, v), max(u, v), kind, ring, conjugated)
                for (u, v), kind, ring, conjugated in zip(
                    arrays.ends,
                    arrays.bond_type,
                    arrays.bond_in_ring,
                    arrays.conjugated,
                    strict=True,
                )
            )
            return arrays._replace(**_bond_columns(bonds))
        tree = record.tree
        order = [0] * tree.num_atoms
        for index, position in enumerate(tree.canonical):
            order[position] = index
        in_ring = [False] * tree.num_atoms
        bonds = []
        for (u, v, kind), ring, conjugated in zip(
            tree.bonds, tree.bond_in_ring, tree.conjugated, strict=True
        ):
            in_ring[u] |= ring
            in_ring[v] |= ring
            u, v = sorted((tree.canonical[u], tree.canonical[v]))
            bonds.append((u, v, kind, ring, conjugated))
        bonds.sort()
        labels = [tree.labels[i] for i in order]
        return MolArrays(
            atomic_number=[label.atomic_number for label in labels],
            degree=[tree.degree[i] for i in order],
            hydrogens=[label.hydrogens for label in labels],
            charge=[label.charge for label in labels],
            aromatic=[label.aromatic for label in labels],
            in_ring=[in_ring[i] for i in order],
            **_bond_columns(bonds),
        )

    def _attachment_points(self, state: MolState) -> torch.Tensor:
        """Attachment points of a non-empty ``state``, ascending (cached by key): from its
        tree when that is cached, else from its molecule (building a tree costs more)."""

        def compute() -> torch.Tensor:
            record = self._records.peek(state.key)
            if record is None:
                points = attachment_points(state.mol, self.table.kinds)
            else:
                tree = record.tree
                points = [tree.canonical[atom] for atom in tree.attachment_points()]
            return torch.tensor(points, dtype=torch.long)

        return self._attachments.get(state.key, compute)

    def _slots(self, state: MolState) -> _Slots:
        record = self._record(state)
        if record.slots is None:
            record.slots = self._compute_slots(state.key, record.tree)
        return record.slots

    def _compute_slots(self, key: str, tree: PieceTree) -> _Slots:
        allowed = np.zeros(self.num_slots, dtype=bool)
        points = tree.attachment_points()
        if len(points) > self.num_slots:
            raise ValueError(f"{key} is not a state: it has more attachment points than slots")
        # points come in canonical order, so each orbit's first point is its lowest atom
        representative = symmetry_representatives(tree.frozen, points, (tree.labels, tree.bonds))
        slot = {atom: s for s, atom in enumerate(points)}
        slot_of_atom = {tree.canonical[atom]: slot[representative[atom]] for atom in points}
        allowed[sorted(set(slot_of_atom.values()))] = True
        attachments = np.asarray([tree.canonical[atom] for atom in points], dtype=np.int64)
        return _Slots(
            attachments=attachments, slot_of_atom=slot_of_atom, allowed=allowed, tree_atoms=points
        )

    def decomposition(self, state: MolState) -> Decomposition:
        """How the non-empty ``state`` splits into fragments (cached by key)."""
        record = self._record(state)
        if record.decomposition is None:
            decomposition = decomposition_of(record.tree, self.table)
            if decomposition.min_fragments > self.max_fragments:
                raise ValueError(f"{state.key} is not a state: it needs more than max_fragments")
            record.decomposition = decomposition
        return record.decomposition

    def can_grow(self, state: MolState) -> bool:
        """Whether a fragment may be added: the empty state, or a smallest assembly below
        ``max_fragments``."""
        return not state.key or self.decomposition(state).min_fragments < self.max_fragments

    def parents(self, state: MolState) -> set[str]:
        """Keys of the distinct parents of a non-empty ``state`` (``""`` for ``s0``)."""
        return self.decomposition(state).parents(self.max_fragments)

    def num_parents(self, state: MolState) -> int:
        """``len(parents(state))``, computing only the parent SMILES it needs."""
        return self.decomposition(state).num_parents(self.max_fragments)

    def cache_sizes(self) -> dict[str, int]:
        """Entries in each per-key cache (each bounded; see ``CACHE_SIZE``, ``RECORDS_CACHED``)."""
        return {
            "states": len(self._states),
            "records": len(self._records),
            "attachments": len(self._attachments),
            "children": len(self._children),
            "features": len(self.featurizer),
        }

    # -- Environment -----------------------------------------------------------------------
    def slot_mask(self, states: MolStates) -> SlotMask:
        """The allowed actions of ``states`` by kind: place-first on the empty state; attach
        where the slot holds an orbit representative and the molecule may grow (every stem);
        stop on every non-empty molecule."""
        empty = torch.tensor([not s.key for s in states], dtype=torch.bool)
        slots = np.zeros((len(states), self.num_slots), dtype=bool)
        for row, state in enumerate(states):
            if state.key and self.can_grow(state):
                slots[row] = self._slots(state).allowed
        return SlotMask(empty.to(self.device), torch.from_numpy(slots).to(self.device))

    def forward_mask(self, states: MolStates) -> torch.Tensor:
        """``[B, A]``: :meth:`slot_mask` in the flat layout."""
        empty, slots = self.slot_mask(states)
        attach = slots[:, :, None].expand(-1, -1, self.num_stems)
        return torch.cat(
            [
                empty[:, None].expand(-1, self.num_fragments),
                attach.reshape(len(states), -1),
                ~empty[:, None],
            ],
            dim=1,
        )

    def _compute_child_key(self, state: MolState, action: int) -> str:
        """The child's key; its record, with the tree the join derived, is cached too."""
        slot, fragment, stem = self.decode(action)
        if slot is None:
            key, tree = self.table.fragments[fragment].smiles, self._fragment_trees[fragment]
        else:
            slots = self._slots(state)
            key, tree = self._tree(state).join(
                slots.tree_atoms[slot],
                self._fragment_trees[fragment],
                stem,
                (state.key, int(slots.attachments[slot])),
                self.table,
            )
        self._records.get(key, lambda: _Record(tree))
        return key

    def attach_action(self, state: MolState, atom: int, stem: int) -> int:
        """The action bonding (fragment, stem) pair ``stem`` to attachment point ``atom`` of
        ``state`` (to its orbit's representative, which gives the same molecule)."""
        slot = self._slots(state).slot_of_atom[atom]
        return self.attach_offset + slot * self.num_stems + stem

    def same_child_actions(self, state: MolState, action: int) -> list[int]:
        """Allowed actions of ``state`` giving the same molecule as ``action`` (it included).

        Each is the inverse of a leaf cut of the child whose rest is ``state``: the
        cut atom's orbit gives the slot, the removed fragment and its cut atom
        give the (fragment, stem) pair. Only cuts whose parent has ``state``'s
        signature can have it as parent, and automorphic cuts invert to the same
        action, so one cut per class of those needs its parent's SMILES.
        """
        if action < self.attach_offset or action == self.stop_action:
            return [action]
        child = self.state(self._child_key(state, action))
        cuts = self.decomposition(child).cuts_to(state.key, self.decomposition(state).signature)
        if len(cuts) == 1:  # the cut undoing ``action``: no other action gives this child
            return [action]
        same = {self.attach_action(state, cut.parent_atom, cut.stem) for cut in cuts}
        if action not in same:
            raise AssertionError(f"action {action} of {state.key} is not among its child's cuts")
        return sorted(same)

    def to_data(self, states: MolStates) -> Batch:
        """``Batch`` of atom/bond features (see :class:`MolFeaturizer`) plus ``slot_node``
        ``[B, S]``: the batch-wide node index of each attachment slot's atom, ``-1`` where
        the molecule has fewer attachment points.

        The action mask is not attached: it needs the molecule's decomposition and
        symmetry classes (RDKit work, most of it for a molecule the environment has
        not built by a step itself), which encoding children for guidance or classifier
        batches never needs; :meth:`slot_mask` gives it.
        """
        batch = self.featurizer.batch(states, self._arrays)
        points = [self._attachment_points(s) if s.key else _NO_POINTS for s in states]
        counts = torch.tensor([len(p) for p in points], dtype=torch.long)
        rows = torch.repeat_interleave(torch.arange(len(states)), counts)
        _, starts = row_starts(rows, len(states))
        slot_node = torch.full((len(states), self.num_slots), -1, dtype=torch.long)
        slot_node[rows, positions_in_rows(rows, starts)] = torch.cat(points) + batch.ptr[rows]
        batch.slot_node = slot_node
        return batch.to(self.device)


def _bond_columns(bonds: list[tuple[int, int, int, bool, bool]]) -> dict[str, list]:
    """The bond fields of :class:`MolArrays` from ``(u, v, type, in ring, conjugated)`` rows."""
    u, v, kind, ring, conjugated = zip(*bonds, strict=True) if bonds else ((),) * 5
    return {
        "ends": list(zip(u, v, strict=True)),
        "bond_type": list(kind),
        "bond_in_ring": list(ring),
        "conjugated": list(conjugated),
    }
