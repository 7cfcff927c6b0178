"""The loss's ``log P_F`` over the allowed actions only equals the dense policy's, on every
environment, symmetric transitions included."""

import pytest
import torch

from gfncompose import GFlowNet
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
def test_log_probs_at_allowed_pairs_equal_the_dense_log_softmax(name):
    env = ENVIRONMENTS[name]()
    gfn, trajectories = _trajectories(env)
    states = trajectories.states
    dense = gfn.log_probs(states)
    rows, actions = env.forward_mask(states).nonzero(as_tuple=True)
    torch.testing.assert_close(
        gfn.log_probs_at(states, rows, actions), dense[rows, actions], rtol=0, atol=2e-5
    )


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


def test_a_pair_its_state_does_not_allow_is_refused():
    env = ENVIRONMENTS["hypergrid"]()
    gfn = GFlowNet(env, hidden=16, num_layers=1)
    corner = torch.tensor([[5, 0]])  # at the edge: moving right (action 0) is not allowed
    with pytest.raises(ValueError, match="does not allow"):
        gfn.log_probs_at(corner, torch.tensor([0]), torch.tensor([0]))
