"""The fragment environment: masks, steps, parents and encodings (property-based)."""

import math

import pytest
import torch
from conftest import SHARED_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from gfncompose.envs import FragmentEnv, Vocabulary, read_blocks_json
from gfncompose.envs.assembly import attachment_points
from gfncompose.envs.vocabulary import fragment_from_marked_smiles
from gfncompose.errors import UserError
from gfncompose.nets import build_action_readout, build_trunk
from gfncompose.policy import ForwardPolicy, masked_log_softmax

BLOCKS = SHARED_DATA / "blocks_PDB_105.json"


def vocabulary(*marked):
    return Vocabulary(fragment_from_marked_smiles(m) for m in marked)


@pytest.fixture(scope="module")
def default_env():
    return FragmentEnv()


def canonical(smiles):
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def check_state(env, state):
    """Everything that must hold at one reachable non-empty state."""
    assert Chem.MolFromSmiles(state.key) is not None
    assert canonical(state.key) == state.key
    parents = env.parents(state)
    assert parents
    assert env.log_backward([state]).item() == pytest.approx(-math.log(len(parents)))
    decomposition = env.decomposition(state)
    assert decomposition.min_fragments <= env.max_fragments
    # every parent leads forward back to the state, by an allowed action
    for cut in decomposition.leaf_cuts:
        if cut.parent_min_fragments >= env.max_fragments:
            continue
        assert canonical(cut.parent) == cut.parent
        parent = env.state(cut.parent)
        action = env.attach_action(parent, cut.parent_atom, cut.stem)
        assert env.forward_mask([parent])[0, action]
        assert env.step([parent], torch.tensor([action]))[0] == state
    if decomposition.fragment is not None:
        assert env.step(env.initial_states(1), torch.tensor([decomposition.fragment]))[0] == state


def walk(env, data, max_steps):
    """A random action sequence from ``s0``; checks each step and returns the states."""
    state, states = env.initial_states(1)[0], []
    for _ in range(max_steps):
        mask = env.forward_mask([state])[0]
        assert mask.any()
        assert bool(mask[env.stop_action]) == (state.num_atoms > 0)
        moves = mask[: env.stop_action].nonzero().squeeze(1).tolist()
        if not moves:  # at the fragment limit, or no atom left with a hydrogen to replace
            at_limit = env.decomposition(state).min_fragments == env.max_fragments
            assert at_limit or not attachment_points(state.mol, env.table.kinds)
            break
        action = data.draw(st.sampled_from(moves))
        child = env.step([state], torch.tensor([action]))[0]
        assert state.key in env.parents(child)
        assert action in env.same_child_actions(state, action)
        check_state(env, child)
        state = child
        states.append(state)
    return states


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_action_sequences_on_the_default_vocabulary(default_env, data):
    walk(default_env, data, default_env.max_fragments + 1)


@pytest.mark.skipif(not BLOCKS.is_file(), reason="../shared/data/blocks_PDB_105.json is absent")
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_action_sequences_on_the_literature_blocks(data):
    env = _blocks_env()
    walk(env, data, 5)


_BLOCKS_ENV = []


def _blocks_env():
    if not _BLOCKS_ENV:
        _BLOCKS_ENV.append(FragmentEnv(read_blocks_json(BLOCKS), max_fragments=4))
    return _BLOCKS_ENV[0]


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_small_fragments_reach_the_limit_exactly(data):
    # overlapping fragments: CCCC is CC+CC (2 fragments) or C+C+C+C (4)
    env = FragmentEnv(vocabulary("*C", "*CC*", "*CO"), max_fragments=3)
    for state in walk(env, data, 8):
        assert env.decomposition(state).min_fragments <= 3


def test_one_molecule_from_several_assemblies_is_one_state_with_distinct_parents():
    env = FragmentEnv(vocabulary("*C", "*CC*"), max_fragments=3)
    propane = env.state("CCC")  # CC+C or C+C+C: one state
    assert env.parents(propane) == {"C", "CC"}  # removing a methyl or an ethyl
    assert env.log_backward([propane]).item() == pytest.approx(-math.log(2))
    ethane = env.state("CC")  # a fragment itself, and C+C
    assert env.parents(ethane) == {"", "C"}


def test_the_fragment_limit_counts_the_smallest_assembly():
    env = FragmentEnv(vocabulary("*C", "*CC*"), max_fragments=2)
    butane = env.state("CCCC")  # CC+CC: two fragments, so it may not grow
    assert env.decomposition(butane).min_fragments == 2
    assert env.forward_mask([butane])[0].nonzero().squeeze(1).tolist() == [env.stop_action]
    # C+CCC would also give butane, but propane (CC+C) is at the limit and cannot grow
    assert env.parents(butane) == {"CC"}
    assert "CCCCC" not in env.state_keys(env.terminal_states())


def test_symmetric_attachment_points_are_offered_once():
    env = FragmentEnv(vocabulary("*c1ccccc1", "*C"), max_fragments=3)
    benzene, toluene = env.state("c1ccccc1"), env.state("Cc1ccccc1")

    def offered_slots(state):
        attach = env.forward_mask([state])[0, env.attach_offset : env.stop_action]
        return int(attach.view(env.num_slots, env.num_stems).all(1).sum())

    assert offered_slots(benzene) == 1  # six equivalent CH
    assert offered_slots(toluene) == 4  # methyl, ortho, meta, para
    assert len(env.table.fragments[0].stems) == 1


