"""Scoring selected (state, action) pairs: equal to the dense readout, and what makes the
classifier's action head affordable on fragments (DESIGN §3, action-head guidance)."""

import pytest
import torch

from gfncompose import GuidedPolicy, harmonic_mean
from gfncompose.classifier import Classifier
from gfncompose.envs import AtomEnv, FragmentEnv, HyperGrid
from gfncompose.guided import PAIRS_PER_CALL
from gfncompose.nets import build_action_readout, build_trunk
from gfncompose.policy import UniformPolicy
from gfncompose.sampler import sample_trajectories
from gfncompose.training import ClassifierConfig, train_classifier

HIDDEN = 32
CHANNELS = 5


@pytest.fixture(scope="module")
def fragment_env():
    return FragmentEnv()


@pytest.fixture(params=["hypergrid", "atoms", "fragments"])
def env(request, fragment_env):
    if request.param == "hypergrid":
        return HyperGrid(ndim=3, horizon=5)
    if request.param == "atoms":
        return AtomEnv(max_atoms=8)
    return fragment_env


def test_pairs_equal_the_dense_readout_with_their_gradients(env):
    """Every allowed action of states along random trajectories (stop, first atom or
    fragment, node, pair and attach actions), shuffled and repeated: values and the
    gradients they send to every parameter match the dense ``[B, A, C]`` path."""
    states = sample_trajectories(UniformPolicy(env), 4).states
    trunk = build_trunk(env, HIDDEN, 2)
    readout = build_action_readout(env, HIDDEN, CHANNELS)
    encoding = trunk(env.to_data(states))
    cond = torch.randn(len(encoding.graph), HIDDEN)
    rows, actions = env.forward_mask(states).nonzero(as_tuple=True)
    order = torch.randperm(len(rows))
    order = torch.cat([order, order[: len(order) // 3]])
    rows, actions = rows[order], actions[order]
    weight = torch.randn(len(rows), CHANNELS)

    sparse = readout(encoding, cond, pairs=(rows, actions))
    dense = readout(encoding, cond)
    assert sparse.shape == (len(rows), CHANNELS)
    torch.testing.assert_close(sparse, dense[rows, actions], rtol=0, atol=1e-5)

    params = list(trunk.parameters()) + list(readout.parameters())
    grads_sparse = torch.autograd.grad(
        (sparse * weight).sum(), params, retain_graph=True, allow_unused=True
    )
    grads_dense = torch.autograd.grad(
        (dense[rows, actions] * weight).sum(), params, allow_unused=True
    )
    # gradients sum hundreds of float32 terms in a different order on each path
    for g_sparse, g_dense in zip(grads_sparse, grads_dense, strict=True):
        if g_dense is None:
            assert g_sparse is None or not g_sparse.any()
        else:
            torch.testing.assert_close(g_sparse, g_dense, rtol=1e-3, atol=1e-4)


def test_no_pairs_give_an_empty_score(env):
    states = env.initial_states(2)
    readout = build_action_readout(env, HIDDEN, CHANNELS)
    encoding = build_trunk(env, HIDDEN, 2)(env.to_data(states))
    empty = torch.zeros(0, dtype=torch.long)
    assert readout(encoding, pairs=(empty, empty)).shape == (0, CHANNELS)


def _record_action_head(classifier):
    """Shapes of every action-head output, with the number of pairs asked for."""
    calls = []

    def hook(module, args, kwargs, output):
        calls.append((len(kwargs["pairs"][0]), tuple(output.shape)))

    classifier.action_head.register_forward_hook(hook, with_kwargs=True)
    return calls


def test_fragment_classifier_scores_only_the_taken_and_the_allowed_actions(fragment_env):
    """Classifier training and action-head guidance on the 20,033-action fragment layout
    ask the action head for ``K`` pairs and get ``[K, channels]``, never ``[B, A, ·]``."""
    env = fragment_env
    names = ["a", "b", "c"]
    torch.manual_seed(0)
    clf = Classifier(env, names, n_observations=2, hidden=HIDDEN, num_layers=1, num_atoms=4)
    channels = 3 + 3 * 4 * (1 + 3)  # m + m·R·(1+m): the generator and joint heads at the child
    calls = _record_action_head(clf)
    bases = {n: UniformPolicy(env) for n in names}
    history = train_classifier(clf, bases, ClassifierConfig(steps=2, batch_size=4), progress=False)
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    # one call per step; at most the steps of 3 × 4 trajectories of ≤ 9 fragments + stop
    assert len(calls) == 2
    assert all(shape == (k, channels) and 0 < k <= 3 * 4 * 9 for k, shape in calls)

    calls.clear()
    states = sample_trajectories(bases["a"], 3).states
    mask = env.forward_mask(states)
    guided = GuidedPolicy(bases, clf, harmonic_mean("a", "c"), mode="action_head")
    log_q = guided.log_guidance(states)  # [B, A, m]: Q_i of each child, per base
    moves = int(mask.sum() - mask[:, env.stop_action].sum())
    # every allowed move scored once, in calls of at most PAIRS_PER_CALL pairs
    assert sum(k for k, _ in calls) == moves
    assert all(shape == (k, channels) and k <= PAIRS_PER_CALL["action_head"] for k, shape in calls)
    assert log_q.shape == (*mask.shape, 2)
    assert torch.isneginf(log_q[~mask]).all() and torch.isfinite(log_q[mask]).all()


def test_successors_mode_encodes_children_in_bounded_calls(fragment_env, monkeypatch):
    """In ``successors`` mode every scored pair is a child graph to build and encode, so a call
    takes at most ``PAIRS_PER_CALL["successors"]`` of them; the scores do not depend on it."""
    env = fragment_env
    torch.manual_seed(0)
    clf = Classifier(env, ["a", "b"], n_observations=2, hidden=HIDDEN, num_layers=1).eval()
    bases = {n: UniformPolicy(env) for n in ("a", "b")}
    guided = GuidedPolicy(bases, clf, harmonic_mean("a", "b"), mode="successors")
    walk = sample_trajectories(bases["a"], 1, generator=torch.Generator().manual_seed(1)).states
    states = env.index(walk, torch.tensor([0, 1]))  # s0 and one fragment: a few hundred children
    whole = guided.log_guidance(states)

    sizes = []
    encode = clf.log_Q_bases

    def counted(children, composition):
        sizes.append(len(children))
        return encode(children, composition)

    monkeypatch.setitem(PAIRS_PER_CALL, "successors", 7)
    monkeypatch.setattr(clf, "log_Q_bases", counted)
    chunked = guided.log_guidance(states)
    moves = int(env.forward_mask(states)[:, : env.stop_action].sum())
    assert sum(sizes) == moves and max(sizes) <= 7 and len(sizes) >= moves // 7
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
