"""One training loop for every model of the package: the base GFlowNets and the classifier.

The losses are functions of given trajectories (:mod:`~gfncompose.trajectory_balance`,
:mod:`~gfncompose.classifier_training`); :class:`TrainingLoop` owns the rest: the
optimiser's learning-rate schedule, the EMA copy, the progress bar, the random stream
and the :class:`Checkpointer`. The loop stays in the caller's hands::

    loop = TrainingLoop(gfn, optimizer, config.steps, config.seed, ...)
    for step in loop:
        trajectories = sample_trajectories(gfn, config.batch_size, config.epsilon, loop.generator)
        loss = trajectory_balance_loss(gfn, trajectories, log_reward, config.beta)
        loss.backward()
        loop.step(loss=loss.item())

Randomness flows through ``loop.generator`` (a ``torch.Generator`` seeded from the config and
saved in every checkpoint), so a resumed run reproduces an uninterrupted one exactly and no
function here touches the global RNG. :func:`train_gflownet` and :func:`train_classifier`
are this loop written out for the two models.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from tqdm.auto import tqdm

from .checkpoint import check_resumable, load_checkpoint, save_checkpoint
from .classifier import Classifier
from .classifier_training import ClassifierBatch, classifier_batch, classifier_loss, joint_weight
from .denormals import flushing_denormals
from .envs.base import States
from .errors import UserError
from .policy import GFlowNet, Policy
from .sampler import Trajectories, sample_trajectories
from .sampling_processes import (
    BatchDrawer,
    ClassifierBatchDrawer,
    batches_from_processes,
    draw_seed,
    policy_request,
)
from .trajectory_balance import (
    LogReward,
    TrainingBatch,
    batch_trajectory_balance_loss,
    training_batch,
)

CHECKPOINT_SECONDS = 60.0
"""Default longest time between checkpoints: a crash loses at most about a minute of training."""

CHECKPOINT_STEPS = 500
"""Default most steps between checkpoints (whichever of steps and seconds comes first)."""


@dataclass
class TrainConfig:
    """Budget and optimiser settings of one base GFlowNet.

    ``epsilon``: probability of a uniform random action while sampling training
    trajectories (trajectory balance is off-policy, so this is only exploration).
    ``ema_rate``: if set, keep an exponential moving average copy for sampling.
    ``decay``: fraction of the steps, at the end, over which the learning rates fall
    to 0 along a cosine (0: constant rates).
    ``sampling_processes``: processes that sample the training batches while the learner
    learns (:mod:`~gfncompose.sampling_processes`; 0: sampled here, between the steps).
    """

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    lr_log_Z: float = 0.1
    beta: float = 1.0
    epsilon: float = 0.0
    ema_rate: float | None = None
    decay: float = 0.0
    sampling_processes: int = 0
    seed: int = 0
    checkpoint_every: int = CHECKPOINT_STEPS
    checkpoint_seconds: float = CHECKPOINT_SECONDS


@dataclass
class ClassifierConfig:
    """Budget of classifier training. ``ramp``: fraction of steps over which the joint loss
    weight grows from 0 to 1; ``decay``: fraction of steps, at the end, over which the
    learning rate falls from ``lr`` to 0 along a cosine; ``ema_rate``: rate of the
    target copy; ``sampling_processes``: processes that sample the bases' trajectories while
    the classifier learns (:mod:`~gfncompose.sampling_processes`; 0: sampled here)."""

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    ramp: float = 0.2
    decay: float = 0.5
    ema_rate: float = 0.995
    sampling_processes: int = 0
    seed: int = 0
    checkpoint_every: int = CHECKPOINT_STEPS
    checkpoint_seconds: float = CHECKPOINT_SECONDS


def lr_factor(step: int, steps: int, decay: float) -> float:
    """Multiplier of the learning rate at ``step``: 1 until the last ``decay`` fraction of the
    ``steps``, then a cosine down to 0.

    A constant rate leaves a model at a noise floor of its stochastic gradients that more
    steps do not lower; decaying it averages that noise out.
    """
    decay_steps = int(decay * steps)
    into = step - (steps - decay_steps)
    if into < 0:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * into / decay_steps))


def ema_update(target: torch.nn.Module, source: torch.nn.Module, rate: float) -> None:
    """``θ_target ← rate · θ_target + (1 − rate) · θ_source``."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.lerp_(s, 1.0 - rate)


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` without gradients that shares its environment (an EMA copy)."""
    env = getattr(model, "env", None)
    target = copy.deepcopy(model, memo={id(env): env} if env is not None else None)
    return target.requires_grad_(False)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Within the block the global RNG is seeded with ``seed`` (for a network's initial
    weights, drawn by ``torch.nn`` from the global stream); the caller's RNG state is
    restored on exit."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class Checkpointer:
    """Writes a training state atomically every ``every_steps`` steps or every
    ``every_seconds`` seconds, whichever comes first, and reads it back to resume."""

    def __init__(self, path: str | Path, every_steps: int, every_seconds: float):
        self.path = Path(path)
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        self._saved_step = 0
        self._saved_at = time.monotonic()

    def due(self, step: int) -> bool:
        """Whether a state at ``step`` (steps done) should be written now."""
        return (
            step - self._saved_step >= self.every_steps
            or time.monotonic() - self._saved_at >= self.every_seconds
        )

    def save(self, step: int, state: dict[str, Any]) -> None:
        """Write ``state`` (which records ``step``) atomically."""
        save_checkpoint(self.path, state)
        self._saved_step, self._saved_at = step, time.monotonic()

    def load(self, map_location: torch.device) -> dict[str, Any] | None:
        """The saved state, or ``None`` when there is none yet."""
        if not self.path.is_file():
            return None
        state = load_checkpoint(self.path, map_location=map_location)
        self._saved_step, self._saved_at = state["step"], time.monotonic()
        return state


class TrainingLoop:
    """Iterate over the steps still to do; :meth:`step` after each loss's ``backward()``.

    Owns the optimiser's schedule (each group's rate times :func:`lr_factor`), the EMA
    copy ``ema`` (updated after every optimiser step at ``ema_rate``), ``generator``
    (seeded with ``seed``), the per-step ``history`` of logged values, the progress bar
    and checkpoints. With a ``checkpointer`` whose file exists, the loop resumes from it
    (refusing a checkpoint written with another ``config``) and restores the model, the
    optimiser, the EMA copy, the history, the generator and ``carry`` (whatever else the
    loop's body needs to go on exactly, e.g. how a batch still in flight was drawn), so the
    rest of the run is identical to an uninterrupted one. A final checkpoint is written when
    the loop ends.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        config: TrainConfig | ClassifierConfig,
        *,
        ema: torch.nn.Module | None = None,
        ema_rate: float | None = None,
        checkpointer: Checkpointer | None = None,
        model_config: Mapping[str, Any] | None = None,
        progress: bool = True,
        desc: str = "training",
    ):
        device = next(model.parameters()).device
        self.model, self.optimizer, self.config = model, optimizer, config
        self.ema, self.ema_rate = ema, ema_rate
        self.checkpointer = checkpointer
        self.model_config = dict(model_config or {})
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.history: list[dict[str, float]] = []
        self.carry: dict[str, Any] | None = None
        self.start = 0
        self._initial_lr = [group["lr"] for group in optimizer.param_groups]
        self._progress, self._desc = progress, desc
        self._bar: tqdm | None = None
        self._step = 0
        if checkpointer is not None:
            state = checkpointer.load(map_location=device)
            if state is not None:
                self._restore(state)

    @property
    def current_step(self) -> int:
        """The step being taken (0-based), while the loop iterates."""
        return self._step

    def _restore(self, state: dict[str, Any]) -> None:
        check_resumable(
            self.checkpointer.path,
            state["train_config"],
            asdict(self.config),
            asdict(type(self.config)()),
        )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.generator.set_state(state["generator"].cpu())
        self.start, self.history = state["step"], state["history"]
        self.carry = state.get("carry")

    def state(self, step: int) -> dict[str, Any]:
        """Everything a checkpoint holds after ``step`` steps."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "generator": self.generator.get_state(),
            "step": step,
            "history": self.history,
            "train_config": asdict(self.config),
            "model_config": self.model_config,
            "carry": self.carry,
        }

    def __iter__(self) -> Iterator[int]:
        steps = self.config.steps
        self._bar = tqdm(
            total=steps,
            initial=self.start,
            disable=not self._progress,
            desc=self._desc,
            unit="step",
        )
        with self._bar:
            for step in range(self.start, steps):
                self._step = step
                factor = lr_factor(step, steps, self.config.decay)
                for group, lr in zip(self.optimizer.param_groups, self._initial_lr, strict=True):
                    group["lr"] = lr * factor
                yield step
        if self.checkpointer is not None:
            self.checkpointer.save(steps, self.state(steps))

    def step(self, **logged: float) -> None:
        """Apply the gradients of this step's loss, update the EMA copy, record ``logged``
        in the history and the progress bar, and checkpoint when due."""
        self.optimizer.step()
        self.optimizer.zero_grad()
        if self.ema is not None:
            ema_update(self.ema, self.model, self.ema_rate)
        self.history.append(logged)
        self._bar.update()
        self._bar.set_postfix({k: f"{v:.3g}" for k, v in logged.items()}, refresh=False)
        done = self._step + 1
        if (
            self.checkpointer is not None
            and done < self.config.steps
            and self.checkpointer.due(done)
        ):
            self.checkpointer.save(done, self.state(done))


def _checkpointer(path: str | Path | None, config) -> Checkpointer | None:
    if path is None:
        return None
    return Checkpointer(path, config.checkpoint_every, config.checkpoint_seconds)


@runtime_checkable
class RemoteLogReward(Protocol):
    """``log R(x)`` computed elsewhere (another process, a Ray actor): :meth:`submit` returns
    at once with a future of ``[B]``, so the learner goes on sampling meanwhile."""

    def submit(self, terminal: States) -> Future: ...


class PipelinedLogReward:
    """A :class:`RemoteLogReward` from a ``worker`` with ``submit(x) -> Future``: it sends
    ``encode(terminal)`` (SMILES for molecules: a few bytes each) and the worker answers
    ``log R`` as a CPU tensor ``[B]``."""

    def __init__(self, worker: Any, encode: Callable[[States], Any]):
        self.worker, self.encode = worker, encode

    def submit(self, terminal: States) -> Future:
        return self.worker.submit(self.encode(terminal))


def train_gflownet(
    gfn: GFlowNet,
    log_reward: LogReward | RemoteLogReward,
    config: TrainConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> tuple[GFlowNet, list[dict[str, float]]]:
    """Train ``gfn`` by trajectory balance; returns the sampling model and the per-step
    history (``loss``, ``log_Z``).

    The sampling model is the EMA copy when ``config.ema_rate`` is set, else ``gfn``.
    With ``checkpoint``, the run is saved and resumed as :class:`TrainingLoop` describes.
    A :class:`RemoteLogReward` is pipelined (:func:`pipelined_batches`); with
    ``config.sampling_processes``, batches are sampled in processes of their own
    (:func:`~gfncompose.sampling_processes.sampled_batches`; ``log_reward`` must be
    picklable and is computed there).
    """
    params = [p for name, p in gfn.named_parameters() if name != "log_Z"]
    optimizer = torch.optim.Adam(
        [{"params": params, "lr": config.lr}, {"params": [gfn.log_Z], "lr": config.lr_log_Z}]
    )
    ema = frozen_copy(gfn) if config.ema_rate is not None else None
    loop = TrainingLoop(
        gfn,
        optimizer,
        config,
        ema=ema,
        ema_rate=config.ema_rate,
        checkpointer=_checkpointer(checkpoint, config),
        model_config=gfn.config,
        progress=progress,
        desc="trajectory balance",
    )
    with flushing_denormals(), batch_source(gfn, log_reward, config, loop) as batches:
        for batch in batches:
            loss = batch_trajectory_balance_loss(gfn, batch, config.beta)
            loss.backward()
            loop.step(loss=loss.item(), log_Z=gfn.log_Z.item())
    return (ema if ema is not None else gfn), loop.history


@contextlib.contextmanager
def batch_source(
    gfn: GFlowNet, log_reward: LogReward | RemoteLogReward, config: TrainConfig, loop: TrainingLoop
) -> Iterator[Iterator[TrainingBatch]]:
    """The training batches of ``loop``'s steps: sampled here, pipelined with a remote
    reward, or from sampling processes (ended when the block ends)."""
    if config.sampling_processes:
        if isinstance(log_reward, RemoteLogReward):
            raise UserError("a remote reward and sampling_processes: choose one")
        drawer = BatchDrawer(gfn.env, log_reward, gfn.config, config.batch_size, config.epsilon)
        request = policy_request(gfn, loop)
        count, device = config.sampling_processes, gfn.log_Z.device
        with batches_from_processes(drawer, count, loop, request, device) as batches:
            yield batches
    elif isinstance(log_reward, RemoteLogReward):
        yield pipelined_batches(gfn, log_reward, config, loop)
    else:
        yield (training_batch(gfn.env, sample(gfn, config, loop), log_reward) for _ in loop)


def sample(policy: Policy, config: TrainConfig, loop: TrainingLoop) -> Trajectories:
    """A training batch of ``policy``: ``config.batch_size`` trajectories, exploring with
    ``config.epsilon``, drawn from the loop's generator."""
    return sample_trajectories(policy, config.batch_size, config.epsilon, loop.generator)


def pipelined_batches(
    gfn: GFlowNet, log_reward: RemoteLogReward, config: TrainConfig, loop: TrainingLoop
) -> Iterator[TrainingBatch]:
    """Iterate with ``loop``: each step's batch and its ``log R``, while the reward of the
    next batch computes elsewhere.

    Step ``t`` gets the batch drawn *before* step ``t − 1``'s update (one step late; step 0
    gets a batch of the initial model), and the next batch is drawn and its reward
    submitted before step ``t``'s loss, so the reward's worker and the learner run at once.
    Trajectory balance is valid off-policy: its minimiser, the balanced policy, does not
    depend on which full-support policy drew the trajectories, so a batch one step late
    changes the noise of the gradients, not what training converges to. The parameters and
    generator state the batch in flight was drawn with are the loop's ``carry``, saved in
    every checkpoint, so a resumed run draws that batch again, exactly.
    """
    sampler = frozen_copy(gfn)  # the parameters of the batch in flight

    def draw() -> tuple[Trajectories, Future]:
        loop.carry = {"sampler": sampler.state_dict(), "generator": loop.generator.get_state()}
        trajectories = sample(sampler, config, loop)
        return trajectories, log_reward.submit(trajectories.terminal)

    if loop.carry is not None:  # resumed: draw the batch that was in flight again
        sampler.load_state_dict(loop.carry["sampler"])
        loop.generator.set_state(loop.carry["generator"].cpu())
    in_flight = draw()
    device = gfn.log_Z.device
    for _ in loop:
        trajectories, future = in_flight
        sampler.load_state_dict(gfn.state_dict())
        in_flight = draw()
        yield training_batch(
            gfn.env, trajectories, lambda _, future=future: future.result().to(device)
        )


def train_classifier(
    classifier: Classifier,
    bases: Mapping[str, Policy],
    config: ClassifierConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``classifier`` on on-policy trajectories of ``bases``; returns the per-step loss
    parts. The EMA copy is the target of the soft labels (DESIGN §3)."""
    missing = [n for n in classifier.base_names if n not in bases]
    if missing:
        raise UserError(f"the classifier's bases {missing} have no policy")
    policies = [bases[name] for name in classifier.base_names]
    optimizer = torch.optim.Adam(classifier.parameters(), lr=config.lr)
    target = frozen_copy(classifier)
    loop = TrainingLoop(
        classifier,
        optimizer,
        config,
        ema=target,
        ema_rate=config.ema_rate,
        checkpointer=_checkpointer(checkpoint, config),
        model_config=classifier.config,
        progress=progress,
        desc="classifier",
    )
    with flushing_denormals(), classifier_batch_source(policies, config, loop) as batches:
        for batch in batches:
            weight = joint_weight(loop.current_step, config.steps, config.ramp)
            loss, parts = classifier_loss(classifier, target, batch, weight, loop.generator)
            loss.backward()
            loop.step(**parts)
    return loop.history


@contextlib.contextmanager
def classifier_batch_source(
    bases: list[Policy], config: ClassifierConfig, loop: TrainingLoop
) -> Iterator[Iterator[ClassifierBatch]]:
    """The classifier's batches of ``loop``'s steps (``config.batch_size`` trajectories of each
    of ``bases``): sampled here, or by sampling processes (ended when the block ends)."""
    if config.sampling_processes:
        drawer = ClassifierBatchDrawer(bases, config.batch_size)
        count, device = config.sampling_processes, next(loop.model.parameters()).device
        seed = functools.partial(draw_seed, loop)  # a request: the batch's seed
        with batches_from_processes(drawer, count, loop, seed, device) as batches:
            yield batches
    else:
        yield (classifier_batch(bases, config.batch_size, loop.generator) for _ in loop)
