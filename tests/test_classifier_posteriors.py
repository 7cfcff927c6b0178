"""The base posteriors that label classifier training (DESIGN §3, Rao-Blackwellised labels)."""

import torch

from gfncompose import exact
from gfncompose.classifier_training import base_posteriors
from gfncompose.envs import HyperGrid
from gfncompose.exact import TabularPolicy, state_graph
from gfncompose.policy import masked_log_softmax
from gfncompose.sampler import sample_trajectories


def mixture_steps(bases, n):
    """``n`` trajectories of every base, and their steps flat, with global trajectory ids."""
    env = bases[0].env
    trajectories = [sample_trajectories(base, n) for base in bases]
    states = env.cat([t.states for t in trajectories])
    actions = torch.cat([t.actions for t in trajectories])
    step_traj = torch.cat([t.trajectory + k * n for k, t in enumerate(trajectories)])
    terminal = env.cat([t.terminal for t in trajectories])
    return trajectories, states, actions, step_traj, terminal


def random_policy(env, generator):
    """A tabular policy that satisfies no balance condition."""
    graph = state_graph(env)
    logits = 2 * torch.randn(graph.mask.shape, generator=generator)
    return TabularPolicy(env, masked_log_softmax(logits, graph.mask))


def test_posteriors_of_balanced_bases_are_the_exact_posteriors():
    """With bases that satisfy trajectory balance under the shared ``P_B``, the path
    posterior depends on the path only through its end: it is ``G(i | s)`` at every
    step and at the child each step makes (the generator heads' labels) and ``p(i | x)``
    for the whole trajectory (float32 sums: 1e-5)."""
    env = HyperGrid(ndim=2, horizon=6)
    g = torch.Generator().manual_seed(0)
    bases = {n: exact.optimal_policy(env, torch.randn(36, generator=g)) for n in "abc"}
    drawn, states, actions, step_traj, terminal = mixture_steps(list(bases.values()), 64)
    posterior = base_posteriors(list(bases.values()), drawn)
    truth = exact.classifier(env, bases)
    names = tuple(bases)
    torch.testing.assert_close(
        posterior.state, truth.log_generator_posterior(states, names).exp(), atol=1e-5, rtol=0
    )
    moved = (actions != env.stop_action).nonzero().squeeze(1)
    children = env.step(env.index(states, moved), actions[moved])
    torch.testing.assert_close(
        posterior.child[moved],
        truth.log_generator_posterior(children, names).exp(),
        atol=1e-5,
        rtol=0,
    )
    expected = truth.log_terminal_posterior(terminal, names).exp()[step_traj]
    torch.testing.assert_close(posterior.trajectory, expected, atol=1e-5, rtol=0)


def test_stop_weights_estimate_every_base_terminal_distribution_for_any_bases():
    """For bases that satisfy nothing, ``Σ_t stop[t, i] · [s_t = x]`` over trajectories
    of the uniform mixture, divided by the trajectories per base, is unbiased for
    ``p_i(x)``: the terminal head's loss is the cross-entropy on ``x ~ p_i``."""
    env = HyperGrid(ndim=2, horizon=4)
    g = torch.Generator().manual_seed(1)
    bases = [random_policy(env, g) for _ in range(2)]
    n = 20_000
    drawn, states, _, _, _ = mixture_steps(bases, n)
    posterior = base_posteriors(bases, drawn)
    keys = torch.tensor(env.state_keys(states))
    for i, base in enumerate(bases):
        estimate = torch.zeros(16, dtype=torch.float64)
        estimate.index_add_(0, keys, posterior.stop[:, i].double())
        # measured standard error of each cell: at most 0.003; 0.015 is five of them
        torch.testing.assert_close(
            estimate / n, exact.terminal_distribution(env, base), atol=0.015, rtol=0
        )
