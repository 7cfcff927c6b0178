"""The loss's ``log P_F`` over the allowed actions only equals the dense policy's, on every
environment, symmetric transitions included."""

import pytest
import torch

from gfncompose import GFlowNet
from gfncompose.action_log_probs import MASKED
from gfncompose.envs import AtomEnv, FragmentEnv, HyperGrid
from gfncompose.sampler import sample_trajectories
from gfncompose.training import seeded
from gfncompose.trajectory_balance import trajectory_log_pf

ENVIRONMENTS = {
    "hypergrid": lambda: HyperGrid(ndim=2, horizon=6),
    "atoms": lambda: AtomEnv(max_atoms=5),
    "fragments": lambda: FragmentEnv(max_fragments=4),
}


def _trajectories(env):
    with seeded(0):
        gfn = GFlowNet(env, hidden=32, num_layers=2)
    generator = torch.Generator().manual_seed(0)
    return gfn, sample_trajectories(gfn, 24, epsilon=0.2, generator=generator)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_allowed_log_probs_are_the_dense_log_softmax_at_every_allowed_action(name):
    env = ENVIRONMENTS[name]()
    gfn, trajectories = _trajectories(env)
    states = trajectories.states
    dense = gfn.log_probs(states)
    rows, actions = env.forward_mask(states).nonzero(as_tuple=True)
    allowed = gfn.allowed_log_probs(states).at(rows, actions)
    torch.testing.assert_close(allowed, dense[rows, actions], rtol=0, atol=2e-5)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_trajectory_log_pf_and_its_gradient_equal_the_dense_computation(name):
    """Per trajectory ``Σ_t log P_F(s_{t+1} | s_t)``, each transition the sum over the
    actions making its child (``env.log_transition`` on the dense ``[N, A]``), and the
    gradient of their sum."""
    env = ENVIRONMENTS[name]()
    gfn, trajectories = _trajectories(env)
    dense_steps = env.log_transition(
        trajectories.states, gfn.log_probs(trajectories.states), trajectories.actions
    )
    dense = torch.zeros(len(trajectories.length)).index_add(0, trajectories.trajectory, dense_steps)
    dense_grad = torch.autograd.grad(dense.sum(), list(gfn.forward_policy.parameters()))
    sparse = trajectory_log_pf(gfn, trajectories)
    sparse_grad = torch.autograd.grad(sparse.sum(), list(gfn.forward_policy.parameters()))
    torch.testing.assert_close(sparse, dense, rtol=0, atol=1e-4)
    for got, expected in zip(sparse_grad, dense_grad, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4)


def test_the_symmetric_case_is_exercised():
    """Some atom transition above has several actions making its child, so the log-sum
    over ``transition_actions`` is tested, not only single actions."""
    env = ENVIRONMENTS["atoms"]()
    _, trajectories = _trajectories(env)
    rows, _ = env.transition_actions(trajectories.states, trajectories.actions)
    assert len(rows) > len(trajectories.actions)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_looking_up_pairs_gives_the_dense_entries_forbidden_ones_included(name):
    """``at`` reads any (state, action) pair: ``-inf`` where the state forbids the action."""
    env = ENVIRONMENTS[name]()
    gfn, trajectories = _trajectories(env)
    states = trajectories.states
    dense = gfn.log_probs(states)
    rows = torch.arange(len(dense)).repeat_interleave(env.num_actions)
    actions = torch.arange(env.num_actions).repeat(len(dense))
    looked_up = gfn.allowed_log_probs(states).at(rows, actions)
    assert (looked_up[dense.flatten() == MASKED] == MASKED).all()
    assert (dense == MASKED).any()
    torch.testing.assert_close(looked_up, dense.flatten(), rtol=0, atol=2e-5)
