"""How networks meet environments: a trunk per environment type and an action readout.

Every network in gfncompose (forward policies and the classifier) is a *trunk*
that embeds a batch of states plus *heads*. Heads that score states read the
graph-level embedding ``Encoding.graph`` (``[B, hidden]``); heads that score
actions are an *action readout* in the environment's flat action layout. Both are
chosen by environment type with :func:`build_trunk` and
:func:`build_action_readout`, so the learning code never names a concrete
environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch

import torch
from torch import nn

from ..envs.base import Environment


@dataclass
class Encoding:
    """A trunk's output. ``graph``: ``[B, hidden]``; environment trunks add fields."""

    graph: torch.Tensor


Pairs = tuple[torch.Tensor, torch.Tensor]
"""``(rows, actions)``: ``LongTensor[K]`` each, the (state, action) pairs to score."""


class ActionReadout(nn.Module):
    """Scores actions with ``channels`` numbers each.

    ``readout(encoding)`` scores every action: ``[B, num_actions, channels]`` (what a
    one-channel forward policy needs for its softmax). ``readout(encoding,
    pairs=(rows, actions))`` scores only those pairs: ``[K, channels]``, row ``k``
    equal to the dense ``[rows[k], actions[k]]``. Heads with many channels (the
    classifier's) use only this: their dense output (``[B, 20033, 99]`` for
    fragments) would not fit in memory. Only actions the environment can allow
    need scoring, so pairs must be allowed actions.

    ``cond`` (``[B, hidden]`` or ``None``) is added to the graph-level features the
    readout uses before scoring.
    """

    def forward(
        self, encoding: Encoding, cond: torch.Tensor | None = None, pairs: Pairs | None = None
    ) -> torch.Tensor:
        raise NotImplementedError


@singledispatch
def build_trunk(env: Environment, hidden: int, num_layers: int) -> nn.Module:
    """A trunk for ``env``: ``trunk(env.to_data(states)) -> Encoding``."""
    raise TypeError(f"no network trunk is registered for {type(env).__name__}")


@singledispatch
def build_action_readout(env: Environment, hidden: int, channels: int) -> ActionReadout:
    """An action readout for ``env`` giving ``channels`` numbers per action."""
    raise TypeError(f"no action readout is registered for {type(env).__name__}")
