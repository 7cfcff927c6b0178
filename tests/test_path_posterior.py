"""The context the guided policy carries along a trajectory is the exact posterior of the
base given the states visited, ``w_i(τ) ∝ Π_t P_F^i(s_{t+1} | s_t)`` (DESIGN §3)."""

import pytest
import torch

from gfncompose import GuidedPolicy, compose, contrast, exact, harmonic_mean
from gfncompose.composition import composition_distribution
from gfncompose.envs import AtomEnv, FragmentEnv, HyperGrid, Vocabulary
from gfncompose.envs.vocabulary import fragment_from_marked_smiles

EXACT_L1 = 1e-6
"""Exact enumeration in float64 of float32 tables: errors are ~1e-7."""

SPACES = {
    "grid": lambda: HyperGrid(ndim=2, horizon=6),
    # 549 molecules of at most 4 C/N/O atoms, rings of 3 and 4
    "atoms": lambda: AtomEnv(atoms=("C", "N", "O"), max_atoms=4),
    # 246 molecules; overlapping and self-joining fragments, so actions collide
    "fragments": lambda: FragmentEnv(
        Vocabulary(fragment_from_marked_smiles(m) for m in ["*C", "*OCC*", "*c1ccncc1"]), 3
    ),
}


@pytest.fixture(scope="module", params=list(SPACES))
def random_bases(request):
    """An enumerable space and three random tabular bases on it: none satisfies trajectory
    balance with the shared P_B."""
    env = SPACES[request.param]()
    g = torch.Generator().manual_seed(2)
    return env, {name: exact.random_policy(env, g) for name in "abc"}


@pytest.mark.parametrize("mode", ["successors", "action_head"])
@pytest.mark.parametrize(
    "composition",
    [
        harmonic_mean("a", "b"),
        contrast("a", "b", alpha=0.05),
        compose(y=("a", "b", "c")),
        compose(y=("a", "b"), bases=("a", "b", "c")),  # c unobserved
        contrast("c", "b", alpha=0.05),  # a sub-mixture of the classifier's bases
    ],
    ids=lambda c: c.label,
)
def test_path_posterior_guidance_is_exact_for_random_bases(random_bases, composition, mode):
    """The guided law (every state path enumerated, the path posterior carried along)
    equals ``p_M · Π_k p(y_k | x)`` for bases trained to nothing, on the grid, atoms and
    fragments."""
    env, bases = random_bases
    clf = exact.classifier(env, bases)
    guided = GuidedPolicy(bases=bases, classifier=clf, composition=composition, mode=mode)
    formula = composition_distribution(clf.terminal_distributions(), composition)
    assert (exact.terminal_distribution(env, guided) - formula).abs().sum().item() < EXACT_L1


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
