"""The guided policy: sample a composition by steering the mixture of bases (DESIGN §3).

    P̃(s' | s)    ∝ P_F^M(s' | s) · Q(y | s')
    P̃(stop | s)  ∝ P_F^M(stop | s) · Q_term(y | x = s)
    P_F^M(a | s) = Σ_i G(i | s) · P_F^i(a | s)

The division by ``Q(y | s)`` of the exact identity is a per-state constant, so
renormalising over the allowed actions (needed anyway, since a learned ``Q`` is
not exactly consistent) makes it unnecessary.

Sampling needs ``Q`` only where it lands: since ``Q(y | s') ≤ M``, the largest value
the composition's likelihood can take (``1/4`` for the harmonic mean, see
:func:`~gfncompose.composition.log_likelihood_bound`), drawing ``a ~ P_F^M(· | s)`` and
accepting it with probability ``Q(y | step(s, a)) / M`` gives exactly ``P̃(· | s)``
(rejection sampling with the mixture as proposal). A state
then scores a few proposed actions instead of every allowed one (hundreds of
children in the fragment environment); states that reject every proposal of
:data:`PROPOSAL_ROUNDS` draw from the dense ``P̃``, so the law is exact whatever the
acceptance rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from .composition import Composition, log_likelihood_bound
from .envs.base import States
from .errors import UserError
from .policy import MASKED, Policy
from .sampler import sample_actions

GuidanceMode = Literal["successors", "action_head"]


class CompositionClassifier(Protocol):
    """What guidance needs from a classifier (exact or learned)."""

    base_names: tuple[str, ...]

    def log_generator_posterior(self, states: States, names: tuple[str, ...]) -> torch.Tensor:
        """``log G(i | s)`` over ``names``: ``[B, len(names)]``."""
        ...

    def log_Q(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Q(y | s)``: ``[B]``."""
        ...

    def log_Q_pairs(
        self, states: States, rows: torch.Tensor, actions: torch.Tensor, composition: Composition
    ) -> torch.Tensor:
        """``log Q(y | step(s_rows[k], actions[k]))`` (stop: ``log Q_term``) for allowed
        pairs given as ``LongTensor[K]`` each, read from one pass on ``states``: ``[K]``."""
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

