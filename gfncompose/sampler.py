"""Batched trajectory sampling from any forward policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from .action_log_probs import AllowedLogProbs, SlotLogProbs
from .envs.base import Environment, States
from .policy import Policy


@dataclass
class Trajectories:
    """``B`` complete trajectories, stored flat over their ``N`` steps.

    Step ``t`` of trajectory ``b`` is the non-terminal state where an action was
    taken; the last step of each trajectory takes the stop action.

    Attributes:
        states: ``N`` states, grouped by trajectory, in order within each.
        actions: ``LongTensor[N]``, the action taken at each state.
        trajectory: ``LongTensor[N]``, which trajectory each step belongs to.
        terminal: the ``B`` terminal objects (the state each trajectory stopped in).
        length: ``LongTensor[B]``, number of steps (actions, stop included).
        step_log_pf: ``[N, 2]``, the sampled policy's ``log P_F`` (before exploration) of the
            action taken (column 0) and of stopping (column 1) at each step, as it drew them
            (no gradient); ``None`` for a :class:`PathPolicy`, whose draw does not compute them.
    """

    states: States
    actions: torch.Tensor
    trajectory: torch.Tensor
    terminal: States
    length: torch.Tensor
    step_log_pf: torch.Tensor | None

    @property
    def is_first(self) -> torch.Tensor:
        """``BoolTensor[N]``: the step is the first of its trajectory (its state is ``s_0``)."""
        first = torch.ones_like(self.trajectory, dtype=torch.bool)
        first[1:] = self.trajectory[1:] != self.trajectory[:-1]
        return first

    @property
    def is_stop(self) -> torch.Tensor:
        """``BoolTensor[N]``: the step is the last of its trajectory."""
        last = torch.ones_like(self.trajectory, dtype=torch.bool)
        last[:-1] = self.trajectory[1:] != self.trajectory[:-1]
        return last


@runtime_checkable
class PathPolicy(Protocol):
    """A forward policy whose step depends on the path ``τ = (s_0 … s_t)`` taken so far.

    The path enters through a per-trajectory context tensor ``[B, ...]`` that the
    sampler starts at ``s_0`` and carries along (e.g. the guided policy's posterior over
    its bases, :class:`~gfncompose.guided.GuidedPolicy`). The context must depend on the
    states visited only, not on which of several actions reaching the same child was
    taken: exact evaluation (:func:`~gfncompose.exact.terminal_distribution`) merges those.
    """

    env: Environment

    def initial_context(self, n: int) -> torch.Tensor:
        """The context of ``n`` trajectories at ``s_0``: ``[n, ...]``."""
        ...

    def log_probs(self, states: States, context: torch.Tensor) -> torch.Tensor:
        """``log P(a | τ)``: ``[B, A]``, ``-inf`` on forbidden actions, rows sum to 1."""
        ...

    def next_context(
        self, states: States, context: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """The context after ``actions`` (``LongTensor[B]``, allowed, non-stop): ``[B, ...]``."""
        ...

    def sample_step(
        self, states: States, context: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One action per state drawn from ``exp(log_probs(s, context))``, ``LongTensor[B]``,
        and the context after it (:meth:`next_context`; rows that stop: unspecified)."""
        ...


def draw_actions(
    policy: Policy,
    states: States,
    epsilon: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, AllowedLogProbs | SlotLogProbs]:
    """One action per state from ``policy`` explored with ``epsilon``: ``LongTensor[B]``,
    drawn over each state's allowed actions only, and the policy's own log-probabilities it
    was drawn from (:mod:`~gfncompose.action_log_probs`)."""
    allowed = policy.allowed_log_probs(states)
    return allowed.draw(epsilon, generator=generator)[:, 0], allowed


def taken_and_stop(
    env: Environment, allowed: AllowedLogProbs | SlotLogProbs, actions: torch.Tensor
) -> torch.Tensor:
    """``[B, 2]``: the ``log P_F`` in ``allowed`` (of ``B`` states) of ``actions``
    (``LongTensor[B]``, one per state) and of stopping, per state."""
    rows = torch.arange(len(actions), device=actions.device)
    stop = torch.full_like(actions, env.stop_action)
    return torch.stack([allowed.at(rows, a) for a in (actions, stop)], dim=1)


@torch.no_grad()
def sample_trajectories(
    policy: Policy | PathPolicy,
    n: int,
    epsilon: float = 0.0,
    generator: torch.Generator | None = None,
) -> Trajectories:
    """Sample ``n`` trajectories from ``s0``, all in lock-step batches.

    ``epsilon`` mixes in uniform random actions (exploration for off-policy
    trajectory balance; not for a :class:`PathPolicy`, which is only sampled from);
    ``generator`` is the random stream (``None``: torch's global one). No gradients:
    losses recompute ``log P_F`` in one pass.
    """
    env: Environment = policy.env
    path_policy = isinstance(policy, PathPolicy)
    if path_policy and epsilon != 0.0:
        raise ValueError("a path-dependent policy is sampled without exploration (epsilon 0)")
    context = policy.initial_context(n) if path_policy else None
    states = env.initial_states(n)
    active = torch.arange(n, device=env.device)
    length = torch.zeros(n, dtype=torch.long, device=env.device)
    step_states, step_actions, step_ids, log_pf_parts = [], [], [], []
    terminal_parts, terminal_ids = [], []
    while len(active):
        if path_policy:
            actions, context = policy.sample_step(states, context, generator)
        else:
            actions, allowed = draw_actions(policy, states, epsilon, generator)
            log_pf_parts.append(taken_and_stop(env, allowed, actions))
        step_states.append(states)
        step_actions.append(actions)
        step_ids.append(active)
        length[active] += 1
        stop = actions == env.stop_action
        if stop.any():
            stopped = stop.nonzero().squeeze(1)
            terminal_parts.append(env.index(states, stopped))
            terminal_ids.append(active[stopped])
        moving = (~stop).nonzero().squeeze(1)
        active = active[moving]
        states = env.step(env.index(states, moving), actions[moving])
        if path_policy:
            context = context[moving]
    ids = torch.cat(step_ids)
    order = torch.sort(ids, stable=True).indices
    terminal_order = torch.argsort(torch.cat(terminal_ids))
    return Trajectories(
        states=env.index(env.cat(step_states), order),
        actions=torch.cat(step_actions)[order],
        trajectory=ids[order],
        terminal=env.index(env.cat(terminal_parts), terminal_order),
        length=length,
        step_log_pf=None if path_policy else torch.cat(log_pf_parts)[order],
    )


@torch.no_grad()
def sample_terminal(
    policy: Policy | PathPolicy,
    n: int,
    batch_size: int = 1024,
    generator: torch.Generator | None = None,
) -> States:
    """``n`` terminal objects sampled from ``policy``, in chunks of ``batch_size``."""
    env = policy.env
    parts = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        parts.append(sample_trajectories(policy, size, generator=generator).terminal)
    return env.cat(parts)
