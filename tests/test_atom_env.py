"""The atom environment: layout, validity of every allowed action, parents and symmetry."""

import csv
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from gfncompose.cli import main
from gfncompose.envs import AtomEnv
from gfncompose.envs.atoms import ADD_ATOM, ADD_BOND, FIRST_ATOM, MAX_VALENCE, STOP
from gfncompose.envs.molecule import EMPTY, state_from_smiles
from gfncompose.errors import UserError

ENV = AtomEnv()
"""Default configuration (C N O F S Cl, 20 atoms, rings 3-8), shared so caches warm up."""

CHECKED_ACTIONS = 25
"""Allowed actions applied per reached state (all of them would be ~900)."""


def trajectory(env: AtomEnv, length: int, rng) -> list:
    """States reached from s0 by ``length`` uniformly random non-stop allowed actions."""
    states = [EMPTY]
    for _ in range(length):
        mask = env.forward_mask([states[-1]])[0].numpy()
        moves = np.flatnonzero(mask[: env.stop_action])
        if len(moves) == 0:
            break
        action = torch.tensor([int(rng.choice(moves))])
        states.append(env.step([states[-1]], action)[0])
    return states


trajectories = st.builds(
    lambda length, rng: trajectory(ENV, length, rng),
    st.integers(1, 20),
    st.randoms(use_true_random=False),
)


def children(env: AtomEnv, state) -> dict[int, str]:
    """Child key of every allowed non-stop action of ``state``."""
    mask = env.forward_mask([state])[0].numpy()
    actions = np.flatnonzero(mask[: env.stop_action])
    kids = env.step([state] * len(actions), torch.from_numpy(actions))
    return dict(zip(actions.tolist(), env.state_keys(kids), strict=True))


def rule_mask(env: AtomEnv, state) -> np.ndarray:
    """The forward mask derived rule by rule, atom by atom (the test's oracle): ``bool [A]``."""
    mol, n = state.mol, state.num_atoms
    mask = np.zeros(env.num_actions, dtype=bool)
    if n == 0:
        mask[: len(env.atoms)] = True
        return mask
    mask[env.stop_action] = True
    free = [
        MAX_VALENCE[a.GetSymbol()] - a.GetTotalValence() + a.GetTotalNumHs() for a in mol.GetAtoms()
    ]
    distance = Chem.GetDistanceMatrix(mol)
    low, high = env.ring_sizes
    for action in range(len(env.atoms), env.stop_action):
        kind, *args = env.decode(action)
        if kind == ADD_ATOM:
            i, t, order = args
            mask[action] = (
                i < n < env.max_atoms and free[i] >= order and MAX_VALENCE[env.atoms[t]] >= order
            )
            continue
        i, j, order = args
        if j >= n or order == 3 or min(free[i], free[j]) < order:
            continue
        if low <= distance[i, j] + 1 <= high:
            trial = Chem.RWMol(mol)
            trial.AddBond(i, j, Chem.BondType.SINGLE)
            Chem.FastFindRings(trial)
            mask[action] = not any(
                b.IsInRing() and b.GetBondType() == Chem.BondType.TRIPLE for b in trial.GetBonds()
            )
    return mask


def test_flat_action_layout_decodes_every_block():
    t, n, p = 6, 20, 190
    assert ENV.num_actions == t + n * t * 3 + p * 3 + 1 == 937
    assert ENV.decode(2) == (FIRST_ATOM, 2)
    assert ENV.decode(ENV.add_atom_offset + (4 * t + 1) * 3 + 2) == (ADD_ATOM, 4, 1, 3)
    assert ENV.decode(ENV.add_bond_offset + 1 * 3) == (ADD_BOND, 0, 2, 1)
    assert ENV.decode(ENV.stop_action) == (STOP,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"atoms": ("C", "Xe")}, "atoms"),
        ({"atoms": ("C", "C")}, "atoms"),
        ({"max_atoms": 0}, "max_atoms"),
        ({"ring_sizes": (2, 8)}, "ring_sizes"),
        ({"ring_sizes": (6, 5)}, "ring_sizes"),
    ],
)
def test_bad_configuration_raises_user_error(kwargs, message):
    with pytest.raises(UserError, match=message):
        AtomEnv(**kwargs)


