"""Diversity on Tanimoto similarity of fingerprints: internal, top-k, modes.

Tanimoto distance is ``1 - s`` with ``s = |a ∧ b| / |a ∨ b|`` on the Morgan
fingerprints of ``MoleculeSet`` (radius 2, 2048 bits); modes use the RDKit path
fingerprint of the literature's mode counts. Pairs are evaluated with RDKit's bulk
similarity, one molecule against many, over *distinct* molecules weighted by how
often they were sampled, so repeats cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rdkit import DataStructs
from rdkit.SimDivFilters import rdSimDivPickers

from .molecules import MoleculeSet
from .scores import TOP_K, finite_rewards, top_k

DIVERSITY_SAMPLE_SIZE = 5000
"""Largest number of distinct molecules on which internal diversity is computed over
all pairs (12.5 M pairs, about a second); a larger set is estimated on a random
subsample of this many samples."""
MODE_SIMILARITY = 0.7
"""Default Tanimoto similarity (of RDKit path fingerprints) below which two
high-reward molecules are different modes (Bengio et al. 2021)."""


def tanimoto_matrix(
    a: Sequence[DataStructs.ExplicitBitVect], b: Sequence[DataStructs.ExplicitBitVect]
) -> np.ndarray:
    """Tanimoto similarities ``[len(a), len(b)]`` in ``[0, 1]`` of two fingerprint lists."""
    matrix = np.empty((len(a), len(b)))
    for row, fingerprint in enumerate(a):
        matrix[row] = DataStructs.BulkTanimotoSimilarity(fingerprint, b)
    return matrix


def mean_pairwise_distance(
    fingerprints: Sequence[DataStructs.ExplicitBitVect], counts: np.ndarray
) -> float:
    """Mean Tanimoto distance over all pairs of distinct samples, exactly.

    ``fingerprints`` are ``U`` distinct molecules, sampled ``counts[u]`` times (``[U]``
    ints, ``V = Σ counts``). Pairs of two samples of one molecule count with distance
    0, so the mean is ``2 Σ_{u<v} c_u c_v (1 - s_uv) / (V (V - 1))``, in ``[0, 1]``;
    NaN for fewer than two samples.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    if n < 2:
        return math.nan
    total = 0.0
    for u in range(len(fingerprints) - 1):
        similarity = np.asarray(
            DataStructs.BulkTanimotoSimilarity(fingerprints[u], fingerprints[u + 1 :])
        )
        total += counts[u] * float(counts[u + 1 :] @ (1.0 - similarity))
    return float(2.0 * total / (n * (n - 1.0)))


def internal_diversity(
    molecules: MoleculeSet, sample_size: int = DIVERSITY_SAMPLE_SIZE, seed: int = 0
) -> float:
    """Mean pairwise Tanimoto distance between the valid samples (repeats kept, so a
    sampler stuck on one molecule scores 0), in ``[0, 1]``; NaN for fewer than 2.

    Exact when the samples hold at most ``sample_size`` distinct molecules. Otherwise
    it is computed exactly on ``sample_size`` samples drawn uniformly without
    replacement (seeded by ``seed``): an unbiased estimate, since every pair of samples
    is equally likely to be in the subsample.
    """
    counts = molecules.counts
    rows = np.arange(len(counts))
    if len(counts) > sample_size:
        rng = np.random.default_rng(seed)
        drawn = rng.choice(molecules.n_valid, size=sample_size, replace=False)
        rows, counts = np.unique(molecules.unique_index[drawn], return_counts=True)
    return mean_pairwise_distance([molecules.fingerprints[u] for u in rows], counts)


def top_k_diversity(molecules: MoleculeSet, rewards: np.ndarray, k: int = TOP_K) -> float:
    """Mean pairwise Tanimoto distance among the ``k`` best distinct valid molecules
    (``scores.top_k``), in ``[0, 1]``; NaN if there are fewer than two."""
    rows = top_k(molecules, rewards, k)
    return mean_pairwise_distance([molecules.fingerprints[u] for u in rows], np.ones(len(rows)))


def number_of_modes(
    molecules: MoleculeSet,
    rewards: np.ndarray,
    reward_threshold: float,
    similarity_threshold: float = MODE_SIMILARITY,
) -> int:
    """Number of reward modes found by the sample, counted as the GFlowNet literature
    counts them (Bengio et al. 2021 and the ``NumModes`` metric of their code).

    The valid samples with reward at or above ``reward_threshold`` (for sEH: 7.5 or 8
    on the proxy's scale, i.e. 0.9375 or 1 on the reward ``proxy / 8``) are visited in
    sampling order; one is a new mode if the Tanimoto similarity of its RDKit path
    fingerprint (``MoleculeSet.path_fingerprints``, ``Chem.RDKFingerprint`` as in that
    code) to every mode kept so far is below ``similarity_threshold`` (in ``(0, 1]``).
    Visiting the distinct molecules in first-sampled order gives the same count (a
    repeat is never a new mode), at most the number of distinct molecules above the
    threshold. The greedy pass is RDKit's leader picker (sphere exclusion in the given
    order, at distance ``1 - similarity_threshold``), which runs it in C++.
    """
    if not 0.0 < similarity_threshold <= 1.0:
        raise ValueError(f"similarity_threshold must be in (0, 1], got {similarity_threshold}")
    per_molecule = molecules.unique_values(finite_rewards(rewards, len(molecules)))
    candidates = np.flatnonzero(per_molecule >= reward_threshold)
    if not len(candidates):
        return 0
    fingerprints = molecules.path_fingerprints(candidates)
    picker = rdSimDivPickers.LeaderPicker()
    return len(
        picker.LazyBitVectorPick(fingerprints, len(fingerprints), 1.0 - similarity_threshold)
    )
