"""Exact computation on environments whose states can be enumerated.

Everything here is dynamic programming over the whole state DAG: terminal
distributions of any policy (path-dependent ones by enumerating the paths), the
trajectory-balance-optimal forward policy under the uniform backward policy, and the
exact classifier (generator posterior, terminal posterior and each base's h-function
``Q_i(y | s)``, DESIGN §3). They are the ground truth the tests and benchmarks measure
learned models against.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from .action_log_probs import MASKED, AllowedLogProbs
from .composition import Composition, log_observation_likelihood
from .envs.base import Environment, States
from .memo import StatesMemo
from .policy import Policy, allowed_of, masked_log_softmax
from .sampler import PathPolicy, sample_terminal
from .segments import segment_logsumexp

_CHUNK = 4096
"""States per policy call while tabulating (bounds memory for large DAGs)."""

MAX_PATHS = 2_000_000
"""Most state paths :func:`terminal_distribution` enumerates for a path-dependent policy
(about a minute on one core); beyond, its law must be estimated by sampling."""


@dataclass
class StateGraph:
    """The enumerated DAG.

    Attributes:
        states: all ``S`` states reachable from ``s0`` (``s0`` first).
        index: state key -> row.
        mask: ``BoolTensor[S, A]``, allowed actions.
        child: ``LongTensor[S, A]``, the child row of each allowed non-stop action, else -1.
        terminal: ``LongTensor[S]``, row in ``env.terminal_states()`` of ``x = s``
            where stop is allowed, else -1.
        level: ``LongTensor[S]``, longest path length from ``s0`` (a topological order).
        num_terminals: ``X``, the number of terminal objects.
    """

    states: States
    index: dict[Hashable, int]
    mask: torch.Tensor
    child: torch.Tensor
    terminal: torch.Tensor
    level: torch.Tensor
    num_terminals: int

    def rows(self, env: Environment, states: States) -> torch.Tensor:
        """Row of each state in the enumerated graph: ``LongTensor[B]`` (CPU)."""
        return torch.tensor([self.index[k] for k in env.state_keys(states)], dtype=torch.long)

    def edges_by_level(self):
        """Yield ``(src, action, dst)`` LongTensors of non-stop edges, level by level."""
        src, action = (self.child >= 0).nonzero(as_tuple=True)
        dst = self.child[src, action]
        src_level = self.level[src]
        for lvl in range(int(self.level.max()) + 1):
            sel = src_level == lvl
            yield src[sel], action[sel], dst[sel]


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def state_graph(env: Environment) -> StateGraph:
    """Enumerate ``env``'s DAG forward from ``s0`` (cached per environment object)."""
    if env in _GRAPHS:
        return _GRAPHS[env]
    frontier = env.initial_states(1)
    keys: list[Hashable] = env.state_keys(frontier)
    index = {keys[0]: 0}
    batches, masks, children = [frontier], [], []
    while True:
        mask = env.forward_mask(frontier).cpu()
        move = mask.clone()
        move[:, env.stop_action] = False
        rows, actions = move.nonzero(as_tuple=True)
        child = torch.full(mask.shape, -1, dtype=torch.long)
        new_rows = []
        if len(rows):
            kids = env.step(env.index(frontier, rows.to(env.device)), actions.to(env.device))
            for j, key in enumerate(env.state_keys(kids)):
                if key not in index:
                    index[key] = len(index)
                    new_rows.append(j)
                child[rows[j], actions[j]] = index[key]
        masks.append(mask)
        children.append(child)
        if not new_rows:
            break
        frontier = env.index(kids, torch.tensor(new_rows, dtype=torch.long, device=env.device))
        batches.append(frontier)
    states = env.cat(batches)
    mask, child = torch.cat(masks), torch.cat(children)

    terminals = env.terminal_states()
    terminal_index = {key: i for i, key in enumerate(env.state_keys(terminals))}
    terminal = torch.full((len(index),), -1, dtype=torch.long)
    stop_rows = mask[:, env.stop_action].nonzero().squeeze(1)
    stop_keys = env.state_keys(env.index(states, stop_rows.to(env.device)))
    for row, key in zip(stop_rows.tolist(), stop_keys, strict=True):
        if key not in terminal_index:
            raise ValueError(f"state {key!r} can stop but is not among env.terminal_states()")
        terminal[row] = terminal_index[key]

    graph = StateGraph(states, index, mask, child, terminal, _levels(child), len(terminal_index))
    _GRAPHS[env] = graph
    return graph


