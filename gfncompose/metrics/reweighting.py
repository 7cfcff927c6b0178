"""What a composition's samples should show, estimated from samples of the mixture.

Molecule spaces cannot be enumerated, but the terminal classifier gives the weight of
any molecule under a composition relative to the mixture, up to a constant. With the
campaign's ``m`` bases, ``p_M = (1/m) Σ_j p_j`` and the mixture posterior
``p(i | x) = p_i(x) / Σ_j p_j(x)`` (the ``posterior_NAME`` columns of a sample table),
a composition over the bases ``S`` (all of them or fewer) is

    p̃(x) ∝ p_S(x) · Π_k p_S(y_k | x),   p_S = (1/|S|) Σ_{i∈S} p_i,

so ``p̃(x) / p_M(x) ∝ Σ_{i∈S} p(i | x) · Π_k p_S(y_k | x)``: the first factor is
``(|S|/m) p_S(x) / p_M(x)``, and ``p_S(y_k = i | x) = ω_i p(i | x) / Σ_{j∈S} ω_j p(j | x)``
is the composition's likelihood of ``p(· | x)`` restricted to ``S`` (the ``p_j(x)``
share the denominator ``Σ_j p_j(x)``, which cancels). Weighting mixture samples by it
and normalising the weights (self-normalised importance sampling) estimates the
composition's reward means and high/low cells, whatever constant is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..composition import Composition, log_observation_likelihood
from .scores import finite_rewards, reward_cells

PREFIX = "reweighted_"
"""Prefix of the estimates' columns, beside the guided set's own ``mean_<name>`` and cells."""


def composition_log_weights(
    posterior: np.ndarray, base_names: Sequence[str], composition: Composition
) -> np.ndarray:
    """``log p̃(x) / p_M(x)`` up to one constant, for ``N`` samples of the mixture.

    Args:
        posterior: ``[N, m]``, the mixture posterior ``p(i | x)`` of each sample over
            ``base_names`` (every base of the mixture that was sampled).
        composition: over ``S ⊆ base_names``; the weight is
            ``log Σ_{i∈S} p(i | x) + Σ_k log p_S(y_k | x)`` (module docstring), the
            likelihood from ``gfncompose.composition.log_observation_likelihood``.

    Returns:
        ``[N]`` float64; ``-inf`` where ``p̃`` has no mass (``p(i | x) = 0`` on ``S``).
    """
    missing = [name for name in composition.bases if name not in base_names]
    if missing:
        raise ValueError(f"{composition.label}: bases {missing} are not among {list(base_names)}")
    columns = [list(base_names).index(name) for name in composition.bases]
    restricted = torch.as_tensor(np.asarray(posterior, dtype=np.float64))[:, columns]
    mass = restricted.sum(dim=1)
    log_likelihood = log_observation_likelihood(restricted.log(), composition)
    # A row without mass on S gives NaN in the likelihood; p̃ is 0 there.
    return torch.where(mass > 0, mass.log() + log_likelihood, -math.inf).numpy()


def stratified_log_weights(counts: Sequence[int]) -> np.ndarray:
    """Log design weights ``[Σ_i n_i]`` of the pooled samples of the ``m`` bases, ``n_i``
    from base ``i`` in that order: each sample of base ``i`` weighs ``1 / n_i``, so every
    base carries the mass ``1/m`` it has in ``p_M`` (equal counts: equal weights, the
    pooled samples are then a stratified sample of ``p_M``)."""
    return np.concatenate([np.full(n, -math.log(n)) for n in counts if n > 0])


def effective_sample_size(log_weights: np.ndarray) -> float:
    """Kish's effective sample size ``(Σ w)² / Σ w²`` of the weights ``exp(log_weights)``
    (``[N]``): ``N`` for equal weights, 1 when one sample carries all; 0 without weight."""
    weights = _weights(log_weights)
    total = weights.sum()
    return float(total**2 / (weights**2).sum()) if total > 0 else 0.0


def reweighted_estimates(
    scores: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    log_weights: np.ndarray,
) -> dict[str, float]:
    """Self-normalised estimates of each score's mean and of each joint high/low cell
    under the law that ``exp(log_weights)`` reweights the samples to.

    Args:
        scores: name -> per-sample values ``[N]`` (the valid samples of the mixture).
        thresholds: the thresholded scores whose ``2^k`` cells to estimate
            (``reward_cells``).
        log_weights: ``[N]``, e.g. ``composition_log_weights`` plus
            ``stratified_log_weights``.

    Returns:
        ``reweighted_mean_<name>`` per score, ``reweighted_<cell>`` per cell and
        ``reweighted_ess`` (``effective_sample_size``); estimates are NaN without weight.
    """
    n = len(log_weights)
    weights = _weights(log_weights)
    total = weights.sum()
    row = {}
    for name, values in scores.items():
        values = finite_rewards(values, n)
        row[f"{PREFIX}mean_{name}"] = float(weights @ values / total) if total > 0 else math.nan
    for cell, fraction in reward_cells(scores, thresholds, weights).items():
        row[PREFIX + cell] = fraction
    row[f"{PREFIX}ess"] = effective_sample_size(log_weights)
    return row


def _weights(log_weights: np.ndarray) -> np.ndarray:
    """``exp(log_weights - max)``: the same weights up to a constant, without overflow."""
    log_weights = np.asarray(log_weights, dtype=np.float64)
    if not len(log_weights) or np.isneginf(log_weights).all():
        return np.zeros(len(log_weights))
    return np.exp(log_weights - log_weights.max())
