"""The composition operators equal the formulas of Garipov et al. (DESIGN §3)."""

import math

import pytest
import torch

from gfncompose import compose, contrast, harmonic_mean, mixture
from gfncompose.composition import (
    composition_distribution,
    log_likelihood_bound,
    log_observation_likelihood,
)
from gfncompose.errors import UserError


@pytest.fixture
def dists():
    g = torch.Generator().manual_seed(1)
    return {n: torch.softmax(torch.randn(50, generator=g, dtype=torch.float64), 0) for n in "abc"}


def normalised(t):
    return t / t.sum()


@pytest.mark.parametrize("alpha", [0.5, 0.3, 0.05])
def test_harmonic_mean_formula(dists, alpha):
    p1, p2 = dists["a"], dists["b"]
    expected = normalised(p1 * p2 / (alpha * p1 + (1 - alpha) * p2))
    got = composition_distribution(dists, harmonic_mean("a", "b", alpha))
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("alpha", [0.5, 0.05])
def test_contrast_formula(dists, alpha):
    p1, p2 = dists["a"], dists["b"]
    expected = normalised(p1**2 / (alpha * p1 + (1 - alpha) * p2))
    got = composition_distribution(dists, contrast("a", "b", alpha))
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_three_base_compositions(dists):
    p1, p2, p3 = dists["a"], dists["b"], dists["c"]
    total = p1 + p2 + p3
    got = composition_distribution(dists, compose(y=("a", "b", "c")))
    torch.testing.assert_close(got, normalised(p1 * p2 * p3 / total**2), atol=1e-12, rtol=0)
    got = composition_distribution(dists, compose(y=("a", "a", "a"), bases=("a", "b", "c")))
    torch.testing.assert_close(got, normalised(p1**3 / total**2), atol=1e-12, rtol=0)


def test_unobserved_base_stays_in_mixture_and_denominators(dists):
    p1, p2, p3 = dists["a"], dists["b"], dists["c"]
    got = composition_distribution(dists, compose(y=("a", "b"), bases=("a", "b", "c")))
    torch.testing.assert_close(got, normalised(p1 * p2 / (p1 + p2 + p3)), atol=1e-12, rtol=0)


def test_mixture_is_the_average(dists):
    got = composition_distribution(dists, mixture("a", "b", "c"))
    torch.testing.assert_close(got, (dists["a"] + dists["b"] + dists["c"]) / 3)


def test_weights_by_name_match_weights_by_position(dists):
    by_name = compose(y=("a", "b"), weights=[{"a": 1, "b": 1}, {"a": 0.2, "b": 0.8}])
    assert by_name == harmonic_mean("a", "b", 0.2).__class__(
        by_name.bases, by_name.y, ((0.5, 0.5), (0.2, 0.8)), by_name.label
    )
    torch.testing.assert_close(
        composition_distribution(dists, by_name),
        composition_distribution(dists, harmonic_mean("a", "b", 0.2)),
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: harmonic_mean("a", "b", alpha=1.0), "alpha"),
        (lambda: contrast("a", "a"), "distinct"),
        (lambda: compose(y=("a", "z"), bases=("a", "b")), "'z' is not one of the bases"),
        (lambda: compose(y=("a", "b"), weights=[[1, 1]]), "1 weight vectors for 2"),
        (lambda: compose(y=("a",), weights=[[0, 1]], bases=("a", "b")), "weight 0"),
        (lambda: compose(y=("a",), weights=[[float("nan"), 1]], bases=("a", "b")), "non-neg"),
    ],
)
def test_bad_compositions_are_reported(make, message):
    with pytest.raises(UserError, match=message):
        make()


@pytest.mark.parametrize(
    "composition, exact_sup",
    [
        (harmonic_mean("a", "b"), 1 / 4),
        (contrast("a", "b", alpha=0.05), 1.0),
        (compose(y=("a", "b", "c")), 1 / 27),
        (harmonic_mean("a", "b", alpha=0.3), None),
        (compose(y=("a", "a", "b"), weights=[{"a": 1, "b": 3}] * 3), None),
        (compose(y=("a", "c"), bases=("a", "b", "c")), None),
    ],
    ids=lambda c: getattr(c, "label", None),
)
def test_likelihood_bound_covers_every_posterior_and_is_tight(composition, exact_sup):
    """The bound guided sampling divides ``Q`` by: at least the likelihood at every point
    of a fine grid over the simplex of posteriors, and at most 1% above the grid's best."""
    m = len(composition.bases)
    ticks = torch.linspace(0, 1, 201 if m == 3 else 20_001, dtype=torch.float64)
    if m == 2:
        grid = torch.stack([ticks, 1 - ticks], dim=1)
    else:
        a, b = torch.meshgrid(ticks, ticks, indexing="ij")
        inside = a + b <= 1
        grid = torch.stack([a[inside], b[inside], (1 - a - b)[inside].clamp_min(0)], dim=1)
    values = log_observation_likelihood(grid.log(), composition).nan_to_num(nan=-torch.inf)
    bound = log_likelihood_bound(composition)
    assert float(values.max()) <= bound
    assert bound <= float(values.max()) + math.log(1.01) + 1e-3
    if exact_sup is not None:
        assert math.exp(bound) == pytest.approx(min(1.0, 1.01 * exact_sup), rel=1e-4)
