"""The context the guided policy carries along a trajectory is the exact posterior of the
base given the states visited, ``w_i(τ) ∝ Π_t P_F^i(s_{t+1} | s_t)`` (DESIGN §3)."""

import torch

from gfncompose import GuidedPolicy, exact, harmonic_mean
from gfncompose.envs import AtomEnv


def transition_probability(env, policy, state, child_key) -> float:
    """``P_F(s' | s)`` by brute force: the probabilities of every allowed action of ``s``
    whose child has ``child_key``, summed (independent of ``env.log_transition``)."""
    probs = policy.log_probs([state]).exp()[0].double()
    moves = env.forward_mask([state])[0].nonzero().squeeze(1)
    moves = moves[moves != env.stop_action]
    keys = env.state_keys(env.step([state] * len(moves), moves))
    return sum(
        probs[a].item() for a, key in zip(moves.tolist(), keys, strict=True) if key == child_key
    )


def test_carried_context_is_the_posterior_of_the_base_given_the_path():
    """Molecules of at most 4 C/N/O atoms, where several actions often reach one child
    (symmetric atoms): every trajectory step of the guided sampler returns ``log w``
    equal to the brute-force posterior within 1e-5 (float32 sums of a few logs)."""
    env = AtomEnv(atoms=("C", "N", "O"), max_atoms=4)
    g = torch.Generator().manual_seed(3)
    bases = {name: exact.random_policy(env, g) for name in "ab"}
    policy = GuidedPolicy(
        bases, exact.classifier(env, bases), harmonic_mean("a", "b"), "successors"
    )
    n = 64
    states, context = env.initial_states(n), policy.initial_context(n)
    path_probs = torch.ones(n, 2, dtype=torch.float64)
    alive = torch.arange(n)
    collisions = 0
    while len(alive):
        actions, context = policy.sample_step(states, context)
        moving = (actions != env.stop_action).nonzero().squeeze(1)
        children = env.step(env.index(states, moving), actions[moving])
        for row, child in zip(moving.tolist(), children, strict=True):
            state = states[row]
            for i, base in enumerate(bases.values()):
                p = transition_probability(env, base, state, child.key)
                collisions += i == 0 and p > base.log_probs([state]).exp()[0, actions[row]] + 1e-6
                path_probs[alive[row], i] *= p
            expected = path_probs[alive[row]] / path_probs[alive[row]].sum()
            torch.testing.assert_close(context[row].exp().double(), expected, atol=1e-5, rtol=0)
        states, context, alive = children, context[moving], alive[moving]
    assert collisions > 0, "no step where several actions reached the same child"
