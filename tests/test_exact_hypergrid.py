"""Exact dynamic programming on the hypergrid: the math of DESIGN §3 and §6.1.

Tolerance 1e-6 in L1: policies and classifier tables are float32 (≈1e-7 per
entry after renormalisation), the DP (and, for the path-dependent guided policy, the
enumeration of every state path) runs in float64.
"""

import pytest
import torch

from gfncompose import GFlowNet, GuidedPolicy, compose, contrast, exact, harmonic_mean, mixture
from gfncompose.composition import composition_distribution
from gfncompose.envs import HyperGrid

EXACT_L1 = 1e-6


def l1(p, q):
    return (p - q).abs().sum().item()


@pytest.fixture(scope="module")
def env():
    return HyperGrid(ndim=2, horizon=8)


@pytest.fixture(scope="module")
def bases(env):
    g = torch.Generator().manual_seed(0)
    n = len(env.terminal_states())
    return {name: exact.optimal_policy(env, 2 * torch.randn(n, generator=g)) for name in "abc"}


@pytest.fixture(scope="module")
def clf(env, bases):
    return exact.classifier(env, bases)


def test_terminal_states_are_every_point_once(env):
    xs = env.terminal_states()
    assert xs.shape == (64, 2)
    assert len(set(env.state_keys(xs))) == 64


def test_optimal_policy_samples_reward_over_Z(env):
    log_r = torch.linspace(-3, 2, 64)[torch.randperm(64)]
    dist = exact.terminal_distribution(env, exact.optimal_policy(env, log_r))
    assert abs(dist.sum().item() - 1) < EXACT_L1
    assert l1(dist, torch.softmax(log_r.double(), 0)) < EXACT_L1


def test_parent_counts_match_uniform_backward_policy(env):
    counts = exact.parent_counts(env)
    graph = exact.state_graph(env)
    states = env.index(graph.states, torch.arange(1, len(counts)))
    torch.testing.assert_close(env.log_backward(states), -counts[1:].float().log())


@pytest.mark.parametrize("mode", ["successors", "action_head"])
@pytest.mark.parametrize(
    "composition",
    [
        harmonic_mean("a", "b"),
        harmonic_mean("a", "b", alpha=0.3),
        contrast("a", "b", alpha=0.5),
        contrast("a", "b", alpha=0.05),
        contrast("b", "a", alpha=0.05),
        compose(y=("a", "b", "c")),
        compose(y=("a", "a", "a"), bases=("a", "b", "c")),
        compose(y=("a", "b"), bases=("a", "b", "c")),  # c unobserved
        mixture("a", "b", "c"),
    ],
    ids=lambda c: c.label,
)
def test_guided_exact_classifier_reproduces_composition(env, bases, clf, composition, mode):
    guided = GuidedPolicy(bases=bases, classifier=clf, composition=composition, mode=mode)
    expected = composition_distribution(clf.terminal_distributions(), composition)
    assert l1(exact.terminal_distribution(env, guided), expected) < EXACT_L1


@pytest.mark.parametrize("mode", ["successors", "action_head"])
@pytest.mark.parametrize(
    "composition",
    [
        harmonic_mean("a", "b"),
        contrast("a", "b", 0.05),
        compose(y=("a", "b", "c")),
        compose(y=("a", "b"), bases=("a", "b", "c")),
        harmonic_mean("b", "c"),  # a sub-mixture of the classifier's bases
    ],
    ids=lambda c: c.label,
)
def test_guidance_is_exact_for_untrained_bases(env, composition, mode):
    """DESIGN §3: with the path posterior ``w(τ)`` and each base's own h-function the
    guided law telescopes to the composition for *any* bases; untrained networks do not
    satisfy trajectory balance with the shared P_B."""
    torch.manual_seed(1)
    nets = {name: GFlowNet(env, 32, 2) for name in "abc"}
    clf = exact.classifier(env, nets)
    guided = GuidedPolicy(bases=nets, classifier=clf, composition=composition, mode=mode)
    expected = composition_distribution(clf.terminal_distributions(), composition)
    assert l1(exact.terminal_distribution(env, guided), expected) < EXACT_L1


def test_mixture_chain_terminal_distribution_is_the_mixture(env, bases, clf):
    guided = GuidedPolicy(
        bases=bases, classifier=clf, composition=mixture("a", "b"), mode="successors"
    )
    dists = clf.terminal_distributions()
    assert l1(exact.terminal_distribution(env, guided), (dists["a"] + dists["b"]) / 2) < EXACT_L1


def test_sampled_distribution_is_within_the_noise_of_exact_draws(env, bases):
    """The Monte Carlo estimate for spaces too large to enumerate: 20,000 guided samples
    are as far from the exact guided law as 20,000 exact draws are, within a factor 2
    (each L1 is a random variable of relative spread well under 50% at this size)."""
    clf = exact.classifier(env, bases)
    guided = GuidedPolicy(bases, clf, harmonic_mean("a", "b"), mode="successors")
    law = exact.terminal_distribution(env, guided)
    g = torch.Generator().manual_seed(0)
    estimate = exact.sampled_distribution(env, guided, 20_000, batch_size=5_000, generator=g)
    assert abs(estimate.sum().item() - 1) < 1e-12
    assert l1(estimate, law) < 2 * exact.sampling_noise_l1(law, 20_000, generator=g)
