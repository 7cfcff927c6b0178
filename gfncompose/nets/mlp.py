"""MLP trunk and readout for the hypergrid."""

from __future__ import annotations

import torch
from torch import nn

from ..envs.hypergrid import HyperGrid
from ..segments import unique_indices
from .base import ActionReadout, Encoding, Pairs, build_action_readout, build_trunk


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with LeakyReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU())
    return nn.Sequential(*layers)


class GridTrunk(nn.Module):
    """One-hot coordinates ``[B, ndim*horizon]`` -> ``Encoding(graph=[B, hidden])``."""

    def __init__(self, in_features: int, hidden: int, num_layers: int):
        super().__init__()
        self.net = nn.Sequential(mlp([in_features] + [hidden] * num_layers), nn.LeakyReLU())

    def forward(self, data: torch.Tensor) -> Encoding:
        return Encoding(graph=self.net(data))


class GridReadout(ActionReadout):
    """``MLP(hidden -> num_actions * channels)`` on the (conditioned) embedding.

    The hypergrid has ``ndim + 1`` actions, so scoring pairs evaluates the MLP once
    per distinct row (all its actions) and picks the requested ones.
    """

    def __init__(self, hidden: int, num_actions: int, channels: int):
        super().__init__()
        self.num_actions = num_actions
        self.channels = channels
        self.net = mlp([hidden, hidden, num_actions * channels])

    def forward(
        self, encoding: Encoding, cond: torch.Tensor | None = None, pairs: Pairs | None = None
    ) -> torch.Tensor:
        h = encoding.graph if cond is None else encoding.graph + cond
        if pairs is None:
            return self.net(h).view(-1, self.num_actions, self.channels)
        rows, actions = pairs
        unique, inverse = unique_indices(rows, len(h))
        out = self.net(h[unique]).view(len(unique), self.num_actions, self.channels)
        return out[inverse, actions]


@build_trunk.register
def _(env: HyperGrid, hidden: int, num_layers: int) -> nn.Module:
    return GridTrunk(env.ndim * env.horizon, hidden, num_layers)


@build_action_readout.register
def _(env: HyperGrid, hidden: int, channels: int) -> ActionReadout:
    return GridReadout(hidden, env.num_actions, channels)
