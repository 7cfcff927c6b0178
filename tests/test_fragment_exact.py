"""Exact and learned GFlowNets on fragment spaces small enough to enumerate.

The symmetry treatment is proved here: with states keyed by canonical SMILES,
parents deduplicated by molecule and same-molecule actions summed, the
trajectory-balance-optimal policy samples molecules exactly ``∝ R``.
"""

import collections

import pytest
import torch
from rdkit import Chem

from gfncompose import GFlowNet, GuidedPolicy, contrast, exact, harmonic_mean
from gfncompose.composition import composition_distribution
from gfncompose.envs import FragmentEnv, Vocabulary
from gfncompose.envs.vocabulary import fragment_from_marked_smiles
from gfncompose.training import TrainConfig, train_gflownet

EXACT = 1e-6
"""The exact DP is float64 but the tabulated policy is float32: errors are ~1e-7."""


def make_env(marked, max_fragments):
    return FragmentEnv(Vocabulary(fragment_from_marked_smiles(m) for m in marked), max_fragments)


@pytest.fixture(scope="module")
def env():
    # methane and ethanol overlap (CCOCC is C+OCC+C or ...), ethanol joins itself in
    # non-symmetric ways that give one molecule (actions collide), pyridine has
    # equivalent positions; three fragments at most: 246 molecules
    return make_env(["*C", "*OCC*", "*c1ccncc1"], max_fragments=3)


def test_terminal_objects_are_distinct_canonical_smiles(env):
    keys = env.state_keys(env.terminal_states())
    assert len(keys) == len(set(keys)) == 246
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(k)) == k for k in keys)


def test_smallest_assembly_is_the_shortest_path(env):
    depth, frontier = {"": 0}, [env.initial_states(1)[0]]
    while frontier:
        found = []
        for state in frontier:
            moves = env.forward_mask([state])[0, : env.stop_action].nonzero().squeeze(1)
            for child in env.step([state] * len(moves), moves):
                if child.key not in depth:
                    depth[child.key] = depth[state.key] + 1
                    found.append(child)
        frontier = found
    for state in env.terminal_states():
        assert env.decomposition(state).min_fragments == depth[state.key]


def test_backward_policy_is_uniform_over_distinct_parents(env):
    graph = exact.state_graph(env)
    rest = env.index(graph.states, torch.arange(1, len(graph.index)))
    expected = -exact.parent_counts(env)[1:].double().log()
    assert torch.allclose(env.log_backward(rest).double(), expected)
    assert (exact.parent_counts(env)[1:] > 1).any()  # several assemblies do occur


def test_same_child_actions_are_exactly_the_actions_reaching_that_child(env):
    graph = exact.state_graph(env)
    collisions = 0
    for row, state in enumerate(graph.states):
        by_child = collections.defaultdict(list)
        for action in graph.mask[row, env.attach_offset : env.stop_action].nonzero().squeeze(1):
            action = int(action) + env.attach_offset
            by_child[int(graph.child[row, action])].append(action)
        for same in by_child.values():
            collisions += len(same) > 1
            for action in same:
                assert env.same_child_actions(state, action) == same
    assert collisions > 0


def test_optimal_policy_samples_molecules_proportionally_to_reward(env):
    g = torch.Generator().manual_seed(0)
    log_r = 2 * torch.randn(len(env.terminal_states()), generator=g, dtype=torch.float64)
    dist = exact.terminal_distribution(env, exact.optimal_policy(env, log_r))
    assert (dist - torch.softmax(log_r, 0)).abs().sum().item() < EXACT


@pytest.mark.parametrize(
    "composition, numerator, alpha",
    [
        (harmonic_mean("a", "b"), "p1 p2", 0.5),
        (contrast("a", "b"), "p1²", 0.5),
        (contrast("a", "b", 0.05), "p1²", 0.05),
    ],
    ids=lambda c: getattr(c, "label", None),
)
def test_exact_classifier_guidance_matches_the_composition_formula(
    env, composition, numerator, alpha
):
    g = torch.Generator().manual_seed(1)
    num_terminals = len(env.terminal_states())
    bases = {
        n: exact.optimal_policy(env, 2 * torch.randn(num_terminals, generator=g)) for n in "ab"
    }
    p1, p2 = (exact.terminal_distribution(env, bases[n]) for n in "ab")
    formula = (p1 * p2 if numerator == "p1 p2" else p1**2) / (alpha * p1 + (1 - alpha) * p2)
    formula = formula / formula.sum()
    assert torch.allclose(
        composition_distribution({"a": p1, "b": p2}, composition), formula, atol=1e-12
    )
    guided = GuidedPolicy(
        bases=bases,
        classifier=exact.classifier(env, bases),
        composition=composition,
        mode="successors",
    )
    got = exact.terminal_distribution(env, guided)
    assert (got - formula).abs().sum().item() < EXACT


def test_trajectory_balance_learns_molecules_proportionally_to_reward():
    # 13 molecules; CCO has two parents (C and CO) and CO + CO collides two actions
    env = make_env(["*C", "*CO*", "*c1ccccc1"], max_fragments=2)
    keys = env.state_keys(env.terminal_states())
    index = {k: i for i, k in enumerate(keys)}
    log_r = torch.randn(len(keys), generator=torch.Generator().manual_seed(0))
    target = torch.softmax(log_r.double(), 0)
    config = TrainConfig(steps=150, batch_size=16, epsilon=0.05, seed=0)
    model, _ = train_gflownet(
        GFlowNet(env, 32, 2),
        lambda x: log_r[torch.tensor([index[k] for k in env.state_keys(x)])],
        config,
        progress=False,
    )
    # measured: L1 ≈ 0.002-0.013 over three seeds at this budget; untrained ≈ 1.2
    assert (exact.terminal_distribution(env, model) - target).abs().sum().item() < 0.05
    assert abs(model.log_Z.item() - torch.logsumexp(log_r, 0).item()) < 0.05