def _levels(child: torch.Tensor) -> torch.Tensor:
    """Longest-path depth of every state from row 0, by Kahn's algorithm: ``[S]``."""
    num_states = child.shape[0]
    src, action = (child >= 0).nonzero(as_tuple=True)
    dst = child[src, action]
    indegree = torch.bincount(dst, minlength=num_states)
    level = torch.zeros(num_states, dtype=torch.long)
    order = torch.argsort(src, stable=True)
    src, dst = src[order], dst[order]
    starts = torch.searchsorted(src, torch.arange(num_states + 1))
    ready = [s for s in range(num_states) if indegree[s] == 0]
    visited = 0
    indegree = indegree.tolist()
    level_list = level.tolist()
    while ready:
        s = ready.pop()
        visited += 1
        for d in dst[starts[s] : starts[s + 1]].tolist():
            level_list[d] = max(level_list[d], level_list[s] + 1)
            indegree[d] -= 1
            if indegree[d] == 0:
                ready.append(d)
    if visited != num_states:
        raise ValueError("the environment's state graph has a cycle")
    return torch.tensor(level_list, dtype=torch.long)


def _tabulate(graph: StateGraph, policy: Policy) -> torch.Tensor:
    """``P_F(a | s)`` of ``policy`` at every state: ``float64 [S, A]`` (0 where masked)."""
    env = policy.env
    rows = []
    with torch.no_grad():
        for start in range(0, len(graph.index), _CHUNK):
            idx = torch.arange(start, min(start + _CHUNK, len(graph.index)), device=env.device)
            rows.append(policy.log_probs(env.index(graph.states, idx)).double().exp().cpu())
    probs = torch.cat(rows)
    return torch.where(graph.mask, probs, torch.zeros_like(probs))


def _visits(graph: StateGraph, probs: torch.Tensor) -> torch.Tensor:
    """Probability that a trajectory of the chain ``probs`` visits each state: ``[S]``."""
    visit = torch.zeros(len(graph.index), dtype=torch.float64)
    visit[0] = 1.0
    for src, action, dst in graph.edges_by_level():
        visit.index_add_(0, dst, visit[src] * probs[src, action])
    return visit


def _terminal_from_visits(graph: StateGraph, visit: torch.Tensor, probs: torch.Tensor, stop: int):
    """``p(x)`` aligned with ``env.terminal_states()``: ``float64 [X]``."""
    rows = (graph.terminal >= 0).nonzero().squeeze(1)
    dist = torch.zeros(graph.num_terminals, dtype=torch.float64)
    return dist.index_add_(0, graph.terminal[rows], visit[rows] * probs[rows, stop])


def terminal_distribution(env: Environment, policy: Policy | PathPolicy) -> torch.Tensor:
    """The exact terminal distribution of ``policy``, aligned with ``env.terminal_states()``.

    Returns ``float64 [X]`` summing to 1 (on CPU). A Markov policy is tabulated once and
    pushed forward state by state; a :class:`~gfncompose.sampler.PathPolicy` by
    enumerating every state path (see :func:`path_count`), at most :data:`MAX_PATHS`.
    """
    graph = state_graph(env)
    if isinstance(policy, PathPolicy):
        return _path_terminal_distribution(env, graph, policy)
    probs = _tabulate(graph, policy)
    return _terminal_from_visits(graph, _visits(graph, probs), probs, env.stop_action)


def visit_probabilities(env: Environment, policy: Policy) -> torch.Tensor:
    """Probability that a trajectory of the Markov ``policy`` visits each state of
    :func:`state_graph`: ``float64 [S]`` (``s0``: 1)."""
    graph = state_graph(env)
    return _visits(graph, _tabulate(graph, policy))


