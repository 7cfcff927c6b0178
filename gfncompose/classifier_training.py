"""The classifier's loss over on-policy trajectories of every base (DESIGN §3).

Loss per step: ``L_term + L_gen + min(1, t/K) · L_joint`` where the generator and joint
losses are those of the state heads plus the action head's at the child, and the joint losses
(state and action heads) use soft labels ``Π_k p_tgt(y_k | x)`` from an EMA
target copy of the terminal head. Soft labels need no assumption on the bases
(hard labels are valid only when they satisfy trajectory balance with the shared
``P_B``). The weights ``ω`` of each trajectory's labels are drawn at random (see
:func:`sample_weights`), so one classifier serves every α and every sub-mixture.

The label "which base generated this trajectory" is replaced by its posterior
given what the step has seen, ``P(i | s_0 → … → s_t) ∝ Π_u P_F^i(a_u | s_u)``,
computed exactly from the bases' policies (see :class:`BasePosteriors`). Its
expectation is the hard label's, so every loss keeps its minimiser, for any
bases; but it carries far less noise (with bases that satisfy trajectory balance it *is*
``G(i | s)``, the generator head's target). The terminal head is trained on every visited state,
weighted by the probability of stopping there: stopping at ``s`` gives ``x = s``,
so ``Σ_i E_{x~p_i}[ℓ_i(x)] = m · E_{τ~mixture}[Σ_{s∈τ} Σ_i P(i | path to s)
P_F^i(stop | s) ℓ_i(s)]``. On the 32×32 grid (3000 steps) these cut the error of
the terminal head (mean L1 of ``p(· | x)`` under ``p_M``) from 0.035 to 0.005; the
terminal head is the source of every joint
label, and contrasts with small α amplify its errors. The joint targets of base
``i`` are weighted by ``P(i | τ)``, given the whole trajectory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from .classifier import Classifier
from .composition import log_observation_probs
from .policy import Policy
from .sampler import Trajectories, sample_trajectories, taken_and_stop

_MIN_LOG_WEIGHT = -60.0
"""Stands in for ``log 0`` in training: a base outside a sub-mixture would give cells of
likelihood exactly 0, whose ``logsumexp`` over atoms is ``-inf`` with a NaN gradient;
``e^-60`` is 0 for every purpose but keeps the gradient finite."""


def sample_weights(
    batch: int, n: int, m: int, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random observation weights ``[batch, n, m]`` for training the joint heads.

    Half the rows use all ``m`` bases, the rest a random subset of at least two (a
    sub-mixture); within it, each observation is uniform with probability 1/2, else
    Dirichlet(½): a concentration below 1, so that extreme weights (α = 0.05) are drawn
    often enough to be learned. Weights are 0 outside the subset.
    """
    support = torch.ones(batch, m, dtype=torch.bool, device=device)
    if m > 2:
        sub = torch.rand(batch, device=device, generator=generator) < 0.5
        keep = torch.rand(batch, m, device=device, generator=generator).argsort(1) < torch.randint(
            2, m + 1, (batch, 1), device=device, generator=generator
        )
        support = torch.where(sub[:, None], keep, support)
    support = support[:, None, :].expand(batch, n, m)
    # Dirichlet(½) is Gamma(½) draws normalised, and Gamma(½) is Z² up to a scale that the
    # normalisation removes: a form a torch.Generator can drive (torch.distributions cannot)
    random = torch.randn(batch, n, m, device=device, generator=generator).square() * support
    uniform = support.float()
    pick = torch.rand(batch, n, 1, device=device, generator=generator) < 0.5
    weights = torch.where(pick, uniform, random)
    return weights / weights.sum(-1, keepdim=True)


def soft_labels(terminal_logits: torch.Tensor, weights: torch.Tensor, cells: torch.Tensor):
    """``Π_k p(y_k | x)`` for every cell: ``[B, C]`` from logits ``[B, m]`` and ω ``[B, n, m]``."""
    log_p = log_observation_probs(terminal_logits[:, None, :], weights.log())  # [B, n, m]
    n = weights.shape[1]
    per_slot = torch.stack([log_p[:, k, cells[:, k]] for k in range(n)], dim=0)  # [n, B, C]
    return per_slot.sum(0).exp()


