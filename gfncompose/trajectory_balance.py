"""Trajectory balance (Malkin et al. 2022): the loss of a base GFlowNet over given trajectories.

The loss is valid off-policy: the trajectories may come from any policy with full support
(exploration, replay, a batch sampled one step earlier), since its minimiser, the balanced
policy, does not depend on where the trajectories came from.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .envs.base import States
from .policy import GFlowNet
from .sampler import Trajectories
from .segments import segment_logsumexp

LogReward = Callable[[States], torch.Tensor]
"""Maps ``B`` terminal objects to ``log R(x)``: ``[B]``."""


def trajectory_log_pf(gfn: GFlowNet, trajectories: Trajectories) -> torch.Tensor:
    """``Σ_t log P_F(s_{t+1} | s_t)`` per trajectory, ``[B]``, in one batched pass over the
    allowed actions only (:meth:`GFlowNet.allowed_log_probs`); each transition sums the
    actions that make its child (``env.transition_actions``)."""
    env, states = gfn.env, trajectories.states
    rows, actions = env.transition_actions(states, trajectories.actions)
    log_pf = gfn.allowed_log_probs(states).at(rows, actions, env.num_actions)
    per_step = segment_logsumexp(log_pf, rows, len(trajectories.actions))
    total = torch.zeros(len(trajectories.length), device=per_step.device)
    return total.index_add(0, trajectories.trajectory, per_step)


def trajectory_balance_loss(
    gfn: GFlowNet, trajectories: Trajectories, log_reward: LogReward, beta: float = 1.0
) -> torch.Tensor:
    """Mean over trajectories of ``(log Z + Σ log P_F − β log R(x) − Σ log P_B)²``.

    ``log_reward`` is called on the terminal objects after the ``log P_F`` pass is
    queued: on a GPU the reward, computed on the CPU (RDKit), overlaps with it.
    """
    log_pf = trajectory_log_pf(gfn, trajectories)
    log_r = log_reward(trajectories.terminal)
    return (gfn.log_Z + log_pf - beta * log_r - trajectories.log_pb).pow(2).mean()
