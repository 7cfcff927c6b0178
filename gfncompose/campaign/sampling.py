"""The sampling stage: a sample set as chunks of fixed size, each with a seed of its own.

Chunk ``k`` of set ``NAME`` is drawn with a ``torch.Generator`` seeded by
:func:`chunk_seed` ``(campaign seed, NAME, k)``, so the molecules of a set do not depend on
how many workers sampled it, in which order, or whether a crash interrupted it: a rerun
samples only the chunks that are missing, and the set is the chunks concatenated in order.
The chunks are drawn here, in processes of this machine (:func:`sample_chunks_in_processes`,
a campaign's ``[sampling] processes``) or as tasks of a cluster.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import as_completed
from typing import Any, NamedTuple

import pandas as pd
import torch

from ..classifier import Classifier
from ..policy import Policy
from ..rewards import Reward
from ..sampler import sample_terminal
from ..sampling_processes import result_of, running
from .export import sample_table


def chunk_seed(seed: int, name: str, index: int) -> int:
    """The seed of chunk ``index`` of sample set ``name`` in a campaign seeded with ``seed``:
    64 bits of a hash of the three, so chunks draw independent streams."""
    digest = hashlib.sha256(f"{seed}/{name}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def chunk_sizes(count: int, chunk: int) -> list[int]:
    """Sizes of the chunks of a set of ``count`` molecules: ``chunk`` each, the last one
    smaller when ``chunk`` does not divide ``count``."""
    return [min(chunk, count - start) for start in range(0, count, chunk)]


class Chunk(NamedTuple):
    """One sampled chunk: its table (:func:`~gfncompose.campaign.export.sample_table`) and
    the seconds spent sampling it (rewards and posteriors excluded)."""

    table: pd.DataFrame
    seconds: float


@torch.no_grad()
def sample_chunk(
    policy: Policy,
    classifier: Classifier,
    rewards: Mapping[str, Reward],
    label: str,
    size: int,
    seed: int,
) -> Chunk:
    """``size`` molecules of ``policy`` (one batch), drawn with a generator seeded by ``seed``,
    as a table with every reward and the classifier's posterior ``p(i | x)`` over its bases."""
    env = policy.env
    generator = torch.Generator(device=env.device).manual_seed(seed)
    start = time.perf_counter()
    states = sample_terminal(policy, size, batch_size=size, generator=generator)
    seconds = time.perf_counter() - start
    posterior = classifier.log_terminal_posterior(states, classifier.base_names).exp()
    names = classifier.base_names
    return Chunk(sample_table(env.to_smiles(states), label, rewards, posterior, names), seconds)


class ChunkSampler:
    """:func:`sample_chunk` of one sample set for a ``(size, seed)``: what a sampling process
    runs. Picklable when the policy, classifier and rewards are (the environment's caches
    pickle empty: each process fills its own)."""

    def __init__(
        self, policy: Policy, classifier: Classifier, rewards: Mapping[str, Reward], label: str
    ):
        self.policy, self.classifier, self.rewards, self.label = policy, classifier, rewards, label

    def __call__(self, chunk: tuple[int, int]) -> Chunk:
        torch.set_num_threads(1)  # a sampling process takes one CPU
        return sample_chunk(self.policy, self.classifier, self.rewards, self.label, *chunk)


def sample_chunks_in_processes(
    sampler: ChunkSampler,
    chunks: Sequence[tuple[int, int, int]],
    done: Callable[[int, Chunk], Any],
    count: int,
) -> None:
    """Draw ``chunks`` (``(index, size, seed)`` each) in ``count`` processes of their own, each
    holding a copy of ``sampler``, calling ``done(index, chunk)`` here as each one finishes.
    The chunks are the ones drawn in this process (same seeds), so the set is too."""
    with running(sampler, min(count, len(chunks))) as processes:
        futures = {
            processes[k % len(processes)].submit((size, seed)): index
            for k, (index, size, seed) in enumerate(chunks)
        }
        for future in as_completed(futures):
            done(futures[future], result_of(future))
