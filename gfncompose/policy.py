"""Forward policies: anything that gives ``log P_F(a | s)`` over the flat action space."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn

from .envs.base import Environment, States
from .nets import build_action_readout, build_trunk
from .nets.base import Pairs
from .segments import row_starts, segment_logsumexp

MASKED = float("-inf")
"""Log-probability of a forbidden action: masked by ``-inf``, never by multiplying."""


class AllowedLogProbs(NamedTuple):
    """``log P_F`` at every allowed action of ``B`` states, as ragged rows: the sparse form of
    a policy's dense ``[B, A]`` (a state of the literature's fragment space allows a few
    hundred of its ~12,000 actions).

    Attributes:
        rows: ``LongTensor[K]``, the state of each pair, ascending.
        actions: ``LongTensor[K]``, its allowed action, ascending within a state.
        log_probs: ``[K]``, ``log P_F(actions[k] | states[rows[k]])`` (``-inf`` where an
            allowed action has probability 0).
    """

    rows: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor

    def at(self, rows: torch.Tensor, actions: torch.Tensor, num_actions: int) -> torch.Tensor:
        """``log P_F(actions[k] | states[rows[k]])``: ``[K']``, ``-inf`` for an action its
        state does not allow (as in the dense ``[B, A]``)."""
        keys = self.rows * num_actions + self.actions
        position = torch.searchsorted(keys, rows * num_actions + actions)
        position = position.clamp_max(len(keys) - 1)
        found = keys[position] == rows * num_actions + actions
        return torch.where(found, self.log_probs[position], MASKED)


class PolicyInputs(NamedTuple):
    """What a policy network reads of ``n`` states, as tensors only: built by the environment
    (:func:`policy_inputs`), so a process that samples can ship it to one that learns.

    Attributes:
        data: ``env.to_data(states)``.
        rows: ``LongTensor[K]``, the state of each allowed pair, ascending.
        actions: ``LongTensor[K]``, its allowed action, ascending within a state.
        n: the number of states.
    """

    data: Any
    rows: torch.Tensor
    actions: torch.Tensor
    n: int

    def to(self, device: torch.device) -> PolicyInputs:
        """The same inputs on ``device``."""
        return PolicyInputs(
            self.data.to(device), self.rows.to(device), self.actions.to(device), self.n
        )


def policy_inputs(env: Environment, states: States) -> PolicyInputs:
    """The network input and the allowed (state, action) pairs of ``states``."""
    mask = env.forward_mask(states)
    rows, actions = mask.nonzero(as_tuple=True)
    return PolicyInputs(env.to_data(states), rows, actions, len(mask))


def allowed_of(log_probs: torch.Tensor, mask: torch.Tensor) -> AllowedLogProbs:
    """The allowed entries (``mask``, ``BoolTensor[B, A]``) of a dense ``log_probs [B, A]``."""
    rows, actions = mask.nonzero(as_tuple=True)
    return AllowedLogProbs(rows, actions, log_probs[rows, actions])


@runtime_checkable
class Policy(Protocol):
    """A forward policy bound to its environment."""

    env: Environment

    def log_probs(self, states: States) -> torch.Tensor:
        """``log P_F(a | s)``: ``[B, A]``, ``-inf`` on forbidden actions, rows sum to 1."""
        ...

    def allowed_log_probs(self, states: States) -> AllowedLogProbs:
        """The same at the allowed actions only (``env.forward_mask``), ragged."""
        ...


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-softmax of ``logits`` ``[B, A]`` over the allowed entries of ``mask``."""
    return torch.log_softmax(logits.masked_fill(~mask, MASKED), dim=1)


class UniformPolicy:
    """Uniform over allowed actions: the random baseline."""

    def __init__(self, env: Environment):
        self.env = env

    def log_probs(self, states: States) -> torch.Tensor:
        mask = self.env.forward_mask(states)
        return masked_log_softmax(torch.zeros(mask.shape, device=mask.device), mask)

    def allowed_log_probs(self, states: States) -> AllowedLogProbs:
        mask = self.env.forward_mask(states)
        rows, actions = mask.nonzero(as_tuple=True)
        counts, _ = row_starts(rows, len(mask))
        return AllowedLogProbs(rows, actions, -counts[rows].float().log())


class ForwardPolicy(nn.Module):
    """A trunk plus a one-channel action readout: ``logits [B, A]`` for ``env``."""

    def __init__(self, env: Environment, hidden: int = 256, num_layers: int = 2):
        super().__init__()
        self.trunk = build_trunk(env, hidden, num_layers)
        self.readout = build_action_readout(env, hidden, 1)

    def forward(self, data, pairs: Pairs | None = None) -> torch.Tensor:
        """Logits of every action, ``[B, A]``, or of the ``pairs`` only, ``[K]``."""
        return self.readout(self.trunk(data), pairs=pairs).squeeze(-1)


class GFlowNet(nn.Module):
    """A trajectory-balance GFlowNet: forward policy network and learned ``log_Z``.

    The backward policy is the environment's fixed uniform one (DESIGN §1).
    """

    def __init__(self, env: Environment, hidden: int = 256, num_layers: int = 2):
        super().__init__()
        self.env = env
        self.forward_policy = ForwardPolicy(env, hidden, num_layers)
        self.log_Z = nn.Parameter(torch.zeros(()))
        self.config = {"hidden": hidden, "num_layers": num_layers}

    def log_probs(self, states: States) -> torch.Tensor:
        logits = self.forward_policy(self.env.to_data(states))
        return masked_log_softmax(logits, self.env.forward_mask(states))

    def allowed_log_probs(self, states: States) -> AllowedLogProbs:
        """Scores only the allowed actions and normalises over each state's (a log-softmax
        over ragged rows): on the literature's fragment space the loss and its backward skip
        the dense ``[B, A]`` block (1.3x faster per trajectory-balance pass, forward and
        backward; the action draw 1.8x: ``benchmarks/RESULTS.md``)."""
        return self.allowed_log_probs_at(policy_inputs(self.env, states))

    def allowed_log_probs_at(self, inputs: PolicyInputs) -> AllowedLogProbs:
        """:meth:`allowed_log_probs` of states given by their :func:`policy_inputs`."""
        rows, actions = inputs.rows, inputs.actions
        logits = self.forward_policy(inputs.data, pairs=(rows, actions))
        log_normaliser = segment_logsumexp(logits, rows, inputs.n)
        return AllowedLogProbs(rows, actions, logits - log_normaliser[rows])