def soft_cross_entropy(target: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``-Σ_{i,c} target_ic log q_ic`` averaged over rows of ``[N, m, C]``; cells with
    target 0 contribute 0 (their ``log q`` may be ``-inf`` when a base has weight 0)."""
    terms = torch.where(target > 0, target * log_q, torch.zeros_like(log_q))
    return -terms.flatten(1).sum(1).mean()


def _steps_table(values: torch.Tensor, trajectory: torch.Tensor):
    """Lay per-step ``values`` ``[N, ...]`` out as ``[T, L + 1, ...]`` (trajectory, step + 1),
    zero padded; returns the table and each step's ``(trajectory, position)``."""
    counts = torch.bincount(trajectory)
    position = torch.arange(len(trajectory), device=trajectory.device)
    position = position - (counts.cumsum(0) - counts)[trajectory]
    table = values.new_zeros(len(counts), int(counts.max()) + 1, *values.shape[1:])
    table[trajectory, position + 1] = values
    return table, position


class BasePosteriors(NamedTuple):
    """Which base generated a trajectory, given what a sampled step has seen: the labels
    of DESIGN §3's terminal and joint heads, Rao-Blackwellised. ``[N, m]`` per step ``t``
    of ``N``.

    Attributes:
        state: ``P(i | s_0 → … → s_t)``, the posterior of the base given the path to
            ``s_t`` (with bases that satisfy trajectory balance, ``G(i | s_t)``): the
            generator head's label at ``s_t``.
        child: ``P(i | s_0 → … → s_t → step(s_t, a_t))``, the action head's generator label.
        trajectory: ``P(i | τ)`` given the whole trajectory (its terminal ``x`` and the
            path to it, which depends on the base): the weight of base ``i``'s joint
            target at every step of ``τ``.
        stop: ``P(i | s_0 → … → s_t) · P_F^i(stop | s_t)``: the probability that the
            trajectory stops at ``s_t``, ending in ``x = s_t``, and came from base ``i``,
            given the path so far.
    """

    state: torch.Tensor
    child: torch.Tensor
    trajectory: torch.Tensor
    stop: torch.Tensor

    def to(self, device: torch.device) -> BasePosteriors:
        """The same posteriors on ``device``."""
        return BasePosteriors(*(posterior.to(device) for posterior in self))


@torch.no_grad()
def base_posteriors(bases: Sequence[Policy], drawn: Sequence[Trajectories]) -> BasePosteriors:
    """:class:`BasePosteriors` of the steps of ``drawn[k]``, on-policy trajectories of
    ``bases[k]`` as many of each (the uniform mixture of ``bases``), flat in that order with
    trajectory ``j`` of ``drawn[k]`` numbered ``k · B + j``.

    The posteriors are exact: ``P(i | path) ∝ Π_t P_F^i(a_t | s_t)``, from the bases' own
    policies; each base scores the other bases' steps, and its own come with its draw
    (``Trajectories.step_log_pf``).
    """
    log_pf = []  # [N_k, m, 2] per k: each base's log P_F of the action taken and of stopping
    for k, trajectories in enumerate(drawn):
        states, actions = trajectories.states, trajectories.actions
        log_pf.append(
            torch.stack(
                [
                    trajectories.step_log_pf
                    if i == k
                    # a few hundred allowed actions of ~12,000 (literature space)
                    else taken_and_stop(base.env, base.allowed_log_probs(states), actions)
                    for i, base in enumerate(bases)
                ],
                dim=1,
            )
        )
    log_pf = torch.cat(log_pf)
    return posteriors_of_steps(log_pf[..., 0], log_pf[..., 1], _trajectory_ids(drawn))


def _trajectory_ids(drawn: Sequence[Trajectories]) -> torch.Tensor:
    """``LongTensor[N]``: the trajectory of each step of ``drawn``, flat in order, trajectory
    ``j`` of ``drawn[k]`` numbered ``k · B + j`` (``B`` trajectories in each)."""
    batch = len(drawn[0].length)
    return torch.cat([t.trajectory + k * batch for k, t in enumerate(drawn)])


def posteriors_of_steps(
    log_pf_taken: torch.Tensor, log_pf_stop: torch.Tensor, trajectory: torch.Tensor
) -> BasePosteriors:
    """:class:`BasePosteriors` from each base's ``log P_F`` of the action taken and of stopping
    at every step, ``[N, m]`` each; ``trajectory``: ``LongTensor[N]``, which trajectory each
    step belongs to (grouped by trajectory, in order, numbered from 0)."""
    table, position = _steps_table(log_pf_taken, trajectory)
    # sums of log-likelihoods, never differences: a base may give a step probability 0
    log_path = table.cumsum(1)
    log_state = torch.log_softmax(log_path[trajectory, position], dim=1)
    return BasePosteriors(
        state=log_state.exp(),
        child=torch.softmax(log_path[trajectory, position + 1], dim=1),
        trajectory=torch.softmax(log_path[:, -1], dim=1)[trajectory],
        stop=torch.exp(log_state + log_pf_stop),
    )


def joint_weight(step: int, steps: int, ramp: float) -> float:
    """Weight of the joint losses at ``step``: ``min(1, t/K)`` with ``K = ramp · steps``, so the
    joint heads learn from the terminal head's labels once those mean something."""
    return min(1.0, step / max(1, int(ramp * steps)))


class ClassifierBatch(NamedTuple):
    """``m × B`` trajectories of ``N`` steps (``B`` on-policy ones of each of the ``m`` bases, in
    the classifier's order) as the classifier's loss reads them, tensors only: what the
    environment and the bases make of the states, so that a process that samples can ship
    it to one that learns (:mod:`~gfncompose.sampling_processes`).

    Attributes:
        data: ``env.to_data`` of the ``N`` steps' states.
        actions: ``LongTensor[N]``, the action taken at each.
        trajectory: ``LongTensor[N]``, which of the ``m × B`` trajectories each step belongs to
            (base ``i``'s are ``i·B … (i+1)·B − 1``).
        posterior: the :class:`BasePosteriors` of the steps.
        terminal: ``env.to_data`` of the ``m × B`` terminal objects, in trajectory order.
    """

    data: Any
    actions: torch.Tensor
    trajectory: torch.Tensor
    posterior: BasePosteriors
    terminal: Any

    def to(self, device: torch.device) -> ClassifierBatch:
        """The same batch on ``device``."""
        return ClassifierBatch(
            self.data.to(device),
            self.actions.to(device),
            self.trajectory.to(device),
            self.posterior.to(device),
            self.terminal.to(device),
        )


def classifier_batch(
    bases: Sequence[Policy], batch_size: int, generator: torch.Generator | None = None
) -> ClassifierBatch:
    """The :class:`ClassifierBatch` of ``batch_size`` on-policy trajectories of each of ``bases``
    (the classifier's bases, in its order), drawn base after base from ``generator``."""
    env = bases[0].env
    trajectories = [sample_trajectories(b, batch_size, generator=generator) for b in bases]
    return ClassifierBatch(
        data=env.to_data(env.cat([t.states for t in trajectories])),
        actions=torch.cat([t.actions for t in trajectories]),
        trajectory=_trajectory_ids(trajectories),
        posterior=base_posteriors(bases, trajectories),
        terminal=env.to_data(env.cat([t.terminal for t in trajectories])),
    )


def classifier_loss(
    classifier: Classifier,
    target: Classifier,
    batch: ClassifierBatch,
    joint_weight: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One step's loss and its parts on a :class:`ClassifierBatch`.

    ``target``: the EMA copy whose terminal head gives the soft labels; ``generator``
    draws the observation weights (:func:`sample_weights`).
    """
    env = classifier.env
    actions, step_traj, posterior = batch.actions, batch.trajectory, batch.posterior
    m, n = len(classifier.base_names), classifier.n_observations
    num_trajectories = int(step_traj[-1]) + 1  # numbered in order, each with a step
    weights = sample_weights(num_trajectories, n, m, env.device, generator)
    with torch.no_grad():
        target_logits = target.terminal_head(target.trunk(batch.terminal).graph)
        labels = soft_labels(target_logits, weights, classifier.cells)[step_traj]  # [N, C]
        joint_target = posterior.trajectory[:, :, None] * labels[:, None, :]  # [N, m, C]

    encoding = classifier.trunk(batch.data)
    log_term = torch.log_softmax(classifier.terminal_head(encoding.graph), dim=1)
    loss_term = -(posterior.stop * log_term).sum() / num_trajectories
    log_gen = torch.log_softmax(classifier.generator_head(encoding.graph), dim=1)
    loss_gen = -(posterior.state * log_gen).sum(1).mean()
    log_w = weights.log().clamp_min(_MIN_LOG_WEIGHT)[step_traj, None]  # [N, 1, n, m]
    log_q = classifier.log_likelihood(*classifier.joint_atoms(encoding), log_w, classifier.cells)
    loss_joint = soft_cross_entropy(joint_target, log_q)

    moved = (actions != env.stop_action).nonzero().squeeze(1)
    gen_a, log_pi_a, phi_a = classifier.action_atoms(encoding, moved, actions[moved])
    loss_action_gen = -(posterior.child[moved] * torch.log_softmax(gen_a, dim=1)).sum(1).mean()
    log_q_child = classifier.log_likelihood(log_pi_a, phi_a, log_w[moved], classifier.cells)
    loss_action_joint = soft_cross_entropy(joint_target[moved], log_q_child)

    loss = loss_term + loss_gen + loss_action_gen + joint_weight * (loss_joint + loss_action_joint)
    parts = {
        "term": loss_term.item(),
        "gen": loss_gen.item(),
        "action_gen": loss_action_gen.item(),
        "joint": loss_joint.item(),
        "action_joint": loss_action_joint.item(),
    }
    return loss, parts
