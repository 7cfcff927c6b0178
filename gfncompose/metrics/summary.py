"""All metrics of one sample set as one table row."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .coverage import novelty, number_of_scaffolds, scaffold_entropy, uniqueness, validity
from .diversity import internal_diversity, number_of_modes, top_k_diversity
from .molecules import MoleculeSet
from .scores import TOP_K, finite_rewards, reward_cells, top_k_mean_reward


def cell_name(reward_x: str, level_x: str, reward_y: str, level_y: str) -> str:
    """Column of a reward cell in a summary row, e.g. ``qed=high,sa=low``."""
    return f"{reward_x}={level_x},{reward_y}={level_y}"


def summarize(
    molecules: MoleculeSet,
    scores: Mapping[str, np.ndarray] | None = None,
    thresholds: Mapping[str, float] | None = None,
    reference: MoleculeSet | None = None,
    k: int = TOP_K,
    seed: int = 0,
) -> dict[str, float]:
    """Every metric of ``molecules`` as one row ``{column: value}``.

    Columns, in order: ``samples`` (``N``), ``valid`` (``V``), ``unique`` (``U``),
    ``validity``, ``uniqueness``, ``novelty`` (only with a ``reference``),
    ``internal_diversity``, ``scaffolds``, ``scaffold_entropy``; for each score
    (``scores``: name -> ``[N]`` per-sample values) ``mean_<name>`` over the valid
    samples, ``top<k>_mean_<name>`` and ``top<k>_diversity_<name>``; for each of
    ``thresholds`` (names of scores -> threshold) ``modes_<name>`` (at the default mode
    similarity); and for each pair of thresholded scores the fraction of valid samples
    in each high/low cell, named by ``cell_name``. Undefined values (no valid sample)
    are NaN. ``seed`` fixes the subsample of ``internal_diversity`` on large sets.
    """
    scores = dict(scores or {})
    thresholds = dict(thresholds or {})
    unknown = [name for name in thresholds if name not in scores]
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
    for name, threshold in thresholds.items():
        row[f"modes_{name}"] = number_of_modes(molecules, scores[name], threshold)
    cells = reward_cells({name: valid_scores[name] for name in thresholds}, thresholds)
    for cell in cells.itertuples(index=False):
        row[cell_name(cell.reward_x, cell.level_x, cell.reward_y, cell.level_y)] = cell.fraction
    return row
