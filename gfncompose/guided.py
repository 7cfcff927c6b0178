"""The guided policy: sample a composition by steering the mixture of bases (DESIGN §3).

Sampling follows one trajectory ``τ = (s_0 … s_t)``. Under the mixture (a base drawn
uniformly, then its forward policy) the posterior of the base given the path is exactly

    w_i(τ) ∝ Π_{t'<t} P_F^i(s_{t'+1} | s_{t'})      (transition probabilities),

and the guided step is

    P̃(a | τ) ∝ Σ_i w_i(τ) · P_F^i(a | s_t) · Q_i(y | s')    (stop: Q_term(y | x = s_t))

with ``Q_i(y | s) = E_{x ~ p_i(· | s)} Π_k p(y_k | x)``, base ``i``'s own h-function.
With exact ``Q_i`` the normaliser is ``Σ_i w_i Q_i(y | s_t)`` and the product of the
steps telescopes to ``(1/m) Σ_i P_F^i(τ) Π_k p(y_k | x)``: the terminal law is
``p_M(x) Π_k p(y_k | x)`` for any bases, trained to balance or not, with no generator
posterior ``G(i | s)`` at all. A learned ``Q_i`` is not exactly consistent, hence the
renormalisation over the allowed actions. The sampler carries ``log w`` as a ``[B, m]``
context (:class:`~gfncompose.sampler.PathPolicy`), updated from the bases'
log-probabilities it computes anyway.

Sampling needs ``Q`` only where it lands: every ``Q_i(y | s') ≤ M``, the largest value the
composition's likelihood can take (``1/4`` for the harmonic mean, see
:func:`~gfncompose.composition.log_likelihood_bound`). Drawing ``a`` from the path mixture
``Σ_i w_i P_F^i(· | s)`` and accepting it with probability ``Σ_i P(i | a, τ) Q_i(y | s') / M``,
``P(i | a, τ) ∝ w_i P_F^i(a | s)``, gives exactly ``P̃(· | τ)`` (rejection sampling; the base
is summed out rather than drawn). A state then scores a few proposed actions instead of
every allowed one (hundreds of children in the fragment environment); states that reject
every proposal of :data:`PROPOSAL_ROUNDS` draw from the dense ``P̃``, so the law is exact
whatever the acceptance rate.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from .action_log_probs import (
    MASKED,
    AllowedLogProbs,
    SlotLogProbs,
    mixture,
    transition_log_probs,
)
from .categorical import sample_actions
from .composition import Composition, log_likelihood_bound
from .envs.base import States
from .errors import UserError
from .memo import StatesMemo
from .policy import Policy

GuidanceMode = Literal["successors", "action_head"]
GUIDANCE_MODES: tuple[GuidanceMode, ...] = typing.get_args(GuidanceMode)
DEFAULT_MODE: GuidanceMode = "action_head"
"""The library's and the campaigns' default: as exact as ``successors`` with exact heads, and
faster on molecules (one classifier pass per state instead of one per child scored)."""


class CompositionClassifier(Protocol):
    """What guidance needs from a classifier (exact or learned): per-base ``Q_i``, where
    ``m`` is the number of the composition's bases, in its order."""

    base_names: tuple[str, ...]

    def log_Q_bases(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Q_i(y | s)`` per base ``i`` of ``composition``: ``[B, m]``."""
        ...

    def log_Q_pairs(
        self, states: States, rows: torch.Tensor, actions: torch.Tensor, composition: Composition
    ) -> torch.Tensor:
        """``log Q_i(y | step(s_rows[k], actions[k]))`` (stop: ``log Q_term`` in every column)
        for allowed pairs given as ``LongTensor[K]`` each, from one pass on ``states``:
        ``[K, m]``."""
        ...

    def log_Q_terminal(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Π_k p(y_k | x)`` at terminal objects: ``[B]``."""
        ...

    def reusing(self) -> AbstractContextManager:
        """A block within which work per batch of states (an encoding) is done once."""
        ...


PROPOSAL_ROUNDS = (2, 8, 32, 128)
"""Proposals per still-undecided state in each round of :meth:`GuidedPolicy.sample_actions`."""

BOUND_SLACK = 1e-4
"""Rounding allowed above the bound (float32 ``log Q`` at a bound of 0); an acceptance
probability above 1 by this much is taken as 1."""

PAIRS_PER_CALL = {"action_head": 1 << 15, "successors": 1 << 11}
"""Most (state, action) pairs scored by one classifier call, per mode: bounds memory at any
batch size. In ``successors`` mode each pair is a child graph to encode: every child of 34
states of the literature's fragment space (52,315) peaked at 9.4 GB in calls of 32,768 and at
1.6 GB in calls of 2,048, which also ran 1.7x faster (``benchmarks/RESULTS.md``)."""


@dataclass
class ProposalStats:
    """Counts of :meth:`GuidedPolicy.sample_actions` since construction.

    Attributes:
        decisions: actions sampled; proposals: (state, action) pairs scored, each distinct
        pair of a round once; dense: decisions that fell back to the dense ``P̃``.
    """

    decisions: int = 0
    proposals: int = 0
    dense: int = 0


class GuidedPolicy:
    """Forward policy of ``composition`` built from base policies and a classifier.

    A :class:`~gfncompose.sampler.PathPolicy`: its context is ``log w(τ)``, ``[B, m]``,
    the log posterior of the composition's ``m`` bases given the path (module docstring).

    Args:
        bases: ``{name: policy}``; must contain every base of the composition.
        classifier: exact or learned, trained on (a superset of) those bases.
        composition: e.g. ``harmonic_mean("qed", "sa")``.
        mode: how ``Q_i(y | s')`` of a child is read. ``"successors"`` builds the child
            and evaluates the classifier on it (the paper's method); ``"action_head"``
            reads it from the classifier's action head on ``s``, without building it.
    """

    def __init__(
        self,
        bases: Mapping[str, Policy],
        classifier: CompositionClassifier,
        composition: Composition,
        mode: GuidanceMode = DEFAULT_MODE,
    ):
        missing = [n for n in composition.bases if n not in bases]
        unknown = [n for n in composition.bases if n not in classifier.base_names]
        if missing or unknown:
            raise UserError(
                f"{composition.label}: bases {missing or unknown} are not "
                f"{'among the policies given' if missing else 'known to the classifier'}"
            )
        if mode not in GUIDANCE_MODES:
            raise UserError(f"guidance mode must be one of {GUIDANCE_MODES}, got {mode!r}")
        self.bases = [bases[name] for name in composition.bases]
        self.env = self.bases[0].env
        self.classifier = classifier
        self.composition = composition
        self.mode = mode
        self.stats = ProposalStats()
        self.log_bound = log_likelihood_bound(composition) if composition.y else 0.0
        self._base_log_probs: StatesMemo[list[torch.Tensor]] = StatesMemo()

    def initial_context(self, n: int) -> torch.Tensor:
        """``log w`` at ``s_0``: the uniform prior over the bases, ``[n, m]``."""
        m = len(self.bases)
        return torch.full((n, m), -math.log(m), device=self.env.device)

    def base_log_probs(self, states: States) -> list[AllowedLogProbs | SlotLogProbs]:
        """``log P_F^i(a | s)`` of each base at the allowed actions (computed once per batch of
        states within :meth:`sample_step`)."""
        return self._base_log_probs.get(
            states, lambda: [base.allowed_log_probs(states) for base in self.bases]
        )

    def next_context(
        self, states: States, context: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """``log w`` after ``actions``: ``log_softmax(log w + log P_F^i(s' | s))``, ``[B, m]``.

        Transition probabilities (every action reaching the same child counts, from
        ``env.transition_actions``), so ``w`` is the posterior given the states visited.
        """
        transitions = self.env.transition_actions(states, actions)
        log_step = [
            transition_log_probs(log_pf, transitions, len(actions))
            for log_pf in self.base_log_probs(states)
        ]
        return torch.log_softmax(context + torch.stack(log_step, dim=1), dim=1)

    def _dense_base_log_probs(self, states: States) -> list[torch.Tensor]:
        """``log P_F^i(a | s)`` of each base, dense: ``m`` tensors ``[B, A]``."""
        return [base.log_probs(states) for base in self.bases]

    @staticmethod
    def _log_joint(log_pf: list[torch.Tensor], context: torch.Tensor) -> torch.Tensor:
        """``log w_i + log P_F^i(a | s)`` from each base's dense ``[B, A]``: ``[B, A, m]``."""
        return torch.stack([w[:, None] + lp for w, lp in zip(context.T, log_pf, strict=True)], 2)

    def log_Q_pairs(
        self, states: States, rows: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """``log Q_i(y | step(s_rows[k], actions[k]))``, stop: ``log Q_term(y | x = s)``, for
        allowed pairs (``LongTensor[K]`` each): ``[K, m]``, in calls of at most
        :data:`PAIRS_PER_CALL` pairs."""
        out = torch.empty(len(rows), len(self.bases), device=rows.device)
        per_call = PAIRS_PER_CALL[self.mode]
        for start in range(0, len(rows), per_call):
            part = slice(start, start + per_call)
            out[part] = self._score(states, rows[part], actions[part])
        return out

    def _score(self, states: States, rows: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.mode == "action_head":
            return self.classifier.log_Q_pairs(states, rows, actions, self.composition)
        env, classifier, composition = self.env, self.classifier, self.composition
        out = torch.empty(len(rows), len(self.bases), device=rows.device)
        stop = actions == env.stop_action
        k = stop.nonzero().squeeze(1)
        if len(k):
            terminal = env.index(states, rows[k])
            out[k] = classifier.log_Q_terminal(terminal, composition)[:, None]
        k = (~stop).nonzero().squeeze(1)
        if len(k):
            children = env.step(env.index(states, rows[k]), actions[k])
            out[k] = classifier.log_Q_bases(children, composition)
        return out

    def log_guidance(self, states: States) -> torch.Tensor:
        """``log Q_i(y | child)`` per action (stop: ``Q_term``), ``-inf`` where masked:
        ``[B, A, m]``."""
        mask = self.env.forward_mask(states)
        rows, actions = mask.nonzero(as_tuple=True)
        log_q = torch.full((*mask.shape, len(self.bases)), MASKED, device=mask.device)
        log_q[rows, actions] = self.log_Q_pairs(states, rows, actions)
        return log_q

    def log_probs(self, states: States, context: torch.Tensor) -> torch.Tensor:
        """``log P̃(a | τ)`` given ``log w(τ)`` ``[B, m]``: ``[B, A]``, renormalised over
        allowed actions."""
        log_joint = self._log_joint(self._dense_base_log_probs(states), context)
        if not self.composition.y:
            return torch.logsumexp(log_joint, dim=2)
        return self._guide(log_joint, self.log_guidance(states))

    @staticmethod
    def _guide(log_joint: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        """``log_softmax_a log Σ_i exp(log_joint + log_q)`` from two ``[B, A, m]``: ``[B, A]``."""
        logits = torch.logsumexp(log_joint + log_q, dim=2)
        # A path whose every continuation has Q = 0 is never taken under guidance; fall
        # back to the path mixture there so that the policy stays a distribution.
        dead = torch.isinf(logits).all(dim=1, keepdim=True)
        return torch.log_softmax(torch.where(dead, torch.logsumexp(log_joint, 2), logits), dim=1)

    def _reusing(self) -> ExitStack:
        stack = ExitStack()
        stack.enter_context(self.classifier.reusing())
        stack.enter_context(self._base_log_probs.active())
        return stack

    @torch.no_grad()
    def sample_step(
        self, states: States, context: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One action per state drawn from ``P̃(· | τ)`` by rejection, ``LongTensor[B]``, and
        ``log w`` after it, ``[B, m]``; the bases' policies run once for both.

        Round ``r`` proposes ``PROPOSAL_ROUNDS[r]`` actions from the path mixture for
        each state still undecided and accepts each with probability
        ``Σ_i P(i | a, τ) Q_i(y | step(s, a)) / M``; the first accepted proposal is the
        state's action. States that accept none draw from the dense :meth:`log_probs`.
        """
        with self._reusing():
            actions = self._sample_actions(states, context, generator)
            return actions, self.next_context(states, context, actions)

    def _sample_actions(
        self, states: States, context: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        log_pf = self.base_log_probs(states)
        log_mix = mixture(log_pf, context)
        num_states, num_actions, device = len(context), self.env.num_actions, context.device
        self.stats.decisions += num_states
        if not self.composition.y:
            return log_mix.draw(generator=generator)[:, 0]
        chosen = torch.full((num_states,), -1, dtype=torch.long, device=device)
        pending = torch.arange(num_states, device=device)
        # Q_i depends on (s, a) only, not on the path: equal states (all of them at s0)
        # share their scores, each (state, action) is scored once
        index: dict = {}
        ids = [index.setdefault(key, len(index)) for key in self.env.state_keys(states)]
        state_id = torch.tensor(ids, device=device)
        representative = torch.empty(len(index), dtype=torch.long, device=device)
        representative[state_id] = pending
        for k in PROPOSAL_ROUNDS:
            rows = pending.repeat_interleave(k)
            proposed = log_mix.index(pending).draw(samples=k, generator=generator).flatten()
            pair, inverse = torch.unique(
                state_id[rows] * num_actions + proposed, return_inverse=True
            )
            self.stats.proposals += len(pair)
            scores = self.log_Q_pairs(
                states, representative[pair // num_actions], pair % num_actions
            )
            if (scores > self.log_bound + BOUND_SLACK).any():
                raise AssertionError(f"Q above its bound {self.log_bound:.4g}: law not exact")
            # P(i | a, τ) = w_i P_F^i(a | s) / Σ_j w_j P_F^j(a | s)
            log_posterior = (
                torch.stack(
                    [context[rows, i] + lp.at(rows, proposed) for i, lp in enumerate(log_pf)], dim=1
                )
                - log_mix.at(rows, proposed)[:, None]
            )
            log_accept = torch.logsumexp(log_posterior + scores[inverse], dim=1).view(-1, k)
            uniform = torch.rand(log_accept.shape, device=device, generator=generator)
            accept = uniform.log() < log_accept - self.log_bound
            decided = accept.any(1)
            first = accept.to(torch.uint8).argmax(1)
            chosen[pending[decided]] = proposed.view(-1, k)[decided, first[decided]]
            pending = pending[~decided]
            if not len(pending):
                return chosen
        self.stats.dense += len(pending)
        distinct, inverse = torch.unique(state_id[pending], return_inverse=True)
        undecided = self.env.index(states, representative[distinct])
        log_pf = [lp[inverse] for lp in self._dense_base_log_probs(undecided)]
        log_joint = self._log_joint(log_pf, context[pending])
        log_q = self.log_guidance(undecided)[inverse]
        chosen[pending] = sample_actions(self._guide(log_joint, log_q), generator)
        return chosen
