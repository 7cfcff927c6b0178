"""The action sampler draws from the given distribution and never a masked action; its
random stream can be given explicitly."""

from __future__ import annotations

import torch

from gfncompose import GuidedPolicy, exact, harmonic_mean
from gfncompose.action_log_probs import MASKED, AllowedLogProbs
from gfncompose.categorical import explore, sample_actions, sample_rows
from gfncompose.envs import HyperGrid
from gfncompose.policy import GFlowNet, allowed_of
from gfncompose.sampler import draw_actions, sample_trajectories


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


def test_ragged_rows_are_drawn_by_their_weights_and_never_at_a_zero():
    """Three rows of 3, 1 and 4 values (zeros among them): each row's draws follow its
    weights (chi-squared over the positive cells, 5 degrees of freedom: 20.5 is its 0.999
    quantile), never land on a zero weight or in another row."""
    weights = torch.tensor([0.2, 0.0, 0.6, 5.0, 1.0, 0.0, 3.0, 4.0], dtype=torch.float64)
    rows = torch.tensor([0, 0, 0, 1, 2, 2, 2, 2])
    n = 100_000  # copies of the three rows, laid end to end
    copies = (rows[None, :] + 3 * torch.arange(n)[:, None]).flatten()
    generator = torch.Generator().manual_seed(0)
    drawn = sample_rows(weights.repeat(n), copies, 3 * n, generator=generator)[:, 0] % len(weights)
    assert torch.equal(rows[drawn], torch.arange(3 * n) % 3)  # each row draws its own
    counts = torch.bincount(drawn, minlength=len(weights)).double()
    expected = torch.cat([n * weights[rows == b] / weights[rows == b].sum() for b in range(3)])
    assert counts[weights == 0].sum() == 0
    positive = weights > 0
    chi2 = ((counts[positive] - expected[positive]) ** 2 / expected[positive]).sum()
    assert chi2 < 20.5


def test_exploration_mixes_in_the_uniform_over_each_state_s_allowed_actions():
    probs = torch.tensor([0.7, 0.0, 0.3, 1.0], dtype=torch.float64)
    rows = torch.tensor([0, 0, 0, 1])
    mixed = explore(probs, rows, 2, 0.3)
    expected = torch.tensor([0.7 * 0.7 + 0.1, 0.1, 0.7 * 0.3 + 0.1, 1.0], dtype=torch.float64)
    torch.testing.assert_close(mixed, expected)


class _FixedPolicy:
    """``P_F = (0.7, 0, 0.3)`` over (right, up, stop) at every hypergrid state: up is
    allowed at ``(0, 0)`` but has probability 0."""

    def __init__(self, env: HyperGrid):
        self.env = env

    def log_probs(self, states: torch.Tensor) -> torch.Tensor:
        row = torch.tensor([0.7, 0.0, 0.3]).log()
        return row.expand(len(states), -1).masked_fill(~self.env.forward_mask(states), MASKED)

    def allowed_log_probs(self, states: torch.Tensor) -> AllowedLogProbs:
        return allowed_of(self.log_probs(states), self.env.forward_mask(states))


def test_drawn_actions_follow_the_explored_policy_over_every_allowed_action():
    """At ``(0, 0)`` with ε = 0.3: ``0.7 P_F + 0.3 U``, so the allowed action of probability
    0 is drawn at rate 0.1 (and never without exploration); five binomial standard errors."""
    env = HyperGrid(ndim=2, horizon=4)
    n = 100_000
    states = env.initial_states(n)
    generator = torch.Generator().manual_seed(0)
    explored, _ = draw_actions(_FixedPolicy(env), states, 0.3, generator)
    rates = torch.bincount(explored, minlength=3) / n
    expected = torch.tensor([0.7 * 0.7 + 0.1, 0.1, 0.7 * 0.3 + 0.1])
    assert (rates - expected).abs().max() < 5 * (0.25 / n) ** 0.5
    plain, _ = draw_actions(_FixedPolicy(env), states, 0.0, generator)
    assert (plain != 1).all()


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


def test_trajectories_carry_the_policy_s_own_log_probs_of_each_step():
    """``step_log_pf``: at every step, in the trajectories' order (steps are drawn in lock-step
    batches, then grouped by trajectory), the policy's ``log P_F`` of the action taken and
    of stopping, before exploration; a path policy's draw has none."""
    env = HyperGrid(ndim=2, horizon=8)
    gfn = GFlowNet(env, hidden=16)
    trajectories = sample_trajectories(gfn, 32, 0.5, torch.Generator().manual_seed(0))
    allowed = gfn.allowed_log_probs(trajectories.states)
    rows = torch.arange(len(trajectories.actions))
    stop = torch.full_like(trajectories.actions, env.stop_action)
    expected = torch.stack([allowed.at(rows, a) for a in (trajectories.actions, stop)], dim=1)
    assert len(set(trajectories.length.tolist())) > 1  # the batches did shrink and reorder
    torch.testing.assert_close(trajectories.step_log_pf, expected, atol=1e-5, rtol=0)

    bases = {name: exact.random_policy(env, torch.Generator()) for name in "ab"}
    guided = GuidedPolicy(
        bases, exact.classifier(env, bases), harmonic_mean("a", "b"), "successors"
    )
    assert sample_trajectories(guided, 4).step_log_pf is None
