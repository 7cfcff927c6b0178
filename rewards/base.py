"""The reward interface: a batch of RDKit molecules to strictly positive scores.

Every reward in this package is *higher is better* and has a documented
``value_range``. ``score`` returns float64 NumPy values (what the CLI writes and
what the tests compare with RDKit to 1e-9); calling the reward returns the same
values as a ``torch.float32`` tensor for the learning code, which applies the
reward exponent β to ``log R`` itself.

Molecules are scored once: ``CachedReward`` keeps a bounded LRU cache keyed by
canonical SMILES and, for rewards whose per-molecule cost makes it pay off (see
``benchmarks/rewards.py``), scores large batches of cache misses in a process pool.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from rdkit import Chem, rdBase

from ..errors import UserError
from ..lru import LRUCache
from .parallel import ScoringPool, available_workers

REWARD_FLOOR = 1e-6
"""Score of a molecule a reward cannot handle (``None``, no atoms, an RDKit failure)
and lower bound of every score. The learning code uses ``log R``, so rewards must be
strictly positive. At β = 1 a floored molecule is 10⁴ times less likely than one
scoring 0.01, while ``log(1e-6) ≈ -13.8`` keeps the trajectory-balance loss finite
(``ClippedReward`` raises the floor where a run needs it higher)."""

CACHE_SIZE = 200_000
"""Default number of molecules each reward remembers (a SMILES key and a float:
tens of MB at most), enough for the distinct molecules of a typical training run."""


def canonical_smiles(mol: Chem.Mol | None) -> str | None:
    """RDKit canonical SMILES of ``mol``; ``None`` for ``None``, an empty molecule,
    or a molecule RDKit cannot write."""
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    try:
        return Chem.MolToSmiles(mol)
    except RuntimeError:
        return None


def sanitized_copy(mol: Chem.Mol) -> Chem.Mol | None:
    """A sanitized copy of ``mol`` (the caller's molecule is left as it is); ``None`` if
    RDKit rejects it (e.g. a pentavalent carbon)."""
    copy = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(copy)
    except (RuntimeError, ValueError):
        return None
    return copy


def floored(value: float) -> float:
    """``value`` raised to ``REWARD_FLOOR``; NaN and ``±inf`` (a failed score) give the floor."""
    return value if math.isfinite(value) and value >= REWARD_FLOOR else REWARD_FLOOR


class Reward(ABC):
    """A positive, higher-is-better score of molecules.

    Attributes:
        name: the reward's label (the key in the config, or its registry name).
        value_range: ``(lo, hi)`` bounds of every score.
    """

    name: str
    value_range: tuple[float, float] = (REWARD_FLOOR, 1.0)
    pipelined: ClassVar[bool] = False
    """Whether base training computes this reward in a process of its own while it samples
    the next batch (:func:`~gfncompose.training.pipelined_batches`). A reward type that
    takes seconds per molecule (docking) sets it. The built-in rewards keep it off:
    ``benchmarks/pipelined_rewards.py`` measured 1.15–1.45x faster training with the learner
    on one of 2 CPUs, but with torch's default threads (the learner on both) 1.04x for QED
    and 0.72x for the sEH proxy on the literature's space (``benchmarks/RESULTS.md``)."""

    @abstractmethod
    def score(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        """Scores of ``B`` molecules: float64 ``[B]``, every entry in ``value_range``."""

    def __call__(self, mols: Sequence[Chem.Mol | None]) -> torch.Tensor:
        """Scores of ``B`` molecules as ``torch.float32`` ``[B]`` (strictly positive)."""
        return torch.from_numpy(self.score(mols)).float()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class LogRewardOfSmiles:
    """``log R`` of ``B`` SMILES as ``torch.float32`` ``[B]``: what a reward worker in its
    own process answers the learner (SMILES cross the process boundary, not molecules)."""

    def __init__(self, reward: Reward) -> None:
        self.reward = reward

    def __call__(self, smiles: Sequence[str]) -> torch.Tensor:
        with rdBase.BlockLogs():
            return self.reward([Chem.MolFromSmiles(text) for text in smiles]).log()


class CachedReward(Reward):
    """A reward computed one molecule at a time, cached by canonical SMILES.

    Subclasses implement ``score_mol`` (or ``score_uncached`` for a batched model).
    Each new molecule is scored on a sanitized copy; one that is ``None``, empty,
    fails sanitization, or makes the reward's RDKit calls raise gets ``REWARD_FLOOR``.

    Attributes:
        kind: registry name of the reward type.
        parallel_min_batch: number of cache misses from which a batch is scored in a
            process pool; ``None`` means never. Set per reward type to the smallest
            batch (of 64, 512, 4096) at which ``benchmarks/rewards.py`` measured the
            pool at least 1.2x faster than serial scoring on 2 CPUs.
    """

    kind: ClassVar[str]
    parallel_min_batch: ClassVar[int | None] = None

    def __init__(self) -> None:
        self.name = self.kind
        self._cache: LRUCache[str, float] = LRUCache(CACHE_SIZE)
        self._pool = None

    def clear_cache(self) -> None:
        """Forget every cached score."""
        self._cache = LRUCache(self._cache.maxsize)

    def score_mol(self, mol: Chem.Mol) -> float:
        """Raw score of one sanitized, non-empty molecule (may raise; may be below the floor)."""
        raise NotImplementedError

    def score_uncached(self, mols: Sequence[Chem.Mol]) -> list[float]:
        """Raw scores of sanitized, non-empty molecules, NaN where the reward fails on one."""
        scores = []
        with rdBase.BlockLogs():
            for mol in mols:
                try:
                    scores.append(self.score_mol(mol))
                except (RuntimeError, ValueError):
                    scores.append(math.nan)
        return scores

    def score(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        values = np.full(len(mols), REWARD_FLOOR)
        positions: dict[str, list[int]] = {}
        misses: list[Chem.Mol] = []
        with rdBase.BlockLogs():  # a molecule RDKit rejects gets the floor; no log noise
            for index, mol in enumerate(mols):
                key = canonical_smiles(mol)
                if key is None:
                    continue
                cached = self._cache.peek(key)
                if cached is not None:
                    values[index] = cached
                elif key in positions:
                    positions[key].append(index)
                else:
                    positions[key] = [index]
                    misses.append(mol)
        raw_scores = self._score_misses(list(positions), misses)
        for (key, indices), raw in zip(positions.items(), raw_scores, strict=True):
            value = floored(raw)
            self._cache.put(key, value)
            values[indices] = value
        return values

    def _score_misses(self, keys: list[str], mols: list[Chem.Mol]) -> list[float]:
        """Raw scores of new molecules (``keys``: their canonical SMILES), NaN for failures."""
        if self.parallel_min_batch is not None and len(mols) >= self.parallel_min_batch:
            if self._pool is None and available_workers() >= 2:
                self._pool = ScoringPool(self)
            if self._pool is not None:
                return self._pool.score(keys)
        with rdBase.BlockLogs():
            sanitized = [sanitized_copy(mol) for mol in mols]
        valid = [index for index, mol in enumerate(sanitized) if mol is not None]
        raw = np.full(len(mols), math.nan)
        raw[valid] = self.score_uncached([sanitized[index] for index in valid])
        return raw.tolist()

    def __getstate__(self) -> dict:
        # Pool workers get a copy of the reward without the pool (the cache pickles empty).
        state = self.__dict__.copy()
        state["_pool"] = None
        return state


def parse_smiles(smiles: Sequence[str]) -> list[Chem.Mol]:
    """Molecules of ``smiles``; ``UserError`` naming the first invalid entry and its index."""
    mols = []
    with rdBase.BlockLogs():
        for index, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text) if isinstance(text, str) and text.strip() else None
            if mol is None:
                raise UserError(f"invalid SMILES at index {index}: {text!r}")
            mols.append(mol)
    return mols


def score_smiles(reward: Reward, smiles: Sequence[str]) -> np.ndarray:
    """``reward.score`` of molecules given as SMILES: float64 ``[B]``.

    Raises ``UserError`` naming the first SMILES that RDKit cannot parse.
    """
    return reward.score(parse_smiles(smiles))
