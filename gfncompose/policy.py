"""Forward policies: anything that gives ``log P_F(a | s)`` over the flat action space."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from .envs.base import Environment, States
from .nets import build_action_readout, build_trunk

MASKED = float("-inf")
"""Log-probability of a forbidden action: masked by ``-inf``, never by multiplying."""


@runtime_checkable
class Policy(Protocol):
    """A forward policy bound to its environment."""

    env: Environment

    def log_probs(self, states: States) -> torch.Tensor:
        """``log P_F(a | s)``: ``[B, A]``, ``-inf`` on forbidden actions, rows sum to 1."""
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


class ForwardPolicy(nn.Module):
    """A trunk plus a one-channel action readout: ``logits [B, A]`` for ``env``."""

    def __init__(self, env: Environment, hidden: int = 256, num_layers: int = 2):
        super().__init__()
        self.trunk = build_trunk(env, hidden, num_layers)
        self.readout = build_action_readout(env, hidden, 1)

    def forward(self, data) -> torch.Tensor:
        return self.readout(self.trunk(data)).squeeze(-1)


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
