"""The environment interface every GFlowNet environment implements.

An environment is a DAG of states with a flat, fixed-size action space of
``num_actions`` integers per state. Action ``stop_action`` turns a state ``s``
into the terminal object ``x = s``; every other allowed action moves to a child
state. Masks are complete and sound: an allowed action always gives a valid
state, and every valid state is reachable.

A batch of states is whatever the environment chooses (a ``LongTensor`` for the
hypergrid, a list-like of graphs for molecules); the learning code only touches
it through the methods below, so it never needs to know.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any

import torch

from ..segments import segment_logsumexp

States = Any
"""A batch of ``B`` states; its concrete type belongs to the environment."""


class Environment(ABC):
    """A graded DAG of states with a flat action space and an explicit stop action.

    Attributes:
        num_actions: size ``A`` of the flat action space (stop included).
        stop_action: index of the stop action in ``[0, A)``.
        device: where tensors returned by the environment live.
    """

    num_actions: int
    stop_action: int
    device: torch.device

    @abstractmethod
    def initial_states(self, n: int) -> States:
        """``n`` copies of the initial state ``s0``."""

    @abstractmethod
    def forward_mask(self, states: States) -> torch.Tensor:
        """Allowed actions, ``BoolTensor[B, A]`` on ``device``; never all False."""

    @abstractmethod
    def step(self, states: States, actions: torch.Tensor) -> States:
        """Children reached by non-stop ``actions`` (``LongTensor[B]``, all allowed)."""

    @abstractmethod
    def log_backward(self, states: States) -> torch.Tensor:
        """``log P_B(parent | s)`` of the transition into each non-initial ``s``: ``[B]``.

        The backward policy is fixed and uniform over the parents of ``s``, shared
        by every base (DESIGN §1), so this is ``-log num_parents(s)``. The stop
        transition ``s -> x`` has a single parent and contributes 0.
        """

    def transition_actions(
        self, states: States, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The allowed actions that make the same child as each of ``actions``
        (``LongTensor[B]``), as pairs: ``rows`` (ascending, into the batch) and their
        ``actions``, ``LongTensor[K]`` each, every row present.

        Where several actions lead to the same child (graph symmetries), the transition
        probability is their sum and an environment overrides this; by default each action
        has its own child.
        """
        return torch.arange(len(actions), device=actions.device), actions

    def log_transition(
        self, states: States, log_probs: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """``log P_F(s' | s)`` of the transition taken by ``actions`` from ``log_probs``
        ``[B, A]``: the log-sum over :meth:`transition_actions`, ``[B]``."""
        rows, same = self.transition_actions(states, actions)
        return segment_logsumexp(log_probs[rows, same], rows, len(actions))

    @abstractmethod
    def to_data(self, states: States) -> Any:
        """The batched tensor form a policy network reads (on ``device``)."""

    @abstractmethod
    def state_keys(self, states: States) -> list[Hashable]:
        """Hashable identities, equal exactly for equal states (and terminal objects)."""

    @abstractmethod
    def index(self, states: States, idx: torch.Tensor) -> States:
        """The sub-batch at integer positions ``idx`` (``LongTensor``)."""

    @abstractmethod
    def cat(self, batches: Sequence[States]) -> States:
        """One batch holding ``batches`` in order."""

    def terminal_states(self) -> States:
        """All terminal objects in a fixed order (enumerable environments only)."""
        raise NotImplementedError(f"{type(self).__name__} cannot enumerate its terminal states")