def test_actions_giving_the_same_molecule_share_their_probability():
    # ethanol's O-H taking ethanol by its CH2, or ethanol's CH2 taking ethanol by its O-H,
    # both give CCOC(C)O: different slots and stems, not related by any automorphism
    env = FragmentEnv(vocabulary("*C", "*OCC*"), max_fragments=3)
    state = env.state("CCO")
    mask = env.forward_mask([state])
    log_probs = masked_log_softmax(torch.randn(1, env.num_actions), mask)
    moves = mask[0, : env.stop_action].nonzero().squeeze(1).tolist()
    children = {a: env.step([state], torch.tensor([a]))[0] for a in moves}
    collisions = 0
    for action in moves:
        same = [a for a in moves if children[a] == children[action]]
        collisions += len(same) > 1
        assert env.same_child_actions(state, action) == same
        got = env.log_transition([state], log_probs, torch.tensor([action]))
        assert got.item() == pytest.approx(log_probs[0, same].logsumexp(0).item(), abs=1e-6)
    assert collisions == 6  # three pairs


def test_log_transition_of_a_batch_equals_the_dense_masked_logsumexp_and_its_gradient():
    # rows of one state with every move (three pairs of moves share a child) and of others:
    # the sparse per-row logsumexp must agree with the dense reference in value and gradient
    env = FragmentEnv(vocabulary("*C", "*OCC*"), max_fragments=3)
    states, actions = [], []
    for key in ("CCO", "CCOCCO", "C"):
        state = env.state(key)
        moves = env.forward_mask([state])[0].nonzero().squeeze(1).tolist()
        states += [state] * len(moves)
        actions += moves
    mask = env.forward_mask(states)
    logits = torch.randn(len(states), env.num_actions, requires_grad=True)
    log_probs = masked_log_softmax(logits, mask)
    got = env.log_transition(states, log_probs, torch.tensor(actions))
    same = torch.zeros_like(mask)
    for row, (state, action) in enumerate(zip(states, actions, strict=True)):
        same[row, env.same_child_actions(state, action)] = True
    assert (same.sum(1) > 1).any()
    expected = log_probs.masked_fill(~same, -math.inf).logsumexp(1)
    assert torch.allclose(got, expected, atol=1e-6)  # float32 rounding of a few terms
    weights = torch.randn(len(states))
    (gradient,) = torch.autograd.grad((got * weights).sum(), logits, retain_graph=True)
    (reference,) = torch.autograd.grad((expected * weights).sum(), logits)
    assert torch.allclose(gradient, reference, atol=1e-6)


def test_to_data_carries_features_and_slots(default_env):
    env = default_env
    # carbon dioxide: a molecule without attachment points
    keys = ["c1ccccc1", "CC(=O)Nc1ccncc1", "O=C=O"]
    states = [env.initial_states(1)[0], *(env.state(key) for key in keys)]
    batch = env.to_data(states)
    assert batch.num_graphs == 4
    assert batch.x.shape == (6 + 10 + 3, env.featurizer.num_atom_features)
    assert batch.slot_node.shape == (4, env.num_slots)
    assert (batch.slot_node[0] == -1).all() and (batch.slot_node[3] == -1).all()
    for row, state in enumerate(states[1:], start=1):
        nodes = batch.slot_node[row][batch.slot_node[row] >= 0]
        atoms = (nodes - batch.ptr[row]).tolist()
        assert atoms == attachment_points(state.mol, env.table.kinds)
        assert all(state.mol.GetAtomWithIdx(a).GetTotalNumHs() > 0 for a in atoms)


def test_readout_scores_every_action_and_takes_a_condition(default_env):
    env = default_env
    trunk, readout = build_trunk(env, 32, 2), build_action_readout(env, 32, 3)
    states = [env.initial_states(1)[0], env.state("Cc1ccccc1"), env.state("OC1CCNCC1")]
    encoding = trunk(env.to_data(states))
    out = readout(encoding, torch.randn(3, 32))
    assert out.shape == (3, env.num_actions, 3)
    out.sum().backward()
    assert readout.stem_embedding.weight.grad.abs().sum() > 0
    policy = ForwardPolicy(env, hidden=32, num_layers=1)
    log_probs = masked_log_softmax(policy(env.to_data(states)), env.forward_mask(states))
    assert torch.allclose(log_probs.exp().sum(1), torch.ones(3))
    # attach scores differ between slots and between fragments
    row = out[1, env.attach_offset : env.stop_action, 0].view(env.num_slots, env.num_stems)
    assert row[0].std() > 0 and row[:, 0][:3].std() > 0


def test_molecule_export_and_bad_limits(default_env):
    env = default_env
    states = [env.state("c1ccccc1"), env.state("CC(=O)O")]
    assert env.to_smiles(states) == ["c1ccccc1", "CC(=O)O"]
    assert [Chem.MolToSmiles(m) for m in env.to_mols(states)] == ["c1ccccc1", "CC(=O)O"]
    with pytest.raises(UserError, match="max_fragments"):
        FragmentEnv(max_fragments=0)


def test_default_layout_size(default_env):
    env = default_env
    assert env.num_actions == env.num_fragments + env.num_slots * env.num_stems + 1
    assert env.num_slots == 9 * env.table.max_attachments
