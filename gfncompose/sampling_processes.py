"""Training whose batches are sampled in other processes while the learner learns.

Sampling is most of a training step on the molecule spaces (63 % of a base's on the
literature's fragment space, ~80 % of the classifier's with its bases' posteriors:
environment steps, RDKit work, featurisation; ``benchmarks/RESULTS.md``), and it needs no
gradients, so ``sampling_processes = K`` (of a :class:`~gfncompose.training.TrainConfig` or a
:class:`~gfncompose.training.ClassifierConfig`) moves it to ``K`` processes of their own. Each
holds a copy of the environment and of what it samples with, draws a batch per request,
computes everything the loss needs of it but the learner's network pass and ships that back
as tensors; the learner only runs its network forward and backward.

- A base (:class:`BatchDrawer`): batch ``t`` is drawn by process ``t mod K`` with the parameters
  the learner had at step ``t − K`` (the initial ones for ``t < K``), and shipped as a
  :class:`~gfncompose.trajectory_balance.TrainingBatch` (policy inputs, the transitions'
  actions, ``log P_B``, ``log R``). Trajectory balance, valid off-policy, converges to the same
  balanced policy: a batch ``K`` steps late changes the noise of the gradients only.
- The classifier (:class:`ClassifierBatchDrawer`): its bases do not change while it trains, so
  the batches drawn ahead are exactly those drawn in place, from other random streams; each is
  a :class:`~gfncompose.classifier_training.ClassifierBatch` (features, actions, the bases'
  posteriors).

Each request carries a seed drawn from the loop's generator, so a run is reproducible for a
given ``K``; the requests in flight are the loop's ``carry``: a resumed run draws those batches
again, exactly.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch

from .classifier_training import ClassifierBatch, classifier_batch
from .errors import UserError
from .policy import GFlowNet, Policy
from .rewards.parallel import FunctionProcess
from .sampler import sample_trajectories
from .trajectory_balance import LogReward, TrainingBatch, training_batch

Request = tuple[dict[str, torch.Tensor], int]
"""What a base's sampling process is sent for one batch: the policy's parameters (on the CPU)
and the seed of the batch's random stream."""

SEED_BOUND = 2**62
"""Seeds of the batches are drawn uniformly below this."""

FULL_COLLECTION_AFTER = 1000
"""Young-generation passes of the cyclic garbage collector between two of its full passes in a
sampling process (Python's default: 10)."""


def settle_sampling_process() -> None:
    """Set up a sampling process at its first batch: one torch thread (it takes one CPU), and
    full garbage-collection passes :data:`FULL_COLLECTION_AFTER` times rarer. A full pass walks
    every object the process holds (~500,000: torch, RDKit, the environment's caches; 0.3 s on
    the literature space) and the caches' turnover triggered one every few batches. Sampling
    makes no reference cycles of its own (``tests/test_env_fragment_fast_paths.py``), so little
    garbage waits for the rarer passes (torch-geometric's ``Batch`` leaves a class per
    ``to_data`` call)."""
    torch.set_num_threads(1)
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


def draw_seed(loop: Any) -> int:
    """The seed of one batch's random stream, from ``loop.generator``."""
    return int(torch.randint(SEED_BOUND, (), generator=loop.generator))


def policy_request(gfn: GFlowNet, loop: Any) -> Callable[[], Request]:
    """What :class:`BatchDrawer` is sent for each batch: ``gfn``'s parameters now and a seed."""

    def request() -> Request:
        parameters = {
            name: value.detach().cpu().clone() for name, value in gfn.state_dict().items()
        }
        return parameters, draw_seed(loop)

    return request


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
            settle_sampling_process()
            self._policy = GFlowNet(self.env, **self.model_config).to(self.env.device)
            self._policy.requires_grad_(False)
        self._policy.load_state_dict(parameters)
        generator = torch.Generator(device=self.env.device).manual_seed(seed)
        trajectories = sample_trajectories(self._policy, self.batch_size, self.epsilon, generator)
        return training_batch(self.env, trajectories, self.log_reward).to(torch.device("cpu"))


class ClassifierBatchDrawer:
    """Draws one :class:`ClassifierBatch` per seed: ``batch_size`` on-policy trajectories of each
    of ``bases`` (the classifier's, in its order), their posteriors and features. Picklable
    when the bases are."""

    def __init__(self, bases: Sequence[Policy], batch_size: int):
        self.bases, self.batch_size = list(bases), batch_size

    def __call__(self, seed: int) -> ClassifierBatch:
        settle_sampling_process()
        generator = torch.Generator(device=self.bases[0].env.device).manual_seed(seed)
        return classifier_batch(self.bases, self.batch_size, generator).to(torch.device("cpu"))


def start_sampling_processes(drawer: Callable[[Any], Any], count: int) -> list[FunctionProcess]:
    """``count`` processes each holding a copy of ``drawer``; ``UserError`` if it cannot be
    sent (a reward or a base defined as a lambda or a closure)."""
    try:
        pickle.dumps(drawer)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise UserError(
            "sampling in other processes needs rewards and models that can be sent to another "
            f"process ({error}); define them as module-level functions or classes, or set "
            "sampling_processes = 0 (a campaign's [sampling] processes = 0)"
        ) from error
    return [FunctionProcess(drawer) for _ in range(count)]


@contextlib.contextmanager
def running(drawer: Callable[[Any], Any], count: int) -> Iterator[list[FunctionProcess]]:
    """:func:`start_sampling_processes`, the processes ended when the block ends."""
    processes = start_sampling_processes(drawer, count)
    try:
        yield processes
    finally:
        for process in processes:
            process.close()


def result_of(future: Future) -> Any:
    """``future.result()``; ``UserError`` if its sampling process ended before it answered."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise UserError("a sampling process ended before it answered (out of memory?)") from error


def sampled_batches(
    processes: list[FunctionProcess],
    loop: Any,
    request: Callable[[], Any],
    device: torch.device,
) -> Iterator[Any]:
    """Iterate with ``loop`` (a :class:`~gfncompose.training.TrainingLoop`): each step's
    batch, drawn by ``processes`` from what ``request()`` makes when that batch is requested
    (``count`` steps ahead), as the module docstring describes, on ``device``."""
    count = len(processes)
    # requests for batches loop.start, loop.start + 1, ...: a resumed run's come from its carry
    requests = deque(loop.carry["requests"] if loop.carry else (request() for _ in range(count)))
    futures = deque(processes[(loop.start + i) % count].submit(r) for i, r in enumerate(requests))
    for step in loop:
        batch = result_of(futures.popleft())
        requests.popleft()
        requests.append(request())  # batch step + count (a base's: this step's parameters)
        futures.append(processes[step % count].submit(requests[-1]))
        loop.carry = {"requests": list(requests)}
        yield batch.to(device)


@contextlib.contextmanager
def batches_from_processes(
    drawer: Callable[[Any], Any],
    count: int,
    loop: Any,
    request: Callable[[], Any],
    device: torch.device,
) -> Iterator[Iterator[Any]]:
    """:func:`sampled_batches` of ``count`` processes running ``drawer``
    (:func:`start_sampling_processes`), ended when the block ends; ``UserError`` for a
    negative ``count``."""
    if count < 0:
        raise UserError(f"sampling_processes must be 0 or more, got {count}")
    with running(drawer, count) as processes:
        yield sampled_batches(processes, loop, request, device)
