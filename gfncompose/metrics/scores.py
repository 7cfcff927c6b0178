"""Metrics of the rewards of a sample: top-k and the joint high/low cells of the rewards.

Rewards come per sample, ``[N]`` aligned with ``MoleculeSet.smiles``; invalid samples
are ignored. A molecule sampled several times counts once in the top-k (with the
reward of its first sample), so a sampler cannot fill its top-k with one molecule.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np

from .molecules import MoleculeSet

TOP_K = 100
"""Default ``k`` of the top-k metrics (Bengio et al. 2021 report the top-10, -100 and
-1000 rewards)."""
LEVELS = ("high", "low")
"""Cell levels: ``high`` is a reward at or above its threshold, ``low`` below it."""


def finite_rewards(rewards: np.ndarray, n: int) -> np.ndarray:
    """``rewards`` as float64 ``[n]``; ``ValueError`` for another shape or a NaN/inf value."""
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.shape != (n,):
        raise ValueError(f"expected {n} rewards, one per SMILES; got shape {rewards.shape}")
    if not np.isfinite(rewards).all():
        raise ValueError(f"reward {rewards[~np.isfinite(rewards)][0]} is not a finite number")
    return rewards


def top_k(molecules: MoleculeSet, rewards: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Rows (into ``molecules.unique``) of the ``min(k, U)`` distinct valid molecules with
    the highest rewards, best first (ties in first-sampled order), ``[min(k, U)]`` ints."""
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    per_molecule = molecules.unique_values(finite_rewards(rewards, len(molecules)))
    return np.argsort(-per_molecule, kind="stable")[:k]


def top_k_mean_reward(molecules: MoleculeSet, rewards: np.ndarray, k: int = TOP_K) -> float:
    """Mean reward of the ``k`` best distinct valid molecules (all of them if fewer);
    NaN without valid molecules."""
    rows = top_k(molecules, rewards, k)
    if not len(rows):
        return math.nan
    return float(molecules.unique_values(np.asarray(rewards, dtype=np.float64))[rows].mean())


def cell_name(levels: Mapping[str, str]) -> str:
    """Column of a reward cell, its rewards' levels in order: ``{"qed": "high", "sa":
    "low"}`` is ``qed=high,sa=low``."""
    return ",".join(f"{name}={level}" for name, level in levels.items())


def reward_cells(
    rewards: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Fraction of samples in each joint high/low cell of the thresholded rewards.

    ``rewards`` maps names to per-sample values, all ``[N]``; ``thresholds`` names the
    ``k`` rewards to split and their thresholds. Each of the ``2^k`` cells fixes every
    one of them high or low (the paper's table of sEH × SA × QED has 8); cells are
    named by ``cell_name`` in the order of ``thresholds`` and listed high before low,
    e.g. ``qed=high,sa=high``, ``qed=high,sa=low``, ``qed=low,sa=high``,
    ``qed=low,sa=low``. ``weights`` (``[N]``, non-negative, default equal) make each
    fraction the weighted share ``Σ_{i in cell} w_i / Σ_i w_i``; the fractions sum to 1,
    or are all NaN without samples (or weight). No thresholds: no cells.
    """
    missing = [name for name in thresholds if name not in rewards]
    if missing:
        raise ValueError(f"no rewards for the thresholded {missing}")
    if not thresholds:
        return {}
    n = len(rewards[next(iter(thresholds))])
    weights = np.ones(n) if weights is None else finite_rewards(weights, n)
    high = np.stack(
        [finite_rewards(rewards[name], n) >= threshold for name, threshold in thresholds.items()]
    )
    total = weights.sum()
    cells = {}
    for levels in itertools.product(LEVELS, repeat=len(thresholds)):
        wanted = np.array([level == "high" for level in levels])[:, None]
        in_cell = (high == wanted).all(axis=0)
        fraction = float(weights[in_cell].sum() / total) if total > 0 else math.nan
        cells[cell_name(dict(zip(thresholds, levels, strict=True)))] = fraction
    return cells
