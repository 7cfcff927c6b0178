"""The GNN trunk and the atom environment's action readout."""

import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from gfncompose import GFlowNet, harmonic_mean
from gfncompose.classifier import Classifier
from gfncompose.envs import AtomEnv
from gfncompose.envs.atoms import ADD_ATOM, ADD_BOND
from gfncompose.envs.molecule import EMPTY, state_from_smiles
from gfncompose.nets import build_action_readout, build_trunk
from gfncompose.nets.gnn import GraphEncoding

HIDDEN = 32


@pytest.fixture(scope="module")
def env():
    return AtomEnv(max_atoms=8)


@pytest.fixture(scope="module")
def states():
    return [EMPTY, state_from_smiles("CCO"), state_from_smiles("c1ccoc1"), state_from_smiles("C#N")]


@pytest.mark.parametrize("channels", [1, 5])
def test_readout_gives_channels_per_action_in_the_flat_layout(env, states, channels):
    trunk = build_trunk(env, HIDDEN, 2)
    readout = build_action_readout(env, HIDDEN, channels)
    encoding = trunk(env.to_data(states))
    assert isinstance(encoding, GraphEncoding)
    assert encoding.graph.shape == (4, HIDDEN) and encoding.node.shape == (10, HIDDEN)
    cond = torch.randn(4, HIDDEN)
    out = readout(encoding, cond)
    assert out.shape == (4, env.num_actions, channels)
    assert torch.isfinite(out).all()


def test_policy_is_a_categorical_over_allowed_actions(env, states):
    log_probs = GFlowNet(env, HIDDEN, 2).log_probs(states)
    mask = env.forward_mask(states)
    assert torch.isneginf(log_probs[~mask]).all() and torch.isfinite(log_probs[mask]).all()
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(4))


def test_node_embedding_changes_only_the_actions_of_that_atom(env, states):
    """Perturbing atom 1 of graph 2 moves add-atom on atom 1 and the bonds of pairs with
    atom 1, in row 2 only: node and pair heads land where the layout says."""
    encoding = build_trunk(env, HIDDEN, 2)(env.to_data(states))
    readout = build_action_readout(env, HIDDEN, 1)
    before = readout(encoding).squeeze(-1)
    node = encoding.node.clone()
    node[encoding.batch.tolist().index(2) + 1] += 1.0
    after = readout(GraphEncoding(encoding.graph, node, encoding.batch, encoding.pair_distance))
    changed = (after.squeeze(-1) - before).abs() > 1e-6
    assert not changed[[0, 1, 3]].any()
    touched = torch.zeros(env.num_actions, dtype=torch.bool)
    for action in range(env.num_actions):
        kind, *args = env.decode(action)
        touched[action] = (kind == ADD_ATOM and args[0] == 1) or (
            kind == ADD_BOND and 1 in args[:2]
        )
    assert torch.equal(changed[2], touched)


def test_condition_acts_on_its_own_graph_at_every_level(env, states):
    encoding = build_trunk(env, HIDDEN, 2)(env.to_data(states))
    readout = build_action_readout(env, HIDDEN, 3)
    cond = torch.zeros(4, HIDDEN)
    before = readout(encoding, cond)
    cond[1] = torch.randn(HIDDEN)
    changed = (readout(encoding, cond) - before).abs().amax(-1) > 1e-6
    assert not changed[[0, 2, 3]].any()
    assert changed[1, env.stop_action] and changed[1, env.add_atom_offset]
    assert changed[1, env.add_bond_offset]


def test_gradients_reach_every_parameter(env, states):
    gfn = GFlowNet(env, HIDDEN, 2)
    log_probs = gfn.log_probs(states)
    log_probs[env.forward_mask(states)].sum().backward()
    for name, p in gfn.forward_policy.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_trunk_is_invariant_to_atom_order(env):
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    order = torch.randperm(mol.GetNumAtoms(), generator=torch.Generator().manual_seed(0))
    shuffled = Chem.RenumberAtoms(mol, order.tolist())
    trunk = build_trunk(env, HIDDEN, 3)

    def encode(m):
        g = env.featurizer.featurize(m)
        data = Batch(
            x=g.x,
            edge_index=g.edge_index,
            edge_attr=g.edge_attr,
            batch=torch.zeros(len(g.x), dtype=torch.long),
            ptr=torch.tensor([0, len(g.x)]),
        )
        return trunk(data)

    a, b = encode(mol), encode(shuffled)
    torch.testing.assert_close(a.graph, b.graph, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.node[order], b.node, rtol=1e-5, atol=1e-5)


def test_classifier_heads_run_on_molecules(env, states):
    clf = Classifier(env, ["a", "b"], n_observations=2, hidden=HIDDEN, num_layers=2)
    composition = harmonic_mean("a", "b")
    rows, actions = env.forward_mask(states).nonzero(as_tuple=True)
    log_q = clf.log_Q_pairs(states, rows, actions, composition)
    assert log_q.shape == (len(rows), 2)  # one column per base of the composition
    assert (log_q <= 0).all()
    assert clf.log_Q_bases(states, composition).shape == (4, 2)