def test_empty_state_only_places_a_first_atom():
    mask = ENV.forward_mask(ENV.initial_states(2))
    assert mask.shape == (2, ENV.num_actions)
    assert mask[:, : len(ENV.atoms)].all() and mask.sum(1).tolist() == [len(ENV.atoms)] * 2
    first = ENV.step(ENV.initial_states(2), torch.tensor([0, 5]))
    assert ENV.to_smiles(first) == ["C", "Cl"]
    assert ENV.log_backward(first).tolist() == [0.0, 0.0]


def test_terminal_states_of_a_tiny_space_are_every_molecule_once():
    env = AtomEnv(atoms=("C", "O"), max_atoms=2)
    keys = env.state_keys(env.terminal_states())
    assert keys == sorted(["C", "O", "CC", "C=C", "C#C", "CO", "C=O", "OO", "O=O"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trajectories, st.randoms(use_true_random=False))
def test_random_trajectories_stay_valid_and_masks_follow_the_rules(states, rng):
    masks = ENV.forward_mask(states).numpy()
    assert masks.any(1).all()
    for state, mask in zip(states, masks, strict=True):
        np.testing.assert_array_equal(mask, rule_mask(ENV, state))
    for state, mask in zip(states[1:], masks[1:], strict=True):
        mol = Chem.MolFromSmiles(state.key)
        assert mol is not None and Chem.MolToSmiles(mol) == state.key
        order = list(range(mol.GetNumAtoms()))
        rng.shuffle(order)
        assert Chem.MolToSmiles(Chem.RenumberAtoms(mol, order)) == state.key
        moves = np.flatnonzero(mask[: ENV.stop_action]).tolist()
        moves = rng.sample(moves, min(CHECKED_ACTIONS, len(moves)))
        for child in ENV.step([state] * len(moves), torch.tensor(moves, dtype=torch.long)):
            mol = Chem.MolFromSmiles(child.key)
            assert mol is not None and mol.GetNumAtoms() - state.num_atoms in (0, 1)
            assert all(a.GetTotalValence() <= MAX_VALENCE[a.GetSymbol()] for a in mol.GetAtoms())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trajectories)
def test_parents_lead_forward_back_and_include_the_previous_state(states):
    for previous, state in zip(states[:-1], states[1:], strict=True):
        parents = ENV.parents(state)
        assert previous.key in parents
        for key in parents - {EMPTY.key}:
            assert state.key in children(ENV, state_from_smiles(key)).values()
    log_pb = ENV.log_backward(states[1:])
    expected = [-math.log(len(ENV.parents(s))) for s in states[1:]]
    assert log_pb.tolist() == pytest.approx(expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trajectories, st.randoms(use_true_random=False))
def test_log_transition_sums_exactly_the_actions_reaching_the_same_molecule(states, rng):
    state = states[-1]
    kids = children(ENV, state)
    actions = rng.sample(sorted(kids), min(5, len(kids)))
    log_probs = torch.log_softmax(torch.randn(len(actions), ENV.num_actions), 1)
    got = ENV.log_transition([state] * len(actions), log_probs, torch.tensor(actions))
    for row, action in enumerate(actions):
        same = [a for a, key in kids.items() if key == kids[action]]
        assert got[row].item() == pytest.approx(torch.logsumexp(log_probs[row, same], 0).item())


