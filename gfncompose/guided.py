"""The guided policy: sample a composition by steering the mixture of bases (DESIGN §3).

    P̃(s' | s)    ∝ P_F^M(s' | s) · Q(y | s')
    P̃(stop | s)  ∝ P_F^M(stop | s) · Q_term(y | x = s)
    P_F^M(a | s) = Σ_i G(i | s) · P_F^i(a | s)

The division by ``Q(y | s)`` of the exact identity is a per-state constant, so
renormalising over the allowed actions (needed anyway, since a learned ``Q`` is
not exactly consistent) makes it unnecessary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

import torch

from .composition import Composition
from .envs.base import States
from .errors import UserError
from .policy import MASKED, Policy

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

    def log_Q_actions(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Q(y | step(s, a))`` per action, stop column ``log Q_term``: ``[B, A]``."""
        ...

    def log_Q_terminal(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Π_k p(y_k | x)`` at terminal objects: ``[B]``."""
        ...


class GuidedPolicy:
    """Forward policy of ``composition`` built from base policies and a classifier.

    Args:
        bases: ``{name: policy}``; must contain every base of the composition.
        classifier: exact or learned, trained on (a superset of) those bases.
        composition: e.g. ``harmonic_mean("qed", "sa")``.
        mode: ``"successors"`` evaluates ``Q(y | s')`` on every allowed child (one
            batched classifier call per step, the paper's method); ``"action_head"``
            reads ``Q(y | s, a)`` for all actions from one pass on ``s``.
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

    def log_mixture_probs(self, states: States) -> torch.Tensor:
        """``log P_F^M(a | s) = log Σ_i G(i | s) P_F^i(a | s)``: ``[B, A]``."""
        names = self.composition.bases
        log_g = self.classifier.log_generator_posterior(states, names)
        log_pf = torch.stack([self.bases[n].log_probs(states) for n in names], dim=1)
        return torch.logsumexp(log_g[:, :, None] + log_pf, dim=1)

    def log_guidance(self, states: States) -> torch.Tensor:
        """``log Q(y | child)`` per action (stop: ``Q_term``), ``-inf`` where masked: ``[B, A]``."""
        if self.mode == "action_head":
            return self.classifier.log_Q_actions(states, self.composition)
        env = self.env
        mask = env.forward_mask(states)
        log_q = torch.full(mask.shape, MASKED, device=mask.device)
        move = mask.clone()
        move[:, env.stop_action] = False
        rows, actions = move.nonzero(as_tuple=True)
        if len(rows):
            children = env.step(env.index(states, rows), actions)
            log_q[rows, actions] = self.classifier.log_Q(children, self.composition)
        log_q[:, env.stop_action] = self.classifier.log_Q_terminal(states, self.composition)
        return log_q.masked_fill(~mask, MASKED)

    def log_probs(self, states: States) -> torch.Tensor:
        """``log P̃(a | s)``: ``[B, A]``, renormalised over allowed actions."""
        log_mix = self.log_mixture_probs(states)
        if not self.composition.y:
            return log_mix
        logits = log_mix + self.log_guidance(states)
        # A state whose every continuation has Q = 0 is never reached under guidance;
        # fall back to the mixture there so the policy stays a distribution.
        dead = torch.isinf(logits).all(dim=1, keepdim=True)
        return torch.log_softmax(torch.where(dead, log_mix, logits), dim=1)
