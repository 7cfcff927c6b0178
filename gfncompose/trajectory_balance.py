"""Trajectory balance (Malkin et al. 2022): the loss of a base GFlowNet over given trajectories.

The loss is valid off-policy: the trajectories may come from any policy with full support
(exploration, replay, a batch sampled one step earlier or in another process), since its
minimiser, the balanced policy, does not depend on where the trajectories came from.

It reads trajectories in one of two forms: :class:`~gfncompose.sampler.Trajectories` (states
of this process's environment: :func:`trajectory_balance_loss`) or a :class:`TrainingBatch`
(tensors only, what the environment made of those states, shippable from a sampling process:
:func:`batch_trajectory_balance_loss`). Both sum ``log P_F`` with :func:`sum_log_pf` and
apply the equation :func:`trajectory_balance`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from .action_log_probs import AllowedLogProbs, SlotLogProbs, transition_log_probs
from .envs.base import Environment, States
from .nets.base import Pairs
from .policy import GFlowNet, PolicyInputs, policy_inputs
from .sampler import Trajectories

LogReward = Callable[[States], torch.Tensor]
"""Maps ``B`` terminal objects to ``log R(x)``: ``[B]``."""


class TrainingBatch(NamedTuple):
    """``B`` trajectories of ``N`` steps as the trajectory-balance loss reads them, tensors only.

    Attributes:
        inputs: the policy inputs of the ``N`` steps' states (:func:`policy_inputs`).
        transitions: ``(rows, actions)``, ``LongTensor[K]`` each: the allowed actions that
            make each step's child (``env.transition_actions``), rows into the ``N`` steps.
        trajectory: ``LongTensor[N]``, which trajectory each step belongs to.
        log_pb: ``[B]``, ``Σ_t log P_B`` of each trajectory.
        log_reward: ``[B]``, ``log R(x)`` of each trajectory's terminal object.
    """

    inputs: PolicyInputs
    transitions: Pairs
    trajectory: torch.Tensor
    log_pb: torch.Tensor
    log_reward: torch.Tensor

    def to(self, device: torch.device) -> TrainingBatch:
        """The same batch on ``device``."""
        return TrainingBatch(
            self.inputs.to(device),
            (self.transitions[0].to(device), self.transitions[1].to(device)),
            self.trajectory.to(device),
            self.log_pb.to(device),
            self.log_reward.to(device),
        )


def training_batch(
    env: Environment, trajectories: Trajectories, log_reward: LogReward
) -> TrainingBatch:
    """The environment's share of the loss of ``trajectories``: every tensor the learner
    needs, so that it needs no states (and no environment caches) of its own."""
    states = trajectories.states
    return TrainingBatch(
        policy_inputs(env, states),
        env.transition_actions(states, trajectories.actions),
        trajectories.trajectory,
        trajectory_log_pb(env, trajectories),
        log_reward(trajectories.terminal),
    )


def sum_log_pf(
    allowed: AllowedLogProbs | SlotLogProbs,
    transitions: Pairs,
    trajectory: torch.Tensor,
    num_trajectories: int,
) -> torch.Tensor:
    """``Σ_t log P_F(s_{t+1} | s_t)`` per trajectory, ``[B]``: each step's transition sums the
    actions that make its child (``transitions``), looked up in ``allowed``."""
    per_step = transition_log_probs(allowed, transitions, len(trajectory))
    total = torch.zeros(num_trajectories, device=per_step.device)
    return total.index_add(0, trajectory, per_step)


def trajectory_log_pf(gfn: GFlowNet, trajectories: Trajectories) -> torch.Tensor:
    """``Σ_t log P_F(s_{t+1} | s_t)`` per trajectory, ``[B]``, in one batched pass over the
    allowed actions only (:meth:`GFlowNet.allowed_log_probs`)."""
    env, states = gfn.env, trajectories.states
    return sum_log_pf(
        gfn.allowed_log_probs(states),
        env.transition_actions(states, trajectories.actions),
        trajectories.trajectory,
        len(trajectories.length),
    )


def trajectory_log_pb(env: Environment, trajectories: Trajectories) -> torch.Tensor:
    """``Σ_t log P_B(s_t | s_{t+1})`` per trajectory under the environment's uniform backward
    policy, ``[B]``: every step's state but a trajectory's first is the child of the step
    before it (the stop transition adds 0). Computed for losses only, so sampling molecules
    never counts their parents."""
    later = (~trajectories.is_first).nonzero().squeeze(1)
    log_pb = env.log_backward(env.index(trajectories.states, later))
    total = torch.zeros(len(trajectories.length), device=log_pb.device)
    return total.index_add(0, trajectories.trajectory[later], log_pb)


def trajectory_balance(
    log_Z: torch.Tensor,
    log_pf: torch.Tensor,
    log_reward: torch.Tensor,
    log_pb: torch.Tensor,
    beta: float = 1.0,
) -> torch.Tensor:
    """Mean over trajectories of ``(log Z + Σ log P_F − β log R(x) − Σ log P_B)²``; each of
    ``log_pf``, ``log_reward``, ``log_pb`` is ``[B]``."""
    return (log_Z + log_pf - beta * log_reward - log_pb).pow(2).mean()


def trajectory_balance_loss(
    gfn: GFlowNet, trajectories: Trajectories, log_reward: LogReward, beta: float = 1.0
) -> torch.Tensor:
    """:func:`trajectory_balance` of ``trajectories`` under ``gfn``.

    ``log_reward`` is called on the terminal objects after the ``log P_F`` pass is
    queued: on a GPU the reward, computed on the CPU (RDKit), overlaps with it.
    """
    log_pf = trajectory_log_pf(gfn, trajectories)
    log_r = log_reward(trajectories.terminal)
    log_pb = trajectory_log_pb(gfn.env, trajectories)
    return trajectory_balance(gfn.log_Z, log_pf, log_r, log_pb, beta)


def batch_trajectory_balance_loss(
    gfn: GFlowNet, batch: TrainingBatch, beta: float = 1.0
) -> torch.Tensor:
    """:func:`trajectory_balance` of a :class:`TrainingBatch` under ``gfn`` (equal to
    :func:`trajectory_balance_loss` of the trajectories it was made of)."""
    log_pf = sum_log_pf(
        gfn.allowed_log_probs_at(batch.inputs),
        batch.transitions,
        batch.trajectory,
        len(batch.log_pb),
    )
    return trajectory_balance(gfn.log_Z, log_pf, batch.log_reward, batch.log_pb, beta)
