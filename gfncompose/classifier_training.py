"""Training the classifier on on-policy trajectories of every base (DESIGN §3).

Loss per step: ``L_term + L_gen + min(1, t/K) · L_joint`` where the joint losses
(state and action heads) use soft labels ``Π_k p_tgt(y_k | x)`` from an EMA
target copy of the terminal head. Soft labels need no assumption on the bases
(hard labels are valid only when they satisfy trajectory balance with the shared
``P_B``). The weights ``ω`` of each trajectory's labels are drawn at random (see
:func:`sample_weights`), so one classifier serves every α and every sub-mixture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import (
    check_resumable,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .classifier import Classifier
from .errors import UserError
from .policy import Policy
from .sampler import sample_trajectories
from .trajectory_balance import ema_update

_MIN_LOG_WEIGHT = -60.0
"""Stands in for ``log 0`` in training: a base outside a sub-mixture would give cells of
likelihood exactly 0, whose ``logsumexp`` over atoms is ``-inf`` with a NaN gradient;
``e^-60`` is 0 for every purpose but keeps the gradient finite."""

_DIRICHLET_CONCENTRATION = 0.5
"""Below 1, so extreme weights (α = 0.05) are drawn often enough to be learned."""


@dataclass
class ClassifierConfig:
    """Budget of classifier training. ``ramp``: fraction of steps over which the joint loss
    weight grows from 0 to 1; ``ema_rate``: rate of the target copy."""

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    ramp: float = 0.2
    ema_rate: float = 0.995
    seed: int = 0
    checkpoint_every: int = 500


def sample_weights(batch: int, n: int, m: int, device: torch.device) -> torch.Tensor:
    """Random observation weights ``[batch, n, m]`` for training the joint heads.

    Half the rows use all ``m`` bases, the rest a random subset of at least two (a
    sub-mixture); within it, each observation is uniform with probability 1/2, else
    Dirichlet(0.5). Weights are 0 outside the subset.
    """
    support = torch.ones(batch, m, dtype=torch.bool, device=device)
    if m > 2:
        sub = torch.rand(batch, device=device) < 0.5
        keep = torch.rand(batch, m, device=device).argsort(1) < torch.randint(
            2, m + 1, (batch, 1), device=device
        )
        support = torch.where(sub[:, None], keep, support)
    support = support[:, None, :].expand(batch, n, m)
    concentration = torch.full((batch, n, m), _DIRICHLET_CONCENTRATION, device=device)
    random = torch.distributions.Gamma(concentration, 1.0).sample() * support
    uniform = support.float()
    pick = torch.rand(batch, n, 1, device=device) < 0.5
    weights = torch.where(pick, uniform, random)
    return weights / weights.sum(-1, keepdim=True)


def soft_labels(terminal_logits: torch.Tensor, weights: torch.Tensor, cells: torch.Tensor):
    """``Π_k p(y_k | x)`` for every cell: ``[B, C]`` from logits ``[B, m]`` and ω ``[B, n, m]``."""
    log_p = torch.log_softmax(terminal_logits[:, None, :] + weights.log(), dim=-1)  # [B, n, m]
    n = weights.shape[1]
    per_slot = torch.stack([log_p[:, k, cells[:, k]] for k in range(n)], dim=0)  # [n, B, C]
    return per_slot.sum(0).exp()


def soft_cross_entropy(target: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``-Σ_c target_c log q_c`` averaged over rows; cells with target 0 contribute 0
    (their ``log q`` may be ``-inf`` when a base has weight 0)."""
    terms = torch.where(target > 0, target * log_q, torch.zeros_like(log_q))
    return -terms.sum(1).mean()


