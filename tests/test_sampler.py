"""The action sampler draws from the given distribution and never a masked action; its
random stream can be given explicitly."""

from __future__ import annotations

import torch

from gfncompose import GuidedPolicy, exact, harmonic_mean
from gfncompose.envs import HyperGrid
from gfncompose.sampler import explore, sample_actions, sample_trajectories


def test_sample_actions_matches_the_probabilities_and_avoids_masked_actions():
    torch.manual_seed(0)
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2], [0.0, 0.0, 1.0, 0.0]])
    n = 200_000
    actions = sample_actions(probs.log().repeat_interleave(n, dim=0))
    first = torch.bincount(actions[:n], minlength=4) / n
    # Binomial standard error at n = 2e5 is at most 0.0012; 0.006 is five of them.
    assert (first - probs[0]).abs().max() < 0.006
    assert first[1] == 0
    assert (actions[n:] == 2).all()


def test_exploration_mixes_in_the_uniform_over_allowed_actions():
    probs = torch.tensor([[0.7, 0.0, 0.3, 0.0]], dtype=torch.float64)
    mixed = explore(probs, probs > 0, 0.2)
    expected = torch.tensor([[0.8 * 0.7 + 0.1, 0.0, 0.8 * 0.3 + 0.1, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(mixed, expected)


def test_an_explicit_generator_reproduces_samples_and_leaves_the_global_stream_alone():
    """Plain and guided policies: the same seeded generator gives the same trajectories,
    and sampling with it does not advance torch's global random stream."""
    env = HyperGrid(ndim=2, horizon=6)
    g = torch.Generator().manual_seed(0)
    bases = {name: exact.random_policy(env, g) for name in "ab"}
    guided = GuidedPolicy(
        bases, exact.classifier(env, bases), harmonic_mean("a", "b"), "successors"
    )
    for policy in (bases["a"], guided):
        global_state = torch.get_rng_state()
        first = sample_trajectories(policy, 32, generator=torch.Generator().manual_seed(7))
        second = sample_trajectories(policy, 32, generator=torch.Generator().manual_seed(7))
        assert torch.equal(torch.get_rng_state(), global_state)
        assert torch.equal(first.actions, second.actions)
        assert torch.equal(first.terminal, second.terminal)
        other = sample_trajectories(policy, 32, generator=torch.Generator().manual_seed(8))
        assert not torch.equal(other.terminal, first.terminal)
