"""Rewards in other processes: a pool that scores molecules with copies of one reward
(:class:`ScoringPool`), and one process that computes a function while its caller goes on
(:class:`FunctionProcess`, a base's reward while the learner samples).

Molecules travel as canonical SMILES (the cache keys the parent has already
computed), so the parent only sends strings and the workers parse (and thereby
sanitize) them: the parent's share of the work stays small.

Used by ``CachedReward`` only for reward types and batch sizes where
``benchmarks/rewards.py`` measured a speed-up. Workers start with the
``forkserver`` method: forking a process that already runs torch threads can
deadlock, and the one-time start-up cost is paid once per reward. A worker exits on its
own when the process that owns it is gone, however that process ended (a Ray worker
is killed, not shut down), so no pool outlives its owner.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

from rdkit import Chem, rdBase


class UncachedScorer(Protocol):
    """What a worker needs of a reward (e.g. a ``CachedReward``): raw scores, no cache."""

    def score_uncached(self, mols: Sequence[Chem.Mol]) -> list[float]: ...


MAX_WORKERS = 8
"""Workers per pool at most: each is a process holding its own RDKit and torch imports,
and every reward that uses a pool has its own."""
CHUNKS_PER_WORKER = 4
"""Chunks per worker and batch: enough to even out slow molecules, few enough that
per-task overhead stays negligible."""

OWNER_POLL_SECONDS = 1.0
"""How often a pool worker checks that the process owning its pool is still alive."""

_worker_reward: UncachedScorer | None = None
_worker_function: Callable[[Any], Any] | None = None
_cpu_limit: int | None = None


def limit_workers(cpus: int | None) -> None:
    """Let the pools this process starts from now on use at most ``cpus`` CPUs (``None``:
    every CPU it may run on). A Ray task sets its allocation here, so that a reward in a
    one-CPU task scores serially instead of starting workers on CPUs other tasks hold."""
    global _cpu_limit
    _cpu_limit = cpus


def available_workers() -> int:
    """CPUs this process may run on, at most the limit set by :func:`limit_workers`."""
    cpus = len(os.sched_getaffinity(0))
    return cpus if _cpu_limit is None else min(cpus, _cpu_limit)


def _exit_with(owner: int) -> None:
    """Poll until process ``owner`` is gone, then end this worker at once."""
    while True:
        time.sleep(OWNER_POLL_SECONDS)
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(0)


def _install(reward: UncachedScorer, owner: int) -> None:
    global _worker_reward
    _worker_reward = reward
    threading.Thread(target=_exit_with, args=(owner,), daemon=True).start()


def _score_chunk(smiles: list[str]) -> list[float]:
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(text) for text in smiles]
    valid = [index for index, mol in enumerate(mols) if mol is not None]
    scores = [math.nan] * len(mols)
    raw = _worker_reward.score_uncached([mols[index] for index in valid])
    for index, score in zip(valid, raw, strict=True):
        scores[index] = score
    return scores


class ScoringPool:
    """One worker per available CPU (at most ``MAX_WORKERS``), each holding a copy of
    ``reward`` (sent once)."""

    def __init__(self, reward: UncachedScorer) -> None:
        self.workers = min(available_workers(), MAX_WORKERS)
        context = multiprocessing.get_context("forkserver")
        # The fork server imports the rewards once; each worker forked from it starts warm.
        context.set_forkserver_preload([__package__])
        self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_install,
            initargs=(reward, os.getpid()),
        )

    def score(self, smiles: list[str]) -> list[float]:
        """Raw scores of canonical ``smiles``, computed in the workers, in order; NaN
        where the reward fails or the SMILES does not parse (sanitize)."""
        size = -(-len(smiles) // (self.workers * CHUNKS_PER_WORKER))
        chunks = [smiles[start : start + size] for start in range(0, len(smiles), size)]
        return [value for chunk in self._executor.map(_score_chunk, chunks) for value in chunk]


def _install_function(function: Callable[[Any], Any], owner: int) -> None:
    global _worker_function
    _worker_function = function
    limit_workers(1)  # one process, one CPU: no pools of its own
    threading.Thread(target=_exit_with, args=(owner,), daemon=True).start()


def _call(argument: Any) -> Any:
    return _worker_function(argument)


class FunctionProcess:
    """``function`` (picklable, sent once) run in one separate process: :meth:`submit`
    returns at once with a future of its result, so the caller works meanwhile (a base's
    learner samples the next batch while this process computes the last one's reward)."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__package__])
        self._executor = ProcessPoolExecutor(
            1, mp_context=context, initializer=_install_function, initargs=(function, os.getpid())
        )

    def submit(self, argument: Any) -> Future:
        """A future of ``function(argument)``."""
        return self._executor.submit(_call, argument)

    def close(self) -> None:
        """End the process (calls not started are cancelled)."""
        self._executor.shutdown(cancel_futures=True)
