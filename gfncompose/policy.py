"""Forward policies: anything that gives ``log P_F(a | s)`` over the flat action space."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn

from .action_log_probs import MASKED, AllowedLogProbs, SlotLogProbs
from .envs.base import Environment, States
from .nets import build_action_readout, build_trunk
from .nets.base import Pairs, allowed_actions
from .segments import row_starts


class PolicyInputs(NamedTuple):
    """What a policy network reads of ``n`` states, as tensors only: built by the environment
    (:func:`policy_inputs`), so a process that samples can ship it to one that learns.

    Attributes:
        data: ``env.to_data(states)``.
        allowed: the states' allowed actions as the readout reads them
            (:func:`~gfncompose.nets.base.allowed_actions`: the allowed pairs, or the allowed
            slots of a fragment state), a tuple of tensors.
    """

    data: Any
    allowed: tuple

    def to(self, device: torch.device) -> PolicyInputs:
        """The same inputs on ``device``."""
        allowed = type(self.allowed)._make(t.to(device) for t in self.allowed)
        return PolicyInputs(self.data.to(device), allowed)


def policy_inputs(env: Environment, states: States) -> PolicyInputs:
    """The network input and the allowed actions of ``states``."""
    return PolicyInputs(env.to_data(states), allowed_actions(env, states))


def allowed_of(log_probs: torch.Tensor, mask: torch.Tensor) -> AllowedLogProbs:
    """The allowed entries (``mask``, ``BoolTensor[B, A]``) of a dense ``log_probs [B, A]``."""
    rows, actions = mask.nonzero(as_tuple=True)
    return AllowedLogProbs(rows, actions, log_probs[rows, actions], mask.shape[1])


@runtime_checkable
class Policy(Protocol):
    """A forward policy bound to its environment."""

    env: Environment

    def log_probs(self, states: States) -> torch.Tensor:
        """``log P_F(a | s)``: ``[B, A]``, ``-inf`` on forbidden actions, rows sum to 1."""
        ...

    def allowed_log_probs(self, states: States) -> AllowedLogProbs | SlotLogProbs:
        """The same at the allowed actions only (``env.forward_mask``), without the dense
        block (:mod:`~gfncompose.action_log_probs`)."""
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
        return AllowedLogProbs(rows, actions, -counts[rows].float().log(), mask.shape[1])


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

    def allowed_log_probs(self, states: States) -> AllowedLogProbs | SlotLogProbs:
        """Scores only the allowed actions and normalises over each state's: on the
        literature's fragment space the loss and the draw skip the dense ``[B, A]`` block
        and, kept by slot, the list of allowed pairs too (``benchmarks/RESULTS.md``)."""
        return self.allowed_log_probs_at(policy_inputs(self.env, states))

    def allowed_log_probs_at(self, inputs: PolicyInputs) -> AllowedLogProbs | SlotLogProbs:
        """:meth:`allowed_log_probs` of states given by their :func:`policy_inputs`."""
        readout = self.forward_policy.readout
        encoding = self.forward_policy.trunk(inputs.data)
        return readout.log_softmax(encoding, inputs.allowed, self.env.num_actions)
