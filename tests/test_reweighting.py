"""Reweighted mixture samples estimate a composition's law (checked on an enumerable space).

A space of ``X = 12`` objects with three bases ``a, b, c`` of known laws ``p_i`` and
two scores per object: the exact posterior ``p(i | x) = p_i(x) / Σ_j p_j(x)`` stands in
for the classifier, and ``composition_distribution`` gives the exact composed law.
"""

import math

import numpy as np
import pytest
import torch

from gfncompose.composition import compose, composition_distribution, contrast, harmonic_mean
from gfncompose.composition import mixture as mixture_of
from gfncompose.metrics import (
    composition_log_weights,
    effective_sample_size,
    reward_cells,
    reweighted_estimates,
    stratified_log_weights,
)

BASES = ("a", "b", "c")
X = 12
THRESHOLDS = {"qed": 0.5, "sa": 0.4}
COMPOSITIONS = [
    harmonic_mean("a", "b"),  # a sub-mixture of two of the three bases
    contrast("a", "c", alpha=0.3),
    compose(y=["a", "b", "c"]),
    compose(y=["b", "b"], weights=[{"b": 1, "c": 1}, {"b": 1, "c": 3}], bases=["b", "c"]),
    mixture_of("a", "c"),
]
IDS = [composition.label for composition in COMPOSITIONS]


@pytest.fixture(scope="module")
def space():
    """Integer counts per base (so ``p_i`` are exact fractions) and the scores ``[X]``."""
    rng = np.random.default_rng(0)
    counts = {name: rng.integers(1, 30, size=X) for name in BASES}
    scores = {name: rng.uniform(size=X) for name in THRESHOLDS}
    return counts, scores


def exact_law(counts, composition):
    laws = {name: torch.tensor(c / c.sum()) for name, c in counts.items()}
    return composition_distribution(laws, composition).numpy()


def exact_posterior(counts):
    """``p(i | x)``, ``[X, 3]``, over ``BASES``."""
    laws = np.stack([counts[name] / counts[name].sum() for name in BASES], axis=1)
    return laws / laws.sum(axis=1, keepdims=True)


def exact_estimates(counts, scores, composition):
    law = exact_law(counts, composition)
    row = {f"reweighted_mean_{name}": float(law @ values) for name, values in scores.items()}
    for cell, fraction in reward_cells(scores, THRESHOLDS, weights=law).items():
        row[f"reweighted_{cell}"] = fraction
    return row


@pytest.mark.parametrize("composition", COMPOSITIONS, ids=IDS)
def test_samples_in_exact_proportion_give_the_exact_law(space, composition):
    # each base's sample holds object x exactly counts[i][x] times: a perfect sample of
    # p_i, with unequal sizes, so the stratified design weights matter too
    counts, scores = space
    objects = np.concatenate([np.repeat(np.arange(X), counts[name]) for name in BASES])
    log_weights = composition_log_weights(
        exact_posterior(counts)[objects], BASES, composition
    ) + stratified_log_weights([counts[name].sum() for name in BASES])
    sampled = {name: values[objects] for name, values in scores.items()}
    estimates = reweighted_estimates(sampled, THRESHOLDS, log_weights)
    expected = exact_estimates(counts, scores, composition)
    for column, value in expected.items():
        assert estimates[column] == pytest.approx(value, abs=1e-12), column
    assert 0 < estimates["reweighted_ess"] <= len(objects)


@pytest.mark.parametrize("composition", COMPOSITIONS, ids=IDS)
def test_reweighted_mixture_samples_estimate_the_composition(space, composition):
    counts, scores = space
    rng = np.random.default_rng(1)
    per_base = 4000
    objects = np.concatenate(
        [rng.choice(X, size=per_base, p=counts[name] / counts[name].sum()) for name in BASES]
    )
    log_weights = composition_log_weights(exact_posterior(counts)[objects], BASES, composition)
    sampled = {name: values[objects] for name, values in scores.items()}
    estimates = reweighted_estimates(sampled, THRESHOLDS, log_weights)
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    for column, value in exact_estimates(counts, scores, composition).items():
        # delta-method standard error of a self-normalised estimate of E[f]: f is the
        # score or the indicator of the cell
        name = column.removeprefix("reweighted_mean_")
        if name in scores:
            f = sampled[name]
        else:
            levels = dict(part.split("=") for part in column.removeprefix("reweighted_").split(","))
            f = np.all(
                [(sampled[n] >= THRESHOLDS[n]) == (level == "high") for n, level in levels.items()],
                axis=0,
            )
        error = math.sqrt(float(weights**2 @ (f - estimates[column]) ** 2))
        # 4 standard errors: a 6e-5 chance per column for a Gaussian error; and the error
        # must be small enough for the comparison to mean something
        assert error < 0.02, column
        assert abs(estimates[column] - value) < 4 * error + 1e-12, column
    ess = estimates["reweighted_ess"]
    assert ess == pytest.approx(1 / float(weights @ weights))
    assert 100 < ess <= len(objects)


def test_the_full_mixture_weighs_its_equal_strata_equally(space):
    counts, _ = space
    rng = np.random.default_rng(2)
    objects = rng.integers(X, size=30)
    log_weights = composition_log_weights(
        exact_posterior(counts)[objects], BASES, mixture_of(*BASES)
    ) + stratified_log_weights([10, 10, 10])
    np.testing.assert_allclose(log_weights, log_weights[0], atol=1e-12)
    assert effective_sample_size(log_weights) == pytest.approx(30)


def test_weights_follow_the_formula_on_one_object():
    # p(a|x), p(b|x), p(c|x) = 0.5, 0.3, 0.2; harmonic_mean(a, b) over the sub-mixture
    # {a, b}: (0.5 + 0.3) * (0.5 / 0.8) * (0.3 / 0.8) = 0.1875
    posterior = np.array([[0.5, 0.3, 0.2], [0.0, 0.0, 1.0]])
    log_weights = composition_log_weights(posterior, BASES, harmonic_mean("a", "b"))
    assert log_weights[0] == pytest.approx(math.log(0.1875), abs=1e-12)
    assert log_weights[1] == -math.inf  # only c: no mass under a composition of a and b
    with pytest.raises(ValueError, match="bases \\['d'\\] are not among"):
        composition_log_weights(posterior, BASES, harmonic_mean("a", "d"))


def test_estimates_without_weight_are_undefined():
    estimates = reweighted_estimates(
        {"qed": np.array([0.7, 0.1])}, {"qed": 0.5}, np.array([-math.inf, -math.inf])
    )
    assert math.isnan(estimates["reweighted_mean_qed"])
    assert math.isnan(estimates["reweighted_qed=high"])
    assert estimates["reweighted_ess"] == 0.0