def classifier_loss(
    classifier: Classifier,
    target: Classifier,
    bases: Mapping[str, Policy],
    batch_size: int,
    joint_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One step's loss on ``batch_size`` fresh on-policy trajectories per base."""
    env = classifier.env
    labels, trajectories = [], []
    for i, name in enumerate(classifier.base_names):
        trajectories.append(sample_trajectories(bases[name], batch_size))
        labels.append(torch.full((batch_size,), i, dtype=torch.long, device=env.device))
    label = torch.cat(labels)
    offsets = [k * batch_size for k in range(len(trajectories))]
    states = env.cat([t.states for t in trajectories])
    actions = torch.cat([t.actions for t in trajectories])
    step_traj = torch.cat([t.trajectory + o for t, o in zip(trajectories, offsets, strict=True)])
    terminal = env.cat([t.terminal for t in trajectories])
    step_label = label[step_traj]

    m, n = len(classifier.base_names), classifier.n_observations
    weights = sample_weights(len(label), n, m, env.device)
    with torch.no_grad():
        labels_soft = soft_labels(
            target.terminal_head(target.encode(terminal).graph), weights, classifier.cells
        )  # [B, C]

    cross_entropy = torch.nn.functional.cross_entropy
    loss_term = cross_entropy(classifier.terminal_head(classifier.encode(terminal).graph), label)

    encoding = classifier.encode(states)
    loss_gen = cross_entropy(classifier.generator_head(encoding.graph), step_label)
    log_w = weights.log().clamp_min(_MIN_LOG_WEIGHT)[step_traj]  # [N, n, m]
    rows = torch.arange(len(step_label), device=env.device)
    log_pi, phi = classifier.joint_atoms(encoding)
    log_q = classifier.log_likelihood(
        log_pi[rows, step_label], phi[rows, step_label], log_w, classifier.cells
    )  # [N, C]
    loss_joint = soft_cross_entropy(labels_soft[step_traj], log_q)

    moved = rows[actions != env.stop_action]
    gen_a, log_pi_a, phi_a = classifier.action_atoms(encoding)
    at, lab = actions[moved], step_label[moved]
    loss_action_gen = cross_entropy(gen_a[moved, at], lab)
    log_q_child = classifier.log_likelihood(
        log_pi_a[moved, at, lab], phi_a[moved, at, lab], log_w[moved], classifier.cells
    )
    loss_action_joint = soft_cross_entropy(labels_soft[step_traj[moved]], log_q_child)

    loss = loss_term + loss_gen + loss_action_gen + joint_weight * (loss_joint + loss_action_joint)
    parts = {
        "term": loss_term.item(),
        "gen": loss_gen.item(),
        "joint": loss_joint.item(),
        "action_joint": loss_action_joint.item(),
    }
    return loss, parts


def train_classifier(
    classifier: Classifier,
    bases: Mapping[str, Policy],
    config: ClassifierConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``classifier`` on trajectories of ``bases``; returns the per-step loss parts.

    Checkpointing and resuming work as in :func:`~gfncompose.trajectory_balance.train_gflownet`.
    """
    missing = [n for n in classifier.base_names if n not in bases]
    if missing:
        raise UserError(f"the classifier's bases {missing} have no policy")
    optimizer = torch.optim.Adam(classifier.parameters(), lr=config.lr)
    target = classifier.target_copy()
    start, history = 0, []
    torch.manual_seed(config.seed)
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=classifier.cells.device)
        check_resumable(checkpoint, state["train_config"], asdict(config))
        classifier.load_state_dict(state["model"])
        target.load_state_dict(state["target"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = state["step"], state["history"]
        set_rng_state(state["rng"])

    def save(step: int) -> None:
        save_checkpoint(
            checkpoint,
            {
                "model": classifier.state_dict(),
                "target": target.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "history": history,
                "rng": rng_state(),
                "train_config": asdict(config),
                "model_config": classifier.config,
            },
        )

    ramp_steps = max(1, int(config.ramp * config.steps))
    bar = tqdm(
        range(start, config.steps),
        initial=start,
        total=config.steps,
        disable=not progress,
        desc="classifier",
        unit="step",
    )
    for step in bar:
        loss, parts = classifier_loss(
            classifier, target, bases, config.batch_size, min(1.0, step / ramp_steps)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema_update(target, classifier, config.ema_rate)
        history.append(parts)
        bar.set_postfix({k: f"{v:.3g}" for k, v in parts.items()}, refresh=False)
        if checkpoint is not None and (step + 1) % config.checkpoint_every == 0:
            save(step + 1)
    if checkpoint is not None:
        save(config.steps)
    return history
