"""All metrics of one sample set as one table row."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .coverage import novelty, number_of_scaffolds, scaffold_entropy, uniqueness, validity
from .diversity import internal_diversity, number_of_modes, top_k_diversity
from .molecules import MoleculeSet
from .scores import TOP_K, finite_rewards, reward_cells, top_k_mean_reward


def summarize(
    molecules: MoleculeSet,
    scores: Mapping[str, np.ndarray] | None = None,
    thresholds: Mapping[str, float] | None = None,
    reference: MoleculeSet | None = None,
    k: int = TOP_K,
    seed: int = 0,
    mode_thresholds: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Every metric of ``molecules`` as one row ``{column: value}``.

    Columns, in order: ``samples`` (``N``), ``valid`` (``V``), ``unique`` (``U``),
    ``validity``, ``uniqueness``, ``novelty`` (only with a ``reference``),
    ``internal_diversity``, ``scaffolds``, ``scaffold_entropy``; for each score
    (``scores``: name -> ``[N]`` per-sample values) ``mean_<name>`` over the valid
    samples, ``top<k>_mean_<name>`` and ``top<k>_diversity_<name>``; for each of
    ``thresholds`` (names of scores -> threshold) and of ``mode_thresholds``
    ``modes_<name>``: the modes (``number_of_modes``) with reward at or above its
    ``mode_thresholds`` entry (default: its threshold); and the fraction of valid
    samples in each of the ``2^k`` joint high/low cells of the ``k`` thresholded scores
    (``reward_cells``), e.g. ``qed=high,sa=low``. Undefined values (no valid sample)
    are NaN. ``seed`` fixes the subsample of ``internal_diversity`` on large sets.
    """
    scores = dict(scores or {})
    thresholds = dict(thresholds or {})
    mode_thresholds = {**thresholds, **(mode_thresholds or {})}
    unknown = [name for name in mode_thresholds if name not in scores]
    if unknown:
        raise ValueError(f"thresholds for {unknown}, which are not among the scores")
    row: dict[str, float] = {
        "samples": len(molecules),
        "valid": molecules.n_valid,
        "unique": len(molecules.unique),
        "validity": validity(molecules),
        "uniqueness": uniqueness(molecules),
    }
    if reference is not None:
        row["novelty"] = novelty(molecules, reference)
    row["internal_diversity"] = internal_diversity(molecules, seed=seed)
    row["scaffolds"] = number_of_scaffolds(molecules)
    row["scaffold_entropy"] = scaffold_entropy(molecules)
    valid_scores = {
        name: finite_rewards(values, len(molecules))[molecules.valid]
        for name, values in scores.items()
    }
    for name, values in scores.items():
        row[f"mean_{name}"] = float(valid_scores[name].mean()) if molecules.n_valid else math.nan
        row[f"top{k}_mean_{name}"] = top_k_mean_reward(molecules, values, k)
        row[f"top{k}_diversity_{name}"] = top_k_diversity(molecules, values, k)
    for name, threshold in mode_thresholds.items():
        row[f"modes_{name}"] = number_of_modes(molecules, scores[name], threshold)
    row.update(reward_cells(valid_scores, thresholds))
    return row
