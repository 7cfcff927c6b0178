"""Batched trajectory sampling from any forward policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from .envs.base import Environment, States
from .policy import AllowedLogProbs, Policy
from .segments import row_starts


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


def explore(probs: torch.Tensor, rows: torch.Tensor, n: int, epsilon: float) -> torch.Tensor:
    """``(1-ε) P_F + ε U`` at the allowed pairs of ``n`` states: ``probs`` ``[K]`` of the pairs
    in ``rows`` (``LongTensor[K]``, ascending, every allowed action of each state), ``U``
    uniform over each state's allowed actions: ``[K]``."""
    if epsilon == 0.0:
        return probs
    counts, _ = row_starts(rows, n)
    return (1.0 - epsilon) * probs + epsilon / counts[rows].to(probs.dtype)


def sample_weighted(
    weights: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One index per row of ``weights`` ``[B, A]`` (float64, ``≥ 0``, some ``> 0`` per row),
    drawn with probability proportional to its weight: ``LongTensor[B]``.

    Inverse CDF: the first ``a`` whose running sum ``C_a`` exceeds ``u · C_A``, ``u ~ U[0, 1)``,
    found by binary search. A weight of 0 is a flat step of ``C`` and never the first to
    exceed anything. Exact, and it draws ``B`` random numbers where Gumbel-max drew ``B · A``
    (the literature's fragment space has ~12,000 actions: that noise was 17% of a training
    step). ``generator``: the random stream (``None``: torch's global one).
    """
    cumulative = weights.cumsum(dim=1)
    total = cumulative[:, -1:]
    # u ≤ 1 − 2⁻⁵³, so u · total < total after rounding: the search ends at a weight > 0
    u = torch.rand(total.shape, generator=generator, dtype=total.dtype, device=total.device)
    return torch.searchsorted(cumulative, u * total, right=True).squeeze(1)


def sample_rows(
    weights: torch.Tensor,
    rows: torch.Tensor,
    n: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """For each of ``n`` rows, one position ``k`` among its values, drawn with probability
    proportional to ``weights[k]``: ``LongTensor[n]`` into ``[K]``.

    ``weights``: ``[K]`` float64, ``≥ 0``, some ``> 0`` in every row; ``rows``: ``LongTensor[K]``
    ascending. The rows are laid out as a zero-padded table as wide as the longest row and
    drawn by :func:`sample_weighted` (exact): on the literature's fragment space that table is
    a few hundred columns wide where the dense action space has ~12,000.
    """
    counts, starts = row_starts(rows, n)
    column = torch.arange(len(rows), device=rows.device) - starts[rows]
    table = weights.new_zeros(n, int(counts.max()))
    table[rows, column] = weights
    return starts + sample_weighted(table, generator)


def sample_actions(
    log_probs: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One action per row of ``log_probs`` ``[B, A]`` (``-inf`` never drawn): ``LongTensor[B]``
    (:func:`sample_weighted` of ``exp(log p − max)``)."""
    return sample_weighted(
        (log_probs - log_probs.amax(dim=1, keepdim=True)).double().exp(), generator
    )


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
) -> tuple[torch.Tensor, AllowedLogProbs]:
    """One action per state from ``policy`` explored with ``epsilon``: ``LongTensor[B]``,
    drawn over each state's allowed actions only (:func:`explore`, :func:`sample_rows`), and
    the policy's own :class:`~gfncompose.policy.AllowedLogProbs` it was drawn from."""
    allowed = policy.allowed_log_probs(states)
    n = int(allowed.rows[-1]) + 1  # every state allows some action
    probs = explore(allowed.log_probs.double().exp(), allowed.rows, n, epsilon)
    return allowed.actions[sample_rows(probs, allowed.rows, n, generator)], allowed


def taken_and_stop(
    env: Environment, allowed: AllowedLogProbs, actions: torch.Tensor
) -> torch.Tensor:
    """``[B, 2]``: the ``log P_F`` in ``allowed`` (of ``B`` states) of ``actions``
    (``LongTensor[B]``, one per state) and of stopping, per state."""
    rows = torch.arange(len(actions), device=actions.device)
    stop = torch.full_like(actions, env.stop_action)
    return torch.stack([allowed.at(rows, a, env.num_actions) for a in (actions, stop)], dim=1)


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