def sampled_distribution(
    env: Environment,
    policy: Policy | PathPolicy,
    n: int,
    batch_size: int = 1024,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The empirical law of ``n`` terminal objects sampled from ``policy``, aligned with
    ``env.terminal_states()``: ``float64 [X]``. The estimate to use where a path-dependent
    policy has too many paths to enumerate; report :func:`sampling_noise_l1` beside it."""
    index = {key: i for i, key in enumerate(env.state_keys(env.terminal_states()))}
    x = sample_terminal(policy, n, batch_size, generator)
    rows = torch.tensor([index[key] for key in env.state_keys(x)], dtype=torch.long)
    return torch.bincount(rows, minlength=len(index)).double() / n


def sampling_noise_l1(
    target: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> float:
    """L1 between ``target`` ``[X]`` and the empirical law of ``n`` exact draws from it: the
    floor under which the L1 of a :func:`sampled_distribution` of ``n`` says nothing."""
    draws = torch.multinomial(target.double(), n, replacement=True, generator=generator)
    empirical = torch.bincount(draws, minlength=len(target)).double() / n
    return float((empirical - target.double()).abs().sum())


def path_count(env: Environment) -> int:
    """Number of distinct state paths ``s_0 → … → s`` over every enumerated state ``s``."""
    graph = state_graph(env)
    src, action = (graph.child >= 0).nonzero(as_tuple=True)
    edges = torch.unique(torch.stack([src, graph.child[src, action]], 1), dim=0)
    paths = torch.zeros(len(graph.index), dtype=torch.float64)
    paths[0] = 1.0
    for lvl in range(int(graph.level.max()) + 1):
        sel = graph.level[edges[:, 0]] == lvl
        paths.index_add_(0, edges[sel, 1], paths[edges[sel, 0]])
    return int(paths.sum())


def _path_terminal_distribution(
    env: Environment, graph: StateGraph, policy: PathPolicy
) -> torch.Tensor:
    """Breadth-first over state paths, each carrying its last state's row, its context
    and its log-probability. Actions reaching the same child from one path are merged
    (their probabilities add), as :class:`~gfncompose.sampler.PathPolicy` allows: that
    keeps the count to state paths, which :func:`path_count` checks first."""
    count = path_count(env)
    if count > MAX_PATHS:
        raise ValueError(f"{count} state paths to enumerate, more than MAX_PATHS={MAX_PATHS}")
    num_states = len(graph.index)
    dist = torch.zeros(graph.num_terminals, dtype=torch.float64)
    rows = torch.zeros(1, dtype=torch.long)
    context = policy.initial_context(1)
    log_path = torch.zeros(1, dtype=torch.float64)
    while len(rows):
        keys, log_ps, contexts = [], [], []
        for start in range(0, len(rows), _CHUNK):
            idx = torch.arange(start, min(start + _CHUNK, len(rows)))
            path, action, log_step, moved = _moves(
                env, graph, policy, rows[idx], context[idx.to(context.device)], log_path[idx], dist
            )
            path = idx[path]
            keys.append(path * num_states + graph.child[rows[path], action])
            log_ps.append(log_path[path] + log_step)
            contexts.append(moved)
        key, log_p, moved = torch.cat(keys), torch.cat(log_ps), torch.cat(contexts)
        merged, inverse = torch.unique(key, return_inverse=True)
        first = torch.full((len(merged),), len(key), dtype=torch.long)
        first = first.scatter_reduce(0, inverse, torch.arange(len(key)), "amin")
        if not torch.allclose(moved, moved[first[inverse].to(moved.device)], atol=1e-5):
            raise ValueError("the policy's context depends on the action, not only the child")
        rows = merged % num_states
        log_path = segment_logsumexp(log_p, inverse, len(merged))
        context = moved[first.to(moved.device)]
    return dist


def _moves(env, graph, policy, rows, context, log_path, dist):
    """One step of :func:`_path_terminal_distribution` for paths ending at ``rows`` (``[P]``):
    adds their stopping mass to ``dist``; returns, per move of positive probability, the
    path (``LongTensor``, index into ``rows``), the action, ``log P(a | path)`` and the
    context after it."""
    states = env.index(graph.states, rows.to(env.device))
    with torch.no_grad():
        log_p = policy.log_probs(states, context).double().cpu()
    stopping = (graph.terminal[rows] >= 0).nonzero().squeeze(1)
    stop_mass = (log_path[stopping] + log_p[stopping, env.stop_action]).exp()
    dist.index_add_(0, graph.terminal[rows[stopping]], stop_mass)
    path, action = ((graph.child[rows] >= 0) & (log_p > MASKED)).nonzero(as_tuple=True)
    if not len(path):
        return path, action, log_p[path, action], context[:0]
    with torch.no_grad():
        moved = policy.next_context(
            env.index(states, path.to(env.device)),
            context[path.to(context.device)],
            action.to(env.device),
        )
    return path, action, log_p[path, action], moved


class TabularPolicy:
    """A forward policy given as a table over the enumerated states."""

    def __init__(self, env: Environment, log_probs: torch.Tensor):
        self.env = env
        self.graph = state_graph(env)
        self.table = log_probs.float().to(env.device)

    def log_probs(self, states: States) -> torch.Tensor:
        return self.table[self.graph.rows(self.env, states).to(self.env.device)]

    def allowed_log_probs(self, states: States) -> AllowedLogProbs:
        return allowed_of(self.log_probs(states), self.env.forward_mask(states))


def random_policy(env: Environment, generator: torch.Generator) -> TabularPolicy:
    """A tabular forward policy with logits ``2 · N(0, 1)`` drawn from ``generator``: an
    arbitrary base, which in general satisfies trajectory balance for no reward under
    the uniform ``P_B`` (what the claims "for any bases" are tested with)."""
    mask = state_graph(env).mask
    logits = 2 * torch.randn(mask.shape, generator=generator, dtype=torch.float64)
    return TabularPolicy(env, masked_log_softmax(logits, mask))


def optimal_policy(env: Environment, log_reward: torch.Tensor) -> TabularPolicy:
    """The forward policy that satisfies trajectory balance for ``R`` under the uniform ``P_B``.

    Args:
        log_reward: ``[X]``, ``log R(x)`` aligned with ``env.terminal_states()``.

    Flows are computed backward: ``F(s) = R(s)·[stop allowed] + Σ_{s'} F(s') P_B(s | s')``,
    and ``P_F(a | s) = F(s → s') / (k · F(s))`` when ``k`` allowed actions reach ``s'``.
    Its terminal distribution is exactly ``R / Z``.
    """
    graph = state_graph(env)
    log_reward = log_reward.double().cpu()
    num_states, num_actions = graph.mask.shape
    non_initial = env.index(graph.states, torch.arange(1, num_states, device=env.device))
    log_pb = torch.zeros(num_states, dtype=torch.float64)
    log_pb[1:] = env.log_backward(non_initial).double().cpu()
    multiplicity = _multiplicity(graph)
    log_flow = torch.full((num_states,), float("-inf"), dtype=torch.float64)
    log_edge = torch.full((num_states, num_actions), float("-inf"), dtype=torch.float64)
    stop_rows = (graph.terminal >= 0).nonzero().squeeze(1)
    log_edge[stop_rows, env.stop_action] = log_reward[graph.terminal[stop_rows]]
    levels = list(graph.edges_by_level())
    by_level = [graph.level == lvl for lvl in range(len(levels))]
    for lvl in reversed(range(len(levels))):
        src, action, dst = levels[lvl]
        log_edge[src, action] = log_flow[dst] + log_pb[dst] - multiplicity[src, action].log()
        rows = by_level[lvl].nonzero().squeeze(1)
        log_flow[rows] = torch.logsumexp(log_edge[rows], dim=1)
    table = (log_edge - log_flow[:, None]).masked_fill(~graph.mask, MASKED)
    return TabularPolicy(env, table)


def _multiplicity(graph: StateGraph) -> torch.Tensor:
    """For each allowed non-stop action, how many actions of its state reach the same child."""
    num_states = graph.child.shape[0]
    pair = graph.child + graph.child.shape[0] * torch.arange(num_states)[:, None]
    pair = torch.where(graph.child >= 0, pair, torch.full_like(pair, -1))
    flat = pair.flatten()
    valid = flat >= 0
    uniq, inverse, counts = torch.unique(flat[valid], return_inverse=True, return_counts=True)
    mult = torch.ones(flat.shape, dtype=torch.float64)
    mult[valid] = counts[inverse].double()
    return mult.view_as(graph.child)


def parent_counts(env: Environment) -> torch.Tensor:
    """Number of distinct parents of every enumerated state (row order of the graph): ``[S]``.

    Environments test their ``log_backward`` against ``-log`` of this.
    """
    graph = state_graph(env)
    src, action = (graph.child >= 0).nonzero(as_tuple=True)
    pairs = torch.unique(torch.stack([src, graph.child[src, action]], 1), dim=0)
    return torch.bincount(pairs[:, 1], minlength=len(graph.index))


class ExactClassifier:
    """The exact generator posterior and observation likelihoods of a set of bases.

    ``G(i | s) ∝ p_i(s)`` (visit probabilities), ``p(i | x) ∝ p_i(x)``, and for a
    composition each base's h-function ``Q_i(y | s) = Σ_x P^i(reach x | s) Π_k p(y_k | x)``,
    computed by backward DP with base ``i``'s own policy and cached per composition
    (DESIGN §3).
    """

    def __init__(self, env: Environment, bases: Mapping[str, Policy]):
        self.env = env
        self.base_names = tuple(bases)
        self.graph = state_graph(env)
        self._probs = {name: _tabulate(self.graph, policy) for name, policy in bases.items()}
        self._visits = {name: _visits(self.graph, p) for name, p in self._probs.items()}
        self._terminal = {
            name: _terminal_from_visits(self.graph, self._visits[name], p, env.stop_action)
            for name, p in self._probs.items()
        }
        self._log_q: dict[Composition, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._state_rows: StatesMemo[torch.Tensor] = StatesMemo()

    def _rows(self, states: States) -> torch.Tensor:
        return self._state_rows.get(states, lambda: self.graph.rows(self.env, states))

    def reusing(self) -> AbstractContextManager:
        """Within the block, each batch of states is looked up once."""
        return self._state_rows.active()

    def _terminal_rows(self, states: States) -> torch.Tensor:
        return self.graph.terminal[self._rows(states)]

    def log_generator_posterior(self, states: States, names: tuple[str, ...]) -> torch.Tensor:
        """``log G(i | s)`` over the bases ``names``: ``[B, len(names)]``."""
        visits = torch.stack([self._visits[n] for n in names], 1)[self._rows(states)]
        return _safe_log_normalise(visits.log()).float().to(self.env.device)

    def log_terminal_posterior(self, states: States, names: tuple[str, ...]) -> torch.Tensor:
        """``log p(i | x)`` (uniform prior) over ``names`` for terminal objects: ``[B, len]``."""
        p = torch.stack([self._terminal[n] for n in names], 1)[self._terminal_rows(states)]
        return _safe_log_normalise(p.log()).float().to(self.env.device)

    def _tables(self, composition: Composition):
        if composition not in self._log_q:
            self._log_q[composition] = self._h_function(composition)
        return self._log_q[composition]

    def _h_function(self, composition: Composition):
        """``log Q_i(y | s)`` ``[S, m]``, ``log Q_i(y | child of a)`` ``[S, A, m]`` (stop:
        ``Q_term``) and ``log Q_term(y | x)`` ``[X]``, all float64."""
        graph, names = self.graph, composition.bases
        probs = torch.stack([self._probs[n] for n in names], dim=2)  # [S, A, m]
        p_term = torch.stack([self._terminal[n] for n in names], 1)
        q_term = log_observation_likelihood(p_term.log(), composition).exp()
        q_term = torch.nan_to_num(q_term, nan=0.0)
        q_state = torch.zeros(len(graph.index), len(names), dtype=torch.float64)
        q_action = torch.zeros(probs.shape, dtype=torch.float64)
        stop_rows = (graph.terminal >= 0).nonzero().squeeze(1)
        q_action[stop_rows, self.env.stop_action] = q_term[graph.terminal[stop_rows], None]
        levels = list(graph.edges_by_level())
        for lvl in reversed(range(len(levels))):
            src, action, dst = levels[lvl]
            q_action[src, action] = q_state[dst]
            rows = (graph.level == lvl).nonzero().squeeze(1)
            q_state[rows] = (probs[rows] * q_action[rows]).sum(1)
        return q_state.log(), q_action.log(), q_term.log()

    def log_Q_bases(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Q_i(y | s)`` per base of ``composition``: ``[B, m]``."""
        return self._tables(composition)[0][self._rows(states)].float().to(self.env.device)

    def log_Q_pairs(
        self, states: States, rows: torch.Tensor, actions: torch.Tensor, composition: Composition
    ) -> torch.Tensor:
        """``log Q_i(y | s')`` for the child ``s'`` of ``actions[k]`` in ``states[rows[k]]``
        (stop: ``Q_term`` in every column): ``[K, m]``."""
        table = self._tables(composition)[1]
        return table[self._rows(states)[rows.cpu()], actions.cpu()].float().to(self.env.device)

    def log_Q_terminal(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Π_k p(y_k | x)`` for terminal objects ``x``: ``[B]``."""
        return self._tables(composition)[2][self._terminal_rows(states)].float().to(self.env.device)

    def terminal_distributions(self) -> dict[str, torch.Tensor]:
        """``{name: p_i}``, each ``float64 [X]`` aligned with ``env.terminal_states()``."""
        return dict(self._terminal)


def _safe_log_normalise(log_p: torch.Tensor) -> torch.Tensor:
    """Row-wise log-normalise; rows with no mass (never visited) become uniform."""
    empty = torch.isinf(log_p).all(1, keepdim=True)
    return torch.log_softmax(torch.where(empty, torch.zeros_like(log_p), log_p), dim=1)


def classifier(env: Environment, bases: Mapping[str, Policy]) -> ExactClassifier:
    """The exact classifier of ``bases`` on ``env`` (DESIGN §3)."""
    return ExactClassifier(env, bases)
