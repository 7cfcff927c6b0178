"""The fragment environment: build a molecule by joining vocabulary fragments."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from ..errors import UserError
from .assembly import FragmentTable, attachment_points, join, symmetry_representatives
from .decomposition import Decomposition, decompose
from .molecule import EMPTY, LRUCache, MolFeaturizer, MolState, MolStates, canonical_state
from .molecule_env import MoleculeEnvironment
from .vocabulary import Vocabulary, default_vocabulary


@dataclass(frozen=True)
class _Slots:
    """The attachment slots of one state, computed once per key."""

    attachments: np.ndarray  # int [n]: atom of each slot (attachment points, ascending)
    slot_of_atom: dict[int, int]  # attachment point -> slot of its orbit's representative
    allowed: np.ndarray  # bool [S]: the slot holds its orbit's representative


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
        self._states: LRUCache[str, MolState] = LRUCache()
        self._slot_cache: LRUCache[str, _Slots] = LRUCache()
        self._decompositions: LRUCache[str, Decomposition] = LRUCache()
        self._children: LRUCache[tuple[str, int], str] = LRUCache()

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
    def state(self, key: str) -> MolState:
        """The state of the canonical SMILES ``key`` (``""``: the empty molecule)."""
        return EMPTY if key == "" else self._states.get(key, lambda: canonical_state(key))

    def _slots(self, state: MolState) -> _Slots:
        return self._slot_cache.get(state.key, lambda: self._compute_slots(state))

    def _compute_slots(self, state: MolState) -> _Slots:
        allowed = np.zeros(self.num_slots, dtype=bool)
        points = attachment_points(state.mol, self.table.kinds)
        if len(points) > self.num_slots:
            raise ValueError(
                f"{state.key} is not a state: it has more attachment points than slots"
            )
        representative = symmetry_representatives(state.mol, points)
        slot = {atom: s for s, atom in enumerate(points)}
        slot_of_atom = {atom: slot[representative[atom]] for atom in points}
        allowed[sorted(set(slot_of_atom.values()))] = True
        return _Slots(np.asarray(points, dtype=np.int64), slot_of_atom, allowed)

    def decomposition(self, state: MolState) -> Decomposition:
        """How the non-empty ``state`` splits into fragments (cached by key)."""
        return self._decompositions.get(state.key, lambda: self._decompose(state))

    def _decompose(self, state: MolState) -> Decomposition:
        decomposition = decompose(state.mol, self.table)
        if decomposition.min_fragments > self.max_fragments:
            raise ValueError(f"{state.key} is not a state: it needs more than max_fragments")
        return decomposition

    def can_grow(self, state: MolState) -> bool:
        """Whether a fragment may be added: the empty state, or a smallest assembly below
        ``max_fragments``."""
        return state.num_atoms == 0 or (
            self.decomposition(state).min_fragments < self.max_fragments
        )

    def parents(self, state: MolState) -> set[str]:
        """Keys of the distinct parents of a non-empty ``state`` (``""`` for ``s0``)."""
        decomposition = self.decomposition(state)
        keys = {
            cut.parent
            for cut in decomposition.leaf_cuts
            if cut.parent_min_fragments < self.max_fragments
        }
        if decomposition.fragment is not None:
            keys.add(EMPTY.key)
        return keys

    # -- Environment -----------------------------------------------------------------------
    def initial_states(self, n: int) -> MolStates:
        return [EMPTY] * n

    def forward_mask(self, states: MolStates) -> torch.Tensor:
        """``[B, A]``: place-first on the empty state; attach where the slot holds an orbit
        representative and the molecule may grow; stop on every non-empty molecule."""
        empty = torch.tensor([s.num_atoms == 0 for s in states], dtype=torch.bool)
        slots = np.zeros((len(states), self.num_slots), dtype=bool)
        for row, state in enumerate(states):
            if state.num_atoms and self.can_grow(state):
                slots[row] = self._slots(state).allowed
        attach = torch.from_numpy(slots)[:, :, None].expand(-1, -1, self.num_stems)
        mask = torch.cat(
            [
                empty[:, None].expand(-1, self.num_fragments),
                attach.reshape(len(states), -1),
                ~empty[:, None],
            ],
            dim=1,
        )
        return mask.to(self.device)

    def _child_key(self, state: MolState, action: int) -> str:
        return self._children.get((state.key, action), lambda: self._apply(state, action))

    def _apply(self, state: MolState, action: int) -> str:
        slot, fragment, stem = self.decode(action)
        compiled = self.table.fragments[fragment]
        if slot is None:
            return compiled.smiles
        atom = int(self._slots(state).attachments[slot])
        return join(state.mol, atom, compiled.mol, stem)

    def attach_action(self, state: MolState, atom: int, stem: int) -> int:
        """The action bonding (fragment, stem) pair ``stem`` to attachment point ``atom`` of
        ``state`` (to its orbit's representative, which gives the same molecule)."""
        slot = self._slots(state).slot_of_atom[atom]
        return self.attach_offset + slot * self.num_stems + stem

    def step(self, states: MolStates, actions: torch.Tensor) -> MolStates:
        return [
            self.state(self._child_key(s, a)) for s, a in zip(states, actions.tolist(), strict=True)
        ]

    def log_backward(self, states: MolStates) -> torch.Tensor:
        """``-log`` the number of distinct parents of each (non-empty) state: ``[B]``."""
        counts = [len(self.parents(s)) for s in states]
        return -torch.tensor(counts, dtype=torch.float32, device=self.device).log()

    def log_transition(
        self, states: MolStates, log_probs: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """``log Σ P_F(a' | s)`` over allowed actions ``a'`` giving the child of ``a``: ``[B]``."""
        rows, columns = [], []
        for row, (state, action) in enumerate(zip(states, actions.tolist(), strict=True)):
            same = self.same_child_actions(state, action)
            rows += [row] * len(same)
            columns += same
        same_child = torch.zeros(log_probs.shape, dtype=torch.bool, device=log_probs.device)
        same_child[rows, columns] = True
        return torch.logsumexp(log_probs.masked_fill(~same_child, -math.inf), dim=1)

    def same_child_actions(self, state: MolState, action: int) -> list[int]:
        """Allowed actions of ``state`` giving the same molecule as ``action`` (it included).

        Each is the inverse of a leaf cut of the child whose rest is ``state``: the
        cut atom's orbit gives the slot, the removed fragment and its cut atom
        give the (fragment, stem) pair.
        """
        if action < self.attach_offset or action == self.stop_action:
            return [action]
        child = self.state(self._child_key(state, action))
        same = {
            self.attach_action(state, cut.parent_atom, cut.stem)
            for cut in self.decomposition(child).leaf_cuts
            if cut.parent == state.key
        }
        if action not in same:
            raise AssertionError(f"action {action} of {state.key} is not among its child's cuts")
        return sorted(same)

    def to_data(self, states: MolStates) -> Batch:
        """``Batch`` of atom/bond features (see :class:`MolFeaturizer`) plus ``slot_node``
        ``[B, S]``: the batch-wide node index of each attachment slot's atom, ``-1`` where
        the molecule has fewer attachment points.

        The action mask is not attached: it needs the molecule's decomposition
        (milliseconds of RDKit work), which encoding children for guidance or
        classifier batches never needs; :meth:`forward_mask` gives it.
        """
        batch = self.featurizer.batch(states)
        slot_node = torch.full((len(states), self.num_slots), -1, dtype=torch.long)
        for row, state in enumerate(states):
            if state.num_atoms:
                attachments = torch.from_numpy(self._slots(state).attachments)
                slot_node[row, : len(attachments)] = attachments + batch.ptr[row]
        batch.slot_node = slot_node
        return batch.to(self.device)

    def _moves(self, state: MolState) -> list[int]:
        return self.forward_mask([state])[0, : self.stop_action].nonzero().squeeze(1).tolist()

    def _state_from_key(self, key: str) -> MolState:
        return self.state(key)
