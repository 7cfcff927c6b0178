"""What the molecule environments share: batches of :class:`MolState` keyed by canonical SMILES."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Hashable, Sequence

import torch
from rdkit import Chem

from ..lru import LRUCache
from .base import Environment
from .molecule import CACHE_SIZE, EMPTY, MolState, MolStates, canonical_state


class MoleculeEnvironment(Environment):
    """An environment whose states are molecules up to isomorphism (``MolState`` lists).

    Subclasses give the key of the child an action makes, the allowed actions that make
    the same child and the distinct parents of a state; initial states, steps,
    ``log_backward``, ``log_transition``, batching, keys, export and enumeration follow
    from those. States and child keys are cached by key here (``CACHE_SIZE`` each).
    """

    def __init__(self) -> None:
        self._states: LRUCache[str, MolState] = LRUCache(CACHE_SIZE)
        self._children: LRUCache[tuple[str, int], str] = LRUCache(CACHE_SIZE)

    @abstractmethod
    def _compute_child_key(self, state: MolState, action: int) -> str:
        """Canonical SMILES of the child that the non-stop ``action`` makes from ``state``
        (uncached: :meth:`_child_key` caches it)."""

    @abstractmethod
    def same_child_actions(self, state: MolState, action: int) -> list[int]:
        """Allowed actions of ``state`` giving the same molecule as ``action`` (it included)."""

    @abstractmethod
    def parents(self, state: MolState) -> set[str]:
        """Keys of the distinct parents of a non-empty ``state`` (``""`` for ``s0``)."""

    @abstractmethod
    def num_parents(self, state: MolState) -> int:
        """``len(parents(state))``, cached or computed with less work."""

    def state(self, key: str) -> MolState:
        """The state of the canonical SMILES ``key`` (``""``: the empty molecule), cached."""
        return EMPTY if key == "" else self._states.get(key, lambda: canonical_state(key))

    def _child_key(self, state: MolState, action: int) -> str:
        """Canonical SMILES of the child that the non-stop ``action`` makes from ``state``."""
        return self._children.get(
            (state.key, action), lambda: self._compute_child_key(state, action)
        )

    def _moves(self, state: MolState) -> list[int]:
        """The allowed non-stop actions of ``state``."""
        return self.forward_mask([state])[0, : self.stop_action].nonzero().squeeze(1).tolist()

    # -- Environment -----------------------------------------------------------------------
    def initial_states(self, n: int) -> MolStates:
        return [EMPTY] * n

    def step(self, states: MolStates, actions: torch.Tensor) -> MolStates:
        return [
            self.state(self._child_key(s, a)) for s, a in zip(states, actions.tolist(), strict=True)
        ]

    def log_backward(self, states: MolStates) -> torch.Tensor:
        """``-log`` the number of distinct parents of each (non-empty) state: ``[B]``."""
        counts = [self.num_parents(s) for s in states]
        return -torch.tensor(counts, dtype=torch.float32, device=self.device).log()

    def transition_actions(
        self, states: MolStates, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each action with its :meth:`same_child_actions`: ``rows`` and ``actions``,
        ``LongTensor[K]`` each (usually one per row)."""
        same = [
            self.same_child_actions(s, a) for s, a in zip(states, actions.tolist(), strict=True)
        ]
        rows = [b for b, row in enumerate(same) for _ in row]
        flat = [a for row in same for a in row]
        device = actions.device
        return (
            torch.tensor(rows, dtype=torch.long, device=device),
            torch.tensor(flat, dtype=torch.long, device=device),
        )

    def state_keys(self, states: MolStates) -> list[Hashable]:
        return [s.key for s in states]

    def index(self, states: MolStates, idx: torch.Tensor) -> MolStates:
        return [states[i] for i in idx.tolist()]

    def cat(self, batches: Sequence[MolStates]) -> MolStates:
        return [s for batch in batches for s in batch]

    def terminal_states(self) -> MolStates:
        """Every reachable molecule, sorted by canonical SMILES (small spaces only: this
        enumerates the whole state graph)."""
        seen = {EMPTY.key: EMPTY}
        frontier = [EMPTY]
        while frontier:
            found = []
            for state in frontier:
                for action in self._moves(state):
                    key = self._child_key(state, action)
                    if key not in seen:
                        seen[key] = self.state(key)
                        found.append(seen[key])
            frontier = found
        return [seen[key] for key in sorted(seen) if key != EMPTY.key]

    def to_smiles(self, states: MolStates) -> list[str]:
        """Canonical SMILES of each state."""
        return [s.key for s in states]

    def to_mols(self, states: MolStates) -> list[Chem.Mol]:
        """A sanitized RDKit molecule (a copy) per state."""
        return [Chem.Mol(s.mol) for s in states]
