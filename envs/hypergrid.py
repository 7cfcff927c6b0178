"""The hypergrid: an ``ndim``-dimensional grid walked from the origin by +1 steps."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch

from .base import Environment


class HyperGrid(Environment):
    """States are points of ``{0..horizon-1}^ndim``, a batch is ``LongTensor[B, ndim]``.

    Action ``d < ndim`` adds 1 to coordinate ``d`` (allowed while it stays below
    ``horizon``); action ``ndim`` stops, making the current point the terminal
    object. Every point, the origin included, is a terminal object.
    """

    def __init__(self, ndim: int = 2, horizon: int = 32, device: str | torch.device = "cpu"):
        if ndim < 1 or horizon < 2:
            raise ValueError(f"HyperGrid needs ndim >= 1 and horizon >= 2, got {ndim}, {horizon}")
        self.ndim = ndim
        self.horizon = horizon
        self.num_actions = ndim + 1
        self.stop_action = ndim
        self.device = torch.device(device)
        self._place = horizon ** torch.arange(ndim - 1, -1, -1, device=self.device)

    def initial_states(self, n: int) -> torch.Tensor:
        return torch.zeros(n, self.ndim, dtype=torch.long, device=self.device)

    def forward_mask(self, states: torch.Tensor) -> torch.Tensor:
        stop = torch.ones(len(states), 1, dtype=torch.bool, device=states.device)
        return torch.cat([states < self.horizon - 1, stop], dim=1)

    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return states + torch.nn.functional.one_hot(actions, self.ndim)

    def log_backward(self, states: torch.Tensor) -> torch.Tensor:
        return -torch.log((states > 0).sum(1).float())

    def to_data(self, states: torch.Tensor) -> torch.Tensor:
        """One-hot coordinates, ``FloatTensor[B, ndim * horizon]``."""
        one_hot = torch.nn.functional.one_hot(states, self.horizon)
        return one_hot.flatten(1).float()

    def state_keys(self, states: torch.Tensor) -> list[Hashable]:
        return (states * self._place.to(states.device)).sum(1).tolist()

    def index(self, states: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return states[idx]

    def cat(self, batches: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(batches))

    def terminal_states(self) -> torch.Tensor:
        """All ``horizon**ndim`` points in row-major order, ``[horizon**ndim, ndim]``."""
        axes = [torch.arange(self.horizon, device=self.device)] * self.ndim
        return torch.cartesian_prod(*axes).reshape(-1, self.ndim)