def test_ring_closures_with_equal_atom_signatures_are_told_apart():
    """In hexane, bonding atoms (1, 3) or (2, 4) gives one molecule, (1, 4) another."""
    hexane = state_from_smiles("CCCCCC")
    pair = {tuple(p): k for k, p in enumerate(ENV.pairs.tolist())}

    def closure(i, j):
        return ENV.add_bond_offset + pair[i, j] * 3

    log_probs = torch.log_softmax(torch.randn(1, ENV.num_actions), 1)
    expected = torch.logsumexp(log_probs[0, [closure(1, 3), closure(2, 4)]], 0)
    got = ENV.log_transition([hexane], log_probs, torch.tensor([closure(1, 3)]))
    assert got.item() == pytest.approx(expected.item())
    got = ENV.log_transition([hexane], log_probs, torch.tensor([closure(1, 4)]))
    assert got.item() == pytest.approx(log_probs[0, closure(1, 4)].item())


def test_unreachable_parents_are_not_counted():
    """Decalin minus its fusion bond is cyclodecane, which rings of at most 8 cannot build."""
    decalin = state_from_smiles("C1CCC2CCCCC2C1")
    assert "C1CCCCCCCCC1" not in ENV.parents(decalin)
    assert "C1CCCCCCCCC1" in AtomEnv(ring_sizes=(3, 10)).parents(decalin)


def test_aromatic_parents_count_only_if_their_own_kekule_form_leads_back():
    """Benzocyclopropene reaches this tricycle from one of its two Kekulé forms, not the
    canonical one the environment edits, so it is not a parent; naphthalene's parents
    include one obtained by removing a double bond of a non-canonical Kekulé form."""
    tricycle = state_from_smiles("C1=CC2=C3C=C1C23")
    assert "c1ccc2c(c1)C2" not in ENV.parents(tricycle)
    naphthalene = state_from_smiles("c1ccc2ccccc2c1")
    assert ENV.parents(naphthalene) == {
        "C=CC=Cc1ccccc1",
        "C=CC=c1ccccc1=C",
        "C=Cc1ccccc1C=C",
        "CC=CC=C1C=CC=CC1",
        "CC=Cc1ccccc1C",
        "CC=c1ccccc1=CC",
    }


def test_to_data_batches_cached_features_with_masks():
    states = [EMPTY, state_from_smiles("CC(=O)O"), state_from_smiles("c1ccoc1")]
    data = ENV.to_data(states)
    assert data.num_graphs == 3
    assert data.ptr.tolist() == [0, 0, 4, 9]
    assert data.x.shape == (9, ENV.featurizer.num_atom_features)
    assert data.edge_index.shape == (2, 2 * (3 + 5))
    assert data.edge_attr.shape == (16, ENV.featurizer.num_bond_features)
    assert (data.batch[data.edge_index[0]] == data.batch[data.edge_index[1]]).all()
    assert torch.equal(data.mask, ENV.forward_mask(states))
    furan = data.pair_distance[2]
    assert furan[: ENV.max_atoms - 1][:4].tolist() == [1, 2, 2, 1]
    assert torch.equal(ENV.to_data(states[1:]).x, data.x)


def test_to_mols_and_to_smiles_give_canonical_molecules():
    states = [state_from_smiles("OCC"), state_from_smiles("C1=CC=CC=C1")]
    assert ENV.to_smiles(states) == ["CCO", "c1ccccc1"]
    assert [Chem.MolToSmiles(m) for m in ENV.to_mols(states)] == ["CCO", "c1ccccc1"]


@pytest.mark.parametrize("env_name", ["atoms", "fragments"])
def test_sample_command_writes_canonical_smiles(tmp_path, env_name):
    out = tmp_path / "uniform.csv"
    argv = ["sample", "--env", env_name, "-n", "12", "-o", str(out)]
    assert main([*argv, "--batch-size", "5"]) == 0
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12
    for row in rows:
        assert Chem.MolToSmiles(Chem.MolFromSmiles(row["smiles"])) == row["smiles"]


def test_sample_command_rejects_a_non_positive_count(tmp_path, capsys):
    argv = ["sample", "--env", "atoms", "-n", "0", "-o", str(tmp_path / "x.csv")]
    assert main(argv) == 2
    assert "-n must be a positive number" in capsys.readouterr().err
