"""Trajectory balance (Malkin et al. 2022) and the training loop of a base GFlowNet."""

from __future__ import annotations

import copy
from collections.abc import Callable
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
from .envs.base import States
from .policy import GFlowNet
from .sampler import Trajectories, sample_trajectories

LogReward = Callable[[States], torch.Tensor]
"""Maps ``B`` terminal objects to ``log R(x)``: ``[B]``."""


def trajectory_log_pf(gfn: GFlowNet, trajectories: Trajectories) -> torch.Tensor:
    """``Σ_t log P_F(s_{t+1} | s_t)`` per trajectory, ``[B]``, in one batched pass."""
    env = gfn.env
    log_probs = gfn.log_probs(trajectories.states)
    per_step = env.log_transition(trajectories.states, log_probs, trajectories.actions)
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


@dataclass
class TrainConfig:
    """Budget and optimiser settings of one base GFlowNet.

    ``epsilon``: probability of a uniform random action while sampling training
    trajectories (trajectory balance is off-policy, so this is only exploration).
    ``ema_rate``: if set, keep an exponential moving average copy for sampling.
    """

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    lr_log_Z: float = 0.1
    beta: float = 1.0
    epsilon: float = 0.0
    ema_rate: float | None = None
    seed: int = 0
    checkpoint_every: int = 500


def ema_update(target: torch.nn.Module, source: torch.nn.Module, rate: float) -> None:
    """``θ_target ← rate · θ_target + (1 − rate) · θ_source``."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.lerp_(s, 1.0 - rate)


def train_gflownet(
    gfn: GFlowNet,
    log_reward: LogReward,
    config: TrainConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> tuple[GFlowNet, list[float]]:
    """Train ``gfn`` by trajectory balance; returns the sampling model and the loss history.

    The sampling model is the EMA copy when ``config.ema_rate`` is set, else ``gfn``.
    With ``checkpoint``, state is saved atomically every ``checkpoint_every`` steps
    and at the end, and a run finding a checkpoint there resumes from it (the
    RNG state is restored, so a resumed run reproduces an uninterrupted one).
    """
    params = [p for name, p in gfn.named_parameters() if name != "log_Z"]
    optimizer = torch.optim.Adam(
        [{"params": params, "lr": config.lr}, {"params": [gfn.log_Z], "lr": config.lr_log_Z}]
    )
    ema = copy.deepcopy(gfn, memo={id(gfn.env): gfn.env}) if config.ema_rate is not None else None
    start, history = 0, []
    torch.manual_seed(config.seed)
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=gfn.log_Z.device)
        check_resumable(checkpoint, state["train_config"], asdict(config))
        gfn.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        start, history = state["step"], state["history"]
        set_rng_state(state["rng"])

    def save(step: int) -> None:
        payload = {
            "model": gfn.state_dict(),
            "optimizer": optimizer.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "step": step,
            "history": history,
            "rng": rng_state(),
            "train_config": asdict(config),
            "model_config": gfn.config,
        }
        save_checkpoint(checkpoint, payload)

    bar = tqdm(
        range(start, config.steps),
        initial=start,
        total=config.steps,
        disable=not progress,
        desc="trajectory balance",
        unit="step",
    )
    for step in bar:
        trajectories = sample_trajectories(gfn, config.batch_size, epsilon=config.epsilon)
        loss = trajectory_balance_loss(gfn, trajectories, log_reward, config.beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema_update(ema, gfn, config.ema_rate)
        history.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3g}", log_Z=f"{gfn.log_Z.item():.3g}", refresh=False)
        if checkpoint is not None and (step + 1) % config.checkpoint_every == 0:
            save(step + 1)
    if checkpoint is not None:
        save(config.steps)
    return (ema if ema is not None else gfn), history
