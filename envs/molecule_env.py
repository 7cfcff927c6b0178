"""What the molecule environments share: batches of :class:`MolState` keyed by canonical SMILES."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Hashable, Sequence

import torch
from rdkit import Chem

from .base import Environment
from .molecule import EMPTY, MolState, MolStates


class MoleculeEnvironment(Environment):
    """An environment whose states are molecules up to isomorphism (``MolState`` lists).

    Subclasses give the allowed moves of a state, the canonical key of a child and the
    state of a key; batching, keys, export and enumeration follow from those.
    """

    @abstractmethod
    def _moves(self, state: MolState) -> list[int]:
        """The allowed non-stop actions of ``state``."""

    @abstractmethod
    def _child_key(self, state: MolState, action: int) -> str:
        """Canonical SMILES of the child that ``action`` makes from ``state``."""

    @abstractmethod
    def _state_from_key(self, key: str) -> MolState:
        """The (cached) state of a canonical SMILES key."""

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
                        seen[key] = self._state_from_key(key)
                        found.append(seen[key])
            frontier = found
        return [seen[key] for key in sorted(seen) if key != EMPTY.key]

    def to_smiles(self, states: MolStates) -> list[str]:
        """Canonical SMILES of each state."""
        return [s.key for s in states]

    def to_mols(self, states: MolStates) -> list[Chem.Mol]:
        """A sanitized RDKit molecule (a copy) per state."""
        return [Chem.Mol(s.mol) for s in states]


def log_sum_actions(log_probs: torch.Tensor, actions: Sequence[Sequence[int]]) -> torch.Tensor:
    """``log Σ_{a in actions[b]} P_F(a | s_b)`` from ``log_probs [B, A]``: ``[B]``.

    Each row's list is short (the actions giving one child, usually one), so only those
    entries are gathered: the flat action spaces have thousands of actions (~12,000 for
    the literature's fragments), where a dense masked logsumexp and its backward cost more
    than the policy's own log-softmax.
    """
    device = log_probs.device
    row_of = [b for b, row in enumerate(actions) for _ in row]
    rows = torch.tensor(row_of, dtype=torch.long, device=device)
    columns = torch.tensor([a for row in actions for a in row], dtype=torch.long, device=device)
    values = log_probs[rows, columns]
    if len(values) == len(actions):
        return values
    # shift each row by its max; logsumexp does not depend on the shift, so no gradient
    shift = torch.full((len(actions),), -math.inf, dtype=values.dtype, device=device)
    shift = shift.scatter_reduce(0, rows, values.detach(), "amax")
    total = torch.zeros_like(shift).index_add(0, rows, (values - shift[rows]).exp())
    return shift + total.log()
