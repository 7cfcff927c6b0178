"""Base training whose trajectories are sampled in other processes while the learner learns.

Sampling is most of a base's training step on the molecule spaces (63 % on the literature's
fragment space: environment steps, RDKit work, featurisation; ``benchmarks/RESULTS.md``), and
it needs no gradients, so ``TrainConfig.sampling_processes = K`` moves it to ``K`` processes of
its own. Each holds a copy of the environment, the forward policy and the reward, draws a
batch with the parameters it is sent, computes everything the loss needs of it but the
network pass (:func:`~gfncompose.trajectory_balance.training_batch`: policy inputs, the
transitions' actions, ``log P_B``, ``log R``) and ships that back as tensors. The learner only
runs the network forward and backward.

Batch ``t`` is drawn by process ``t mod K`` with the parameters the learner had at step
``t − K`` (the initial ones for ``t < K``) and a seed drawn from the loop's generator, so a run
is reproducible for a given ``K`` and trajectory balance, valid off-policy, converges to the
same balanced policy (a batch ``K`` steps late changes the noise of the gradients only). The
requests in flight (parameters and seeds) are the loop's ``carry``: a resumed run draws those
batches again, exactly.
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch

from .errors import UserError
from .policy import GFlowNet
from .rewards.parallel import FunctionProcess
from .sampler import sample_trajectories
from .trajectory_balance import LogReward, TrainingBatch, training_batch

Request = tuple[dict[str, torch.Tensor], int]
"""What a sampling process is sent for one batch: the policy's parameters (on the CPU) and
the seed of the batch's random stream."""

SEED_BOUND = 2**62
"""Seeds of the batches are drawn uniformly below this."""


class BatchDrawer:
    """Draws one :class:`TrainingBatch` of ``batch_size`` trajectories, exploring with
    ``epsilon``, per :data:`Request`: what runs in a sampling process. Picklable (the
    environment's caches pickle empty: each process fills its own)."""

    def __init__(
        self,
        env: Any,
        log_reward: LogReward,
        model_config: dict[str, Any],
        batch_size: int,
        epsilon: float,
    ):
        self.env, self.log_reward, self.model_config = env, log_reward, model_config
        self.batch_size, self.epsilon = batch_size, epsilon
        self._policy: GFlowNet | None = None

    def __call__(self, request: Request) -> TrainingBatch:
        parameters, seed = request
        if self._policy is None:  # built in the sampling process, on its first request
            torch.set_num_threads(1)
            self._policy = GFlowNet(self.env, **self.model_config).to(self.env.device)
            self._policy.requires_grad_(False)
        self._policy.load_state_dict(parameters)
        generator = torch.Generator(device=self.env.device).manual_seed(seed)
        trajectories = sample_trajectories(self._policy, self.batch_size, self.epsilon, generator)
        return training_batch(self.env, trajectories, self.log_reward).to(torch.device("cpu"))


def start_sampling_processes(drawer: BatchDrawer, count: int) -> list[FunctionProcess]:
    """``count`` processes each holding a copy of ``drawer``; ``UserError`` if it cannot be
    sent (a reward defined as a lambda or a closure)."""
    try:
        pickle.dumps(drawer)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise UserError(
            f"sampling_processes needs a reward that can be sent to another process ({error}); "
            "define it as a module-level function or class, or set sampling_processes = 0"
        ) from error
    return [FunctionProcess(drawer) for _ in range(count)]


def sampled_batches(
    gfn: GFlowNet, processes: list[FunctionProcess], loop: Any
) -> Iterator[TrainingBatch]:
    """Iterate with ``loop`` (a :class:`~gfncompose.training.TrainingLoop`): each step's
    batch, drawn by ``processes`` as the module docstring describes, on ``gfn``'s device."""
    count, device = len(processes), gfn.log_Z.device

    def request() -> Request:
        parameters = {
            name: value.detach().cpu().clone() for name, value in gfn.state_dict().items()
        }
        return parameters, int(torch.randint(SEED_BOUND, (), generator=loop.generator))

    # requests for batches loop.start, loop.start + 1, ...: a resumed run's come from its carry
    requests = deque(loop.carry["requests"] if loop.carry else (request() for _ in range(count)))
    futures = deque(processes[(loop.start + i) % count].submit(r) for i, r in enumerate(requests))
    for step in loop:
        try:
            batch = futures.popleft().result()
        except BrokenProcessPool as error:
            raise UserError(
                "a sampling process ended before it answered (out of memory?)"
            ) from error
        requests.popleft()
        requests.append(request())  # batch step + count, with the parameters of this step
        futures.append(processes[step % count].submit(requests[-1]))
        loop.carry = {"requests": list(requests)}
        yield batch.to(device)
