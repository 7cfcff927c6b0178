"""Guided sampling by rejection (propose from the mixture, accept with ``Q``) draws exactly
from the guided policy ``P̃``: the same law as its dense ``log_probs``, on the grid with the
exact classifier and on molecules with learned networks, in both guidance modes."""

import pytest
import torch

from gfncompose import GuidedPolicy, compose, contrast, exact, harmonic_mean
from gfncompose import guided as guided_module
from gfncompose.classifier import Classifier
from gfncompose.composition import composition_distribution
from gfncompose.envs import AtomEnv, FragmentEnv, HyperGrid
from gfncompose.policy import GFlowNet, UniformPolicy
from gfncompose.sampler import sample_terminal, sample_trajectories


def assert_draws_follow(policy, states, draws_per_state: int):
    """Each state repeated ``draws_per_state`` times, with a random path posterior ``w``
    (the guided step depends on the path through it): action frequencies within five
    binomial standard errors (plus 1e-3) of ``exp(policy.log_probs(state, w))``, and the
    mean of ``log Σ_i P(i | a, τ) Q_i`` over the draws within five standard errors of its
    exact mean (a sharp check where hundreds of actions each get few draws)."""
    env = policy.env
    m = len(policy.bases)
    for row in range(len(states)):
        state = env.index(states, torch.tensor([row]))
        context = torch.log_softmax(2 * torch.randn(1, m), dim=1)
        probs = policy.log_probs(state, context).exp()[0].double()
        repeated = env.index(state, torch.zeros(draws_per_state, dtype=torch.long))
        actions, _ = policy.sample_step(repeated, context.expand(draws_per_state, m))
        freq = torch.bincount(actions, minlength=env.num_actions) / draws_per_state
        assert freq[probs == 0].sum() == 0, "drew an action of probability 0"
        se = (probs * (1 - probs) / draws_per_state).sqrt()
        assert ((freq - probs).abs() <= 5 * se + 1e-3).all()
        log_joint = torch.stack(
            [context[0, i] + base.log_probs(state)[0] for i, base in enumerate(policy.bases)], dim=1
        )
        log_q = torch.logsumexp(log_joint + policy.log_guidance(state)[0], 1)
        log_q = (log_q - torch.logsumexp(log_joint, 1)).double()
        log_q = log_q.masked_fill(probs == 0, 0.0).clamp_min(-50.0)
        mean = (probs * log_q).sum()
        sd = (probs * (log_q - mean) ** 2).sum().sqrt()
        assert abs(log_q[actions].mean() - mean) <= 5 * sd / draws_per_state**0.5 + 1e-6


@pytest.fixture(scope="module")
def grid():
    env = HyperGrid(ndim=2, horizon=6)
    g = torch.Generator().manual_seed(0)
    bases = {n: exact.optimal_policy(env, 3 * torch.randn(36, generator=g)) for n in "abc"}
    return env, bases, exact.classifier(env, bases)


@pytest.fixture(scope="module")
def random_grid():
    """Random tabular bases: they do not satisfy trajectory balance with the shared P_B."""
    env = HyperGrid(ndim=2, horizon=6)
    g = torch.Generator().manual_seed(1)
    bases = {n: exact.random_policy(env, g) for n in "ab"}
    return env, bases, exact.classifier(env, bases)


COMPOSITIONS = [
    harmonic_mean("a", "b", alpha=0.3),
    contrast("a", "b", alpha=0.05),
    compose(y=("a", "b", "c")),
]


@pytest.mark.parametrize("rounds", [guided_module.PROPOSAL_ROUNDS, (1,)], ids=["default", "1"])
@pytest.mark.parametrize("composition", COMPOSITIONS, ids=lambda c: c.label)
def test_rejection_draws_follow_the_dense_guided_policy_on_the_grid(
    grid, composition, rounds, monkeypatch
):
    """With one proposal per state, most states fall back to the dense policy: both
    paths, and their mixture, give the same law."""
    monkeypatch.setattr(guided_module, "PROPOSAL_ROUNDS", rounds)
    env, bases, clf = grid
    policy = GuidedPolicy(bases, clf, composition, mode="successors")
    states = sample_trajectories(UniformPolicy(env), 4).states
    assert_draws_follow(policy, states, draws_per_state=20_000)
    assert policy.stats.proposals > 0
    if rounds == (1,):
        assert policy.stats.dense > 0


@pytest.mark.parametrize("bases_kind", ["balanced", "random"])
def test_sampled_terminal_objects_follow_the_composition_formula(grid, random_grid, bases_kind):
    """End to end, through the sampler's path context: 40,000 guided samples of
    ``p_a ◑ p_b`` (α = 0.05) against the exact composition, for bases that satisfy
    trajectory balance and for random ones. Expected L1 of the empirical law at this
    size: ≈ 0.02."""
    env, bases, clf = grid if bases_kind == "balanced" else random_grid
    composition = contrast("a", "b", alpha=0.05)
    torch.manual_seed(0)
    n = 40_000
    x = sample_terminal(GuidedPolicy(bases, clf, composition, "successors"), n, batch_size=10_000)
    keys = torch.tensor(env.state_keys(x))
    empirical = torch.bincount(keys, minlength=36).double() / n
    expected = composition_distribution(clf.terminal_distributions(), composition)
    assert (empirical - expected).abs().sum() < 0.04


@pytest.mark.parametrize("mode", ["successors", "action_head"])
@pytest.mark.parametrize("env_type", ["atoms", "fragments"])
def test_rejection_draws_follow_the_dense_guided_policy_on_molecules(env_type, mode):
    """Learned (untrained, seeded) bases and classifier: the sampler's law is the
    policy's whatever the networks say. The classifier's weights are scaled by 1.5 so that
    ``Q`` varies across actions while most draws are still decided by rejection, not by
    the dense fallback."""
    torch.manual_seed(0)
    env = AtomEnv(max_atoms=6) if env_type == "atoms" else FragmentEnv(max_fragments=3)
    bases = {n: GFlowNet(env, hidden=32, num_layers=1) for n in "ab"}
    clf = Classifier(env, ["a", "b"], hidden=32, num_layers=1, num_atoms=4)
    with torch.no_grad():
        for parameter in clf.parameters():
            parameter.mul_(1.5)
    policy = GuidedPolicy(bases, clf, harmonic_mean("a", "b"), mode=mode)
    trajectories = sample_trajectories(UniformPolicy(env), 4)
    states = env.index(trajectories.states, torch.tensor([0, 1, 5]))
    with torch.no_grad():
        assert_draws_follow(policy, states, draws_per_state=3_000)
    assert policy.stats.dense < 0.5 * policy.stats.decisions
