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
from typing import Any, NamedTuple

import torch
from torch import nn

from ..action_log_probs import AllowedLogProbs, SlotLogProbs
from ..envs.base import Environment, States
from ..segments import segment_logsumexp


@dataclass
class Encoding:
    """A trunk's output. ``graph``: ``[B, hidden]``; environment trunks add fields."""

    graph: torch.Tensor


class Pairs(NamedTuple):
    """``(rows, actions)``: ``LongTensor[K]`` each, the (state, action) pairs to score."""

    rows: torch.Tensor
    actions: torch.Tensor


@singledispatch
def allowed_actions(env: Environment, states: States) -> Any:
    """What ``env``'s action readout reads of the allowed actions of ``states`` to normalise
    over them (:meth:`ActionReadout.log_softmax`): by default the allowed (state, action)
    :class:`Pairs` of ``env.forward_mask``, ascending; an environment whose readout keeps its
    own layout registers what that layout needs. A tuple of tensors either way."""
    rows, actions = env.forward_mask(states).nonzero(as_tuple=True)
    return Pairs(rows, actions)


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

    def log_softmax(
        self, encoding: Encoding, allowed: Any, num_actions: int
    ) -> AllowedLogProbs | SlotLogProbs:
        """A one-channel readout's log-softmax over each state's allowed actions, as
        :func:`allowed_actions` gives them (here :class:`Pairs`): only those are scored."""
        rows, actions = allowed
        logits = self(encoding, pairs=allowed).squeeze(-1)
        log_normaliser = segment_logsumexp(logits, rows, len(encoding.graph))
        return AllowedLogProbs(rows, actions, logits - log_normaliser[rows], num_actions)


@singledispatch
def build_trunk(env: Environment, hidden: int, num_layers: int) -> nn.Module:
    """A trunk for ``env``: ``trunk(env.to_data(states)) -> Encoding``."""
    raise TypeError(f"no network trunk is registered for {type(env).__name__}")


@singledispatch
def build_action_readout(env: Environment, hidden: int, channels: int) -> ActionReadout:
    """An action readout for ``env`` giving ``channels`` numbers per action."""
    raise TypeError(f"no action readout is registered for {type(env).__name__}")
