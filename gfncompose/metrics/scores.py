"""Metrics of the rewards of a sample: top-k and the high/low cells of reward pairs.

Rewards come per sample, ``[N]`` aligned with ``MoleculeSet.smiles``; invalid samples
are ignored. A molecule sampled several times counts once in the top-k (with the
reward of its first sample), so a sampler cannot fill its top-k with one molecule.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

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


def reward_cells(
    rewards: Mapping[str, np.ndarray], thresholds: Mapping[str, float]
) -> pd.DataFrame:
    """Fraction of samples in each high/low cell of every pair of thresholded rewards.

    ``rewards`` maps names to per-sample values, all ``[N]``; ``thresholds`` names the
    rewards to use and their thresholds. For each pair ``(x, y)`` of thresholded
    rewards, in the order of ``thresholds``, the four rows ``(high, high), (high, low),
    (low, high), (low, low)`` give the fraction of the ``N`` samples in the cell, so
    each pair's fractions sum to 1 (the table of the paper's molecule experiments).

    Returns:
        Tidy frame with columns ``reward_x, level_x, reward_y, level_y, fraction``,
        ``4 * P`` rows for ``P`` pairs.
    """
    missing = [name for name in thresholds if name not in rewards]
    if missing:
        raise ValueError(f"no rewards for the thresholded {missing}")
    n = len(next(iter(rewards.values()))) if rewards else 0
    high = {
        name: finite_rewards(rewards[name], n) >= threshold
        for name, threshold in thresholds.items()
    }
    rows = []
    for x, y in itertools.combinations(thresholds, 2):
        for level_x, level_y in itertools.product(LEVELS, LEVELS):
            in_x = high[x] if level_x == "high" else ~high[x]
            in_y = high[y] if level_y == "high" else ~high[y]
            fraction = float((in_x & in_y).mean()) if n else math.nan
            rows.append((x, level_x, y, level_y, fraction))
    return pd.DataFrame(rows, columns=["reward_x", "level_x", "reward_y", "level_y", "fraction"])