PAIRS_PER_CALL = 1 << 15
"""Most (state, action) pairs scored by one classifier call: bounds memory at any batch size
(in ``successors`` mode each pair is a child graph to encode)."""


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

    Args:
        bases: ``{name: policy}``; must contain every base of the composition.
        classifier: exact or learned, trained on (a superset of) those bases.
        composition: e.g. ``harmonic_mean("qed", "sa")``.
        mode: how ``Q(y | s')`` of a child is read. ``"successors"`` builds the child
            and evaluates the classifier on it (the paper's method); ``"action_head"``
            reads it from the classifier's action head on ``s``, without building it.
    """

    def __init__(
        self,
        bases: Mapping[str, Policy],
        classifier: CompositionClassifier,
        composition: Composition,
        mode: GuidanceMode = "successors",
    ):
        missing = [n for n in composition.bases if n not in bases]
        unknown = [n for n in composition.bases if n not in classifier.base_names]
        if missing or unknown:
            raise UserError(
                f"{composition.label}: bases {missing or unknown} are not "
                f"{'among the policies given' if missing else 'known to the classifier'}"
            )
        if mode not in ("successors", "action_head"):
            raise UserError(f"guidance mode must be 'successors' or 'action_head', got {mode!r}")
        self.bases = {name: bases[name] for name in composition.bases}
        self.env = next(iter(self.bases.values())).env
        self.classifier = classifier
        self.composition = composition
        self.mode = mode
        self.stats = ProposalStats()
        self.log_bound = log_likelihood_bound(composition) if composition.y else 0.0

    def log_mixture_probs(self, states: States) -> torch.Tensor:
        """``log P_F^M(a | s) = log Σ_i G(i | s) P_F^i(a | s)``: ``[B, A]``."""
        names = self.composition.bases
        log_g = self.classifier.log_generator_posterior(states, names)
        log_mix = log_g[:, :1] + self.bases[names[0]].log_probs(states)
        for i, name in enumerate(names[1:], start=1):  # 4x faster than logsumexp over a stack
            term = log_g[:, i, None] + self.bases[name].log_probs(states)
            log_mix = torch.logaddexp(log_mix, term)
        return log_mix

    def log_Q_pairs(
        self, states: States, rows: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """``log Q(y | step(s_rows[k], actions[k]))``, stop: ``log Q_term(y | x = s)``, for
        allowed pairs (``LongTensor[K]`` each): ``[K]``, in calls of at most
        :data:`PAIRS_PER_CALL` pairs."""
        out = torch.empty(len(rows), device=rows.device)
        for start in range(0, len(rows), PAIRS_PER_CALL):
            part = slice(start, start + PAIRS_PER_CALL)
            out[part] = self._score(states, rows[part], actions[part])
        return out

    def _score(self, states: States, rows: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.mode == "action_head":
            return self.classifier.log_Q_pairs(states, rows, actions, self.composition)
        env, classifier, composition = self.env, self.classifier, self.composition
        out = torch.empty(len(rows), device=rows.device)
        stop = actions == env.stop_action
        k = stop.nonzero().squeeze(1)
        if len(k):
            out[k] = classifier.log_Q_terminal(env.index(states, rows[k]), composition)
        k = (~stop).nonzero().squeeze(1)
        if len(k):
            children = env.step(env.index(states, rows[k]), actions[k])
            out[k] = classifier.log_Q(children, composition)
        return out

    def log_guidance(self, states: States) -> torch.Tensor:
        """``log Q(y | child)`` per action (stop: ``Q_term``), ``-inf`` where masked: ``[B, A]``."""
        mask = self.env.forward_mask(states)
        rows, actions = mask.nonzero(as_tuple=True)
        log_q = torch.full(mask.shape, MASKED, device=mask.device)
        log_q[rows, actions] = self.log_Q_pairs(states, rows, actions)
        return log_q

    def log_probs(self, states: States) -> torch.Tensor:
        """``log P̃(a | s)``: ``[B, A]``, renormalised over allowed actions."""
        log_mix = self.log_mixture_probs(states)
        if not self.composition.y:
            return log_mix
        return self._guide(log_mix, self.log_guidance(states))

    @staticmethod
    def _guide(log_mix: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        logits = log_mix + log_q
        # A state whose every continuation has Q = 0 is never reached under guidance;
        # fall back to the mixture there so the policy stays a distribution.
        dead = torch.isinf(logits).all(dim=1, keepdim=True)
        return torch.log_softmax(torch.where(dead, log_mix, logits), dim=1)

    @torch.no_grad()
    def sample_actions(self, states: States) -> torch.Tensor:
        """One action per state, drawn from ``P̃(· | s)`` by rejection: ``LongTensor[B]``.

        Round ``r`` proposes ``PROPOSAL_ROUNDS[r]`` actions ``a ~ P_F^M(· | s)`` for each
        state still undecided and accepts each with probability ``Q(y | step(s, a)) / M``;
        the first accepted proposal is the state's action. States that accept none
        draw from the dense :meth:`log_probs`.
        """
        with self.classifier.reusing():
            return self._sample_actions(states)

    def _sample_actions(self, states: States) -> torch.Tensor:
        log_mix = self.log_mixture_probs(states)
        num_states = len(log_mix)
        self.stats.decisions += num_states
        if not self.composition.y:
            return sample_actions(log_mix)
        device, num_actions = log_mix.device, log_mix.shape[1]
        cdf = log_mix.double().exp_().cumsum_(1)  # rows: the undecided states, ``pending``
        chosen = torch.full((num_states,), -1, dtype=torch.long, device=device)
        pending = torch.arange(num_states, device=device)
        # equal states (all of them at s0) share their scores: score each (state, action) once
        index: dict = {}
        ids = [index.setdefault(key, len(index)) for key in self.env.state_keys(states)]
        state_id = torch.tensor(ids, device=device)
        representative = torch.empty(len(index), dtype=torch.long, device=device)
        representative[state_id] = pending
        for k in PROPOSAL_ROUNDS:
            u = torch.rand(len(pending), k, dtype=torch.float64, device=device) * cdf[:, -1:]
            proposed = torch.searchsorted(cdf, u, right=True).clamp_(max=num_actions - 1)
            rows = pending[:, None].expand_as(proposed)
            # a uniform can round up to the total and land past the last allowed action
            allowed = log_mix[rows, proposed] > MASKED
            pair, inverse = torch.unique(
                (state_id[rows] * num_actions + proposed)[allowed], return_inverse=True
            )
            self.stats.proposals += len(pair)
            scores = self.log_Q_pairs(
                states, representative[pair // num_actions], pair % num_actions
            )
            log_q = torch.full(proposed.shape, MASKED, device=device)
            log_q[allowed] = scores[inverse]
            if (log_q > self.log_bound + BOUND_SLACK).any():
                raise AssertionError(f"Q above its bound {self.log_bound:.4g}: law not exact")
            accept = torch.rand(proposed.shape, device=device).log() < log_q - self.log_bound
            decided = accept.any(1)
            first = accept.to(torch.uint8).argmax(1)
            chosen[pending[decided]] = proposed[decided, first[decided]]
            pending, cdf = pending[~decided], cdf[~decided]
            if not len(pending):
                return chosen
        self.stats.dense += len(pending)
        distinct, inverse = torch.unique(state_id[pending], return_inverse=True)
        log_q = self.log_guidance(self.env.index(states, representative[distinct]))[inverse]
        chosen[pending] = sample_actions(self._guide(log_mix[pending], log_q))
        return chosen
