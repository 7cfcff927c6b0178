"""The fragment environment's fast paths against slow references built from RDKit alone.

The environment derives a child's piece tree from its parent's (``PieceTree.join``),
searches fragment sets by signature, counts parents by isomorphism invariants and
decides automorphism orbits by canonical ranks. The references here know none of
that: they cut junction bonds of the RDKit molecule, cap both sides with hydrogens
and compare canonical SMILES; orbits come from atom-mapped canonical SMILES.
"""

import gc
import math
import random

import pytest
import torch
from conftest import SHARED_DATA
from rdkit import Chem

from gfncompose.envs import FragmentEnv, Vocabulary, read_blocks_json
from gfncompose.envs.assembly import (
    join,
    stem_kind,
    symmetry_representatives,
    unsanitized_join,
)
from gfncompose.envs.decomposition import decomposition_of
from gfncompose.envs.piece_tree import PieceTree
from gfncompose.envs.vocabulary import fragment_from_marked_smiles

BLOCKS = SHARED_DATA / "blocks_PDB_105.json"


def vocabulary(*marked):
    return Vocabulary(fragment_from_marked_smiles(m) for m in marked)


class Reference:
    """Leaf cuts, smallest assemblies and parents by cutting bonds and comparing SMILES."""

    def __init__(self, env: FragmentEnv):
        self.env = env
        self.vocabulary = set(env.table.index)
        self.kinds = env.table.kinds
        self._leaf_cuts: dict[str, list[tuple[str, str]]] = {}
        self._min_fragments: dict[str, float] = {}

    def leaf_cuts(self, key: str) -> list[tuple[str, str]]:
        """``(leaf, rest)`` canonical SMILES of every cut of a junction candidate whose
        ``leaf`` side, capped, is a vocabulary fragment."""
        if key not in self._leaf_cuts:
            self._leaf_cuts[key] = self._cut(key)
        return self._leaf_cuts[key]

    def _cut(self, key: str) -> list[tuple[str, str]]:
        mol = Chem.MolFromSmiles(key)
        cuts = []
        for bond in mol.GetBonds():
            u, v = bond.GetBeginAtom(), bond.GetEndAtom()
            if (
                bond.GetBondType() != Chem.BondType.SINGLE
                or bond.IsInRing()
                or stem_kind(u) not in self.kinds
                or stem_kind(v) not in self.kinds
            ):
                continue
            cut = Chem.RWMol(mol)
            for atom in cut.GetAtoms():
                atom.SetNumExplicitHs(atom.GetTotalNumHs())
                atom.SetNoImplicit(True)
            for end in (u.GetIdx(), v.GetIdx()):
                atom = cut.GetAtomWithIdx(end)
                atom.SetNumExplicitHs(atom.GetNumExplicitHs() + 1)
            cut.RemoveBond(u.GetIdx(), v.GetIdx())
            Chem.SanitizeMol(cut)
            sides = [Chem.MolToSmiles(side) for side in Chem.GetMolFrags(cut, asMols=True)]
            for leaf, rest in (sides, sides[::-1]):
                if leaf in self.vocabulary:
                    cuts.append((leaf, rest))
        return cuts

    def min_fragments(self, key: str) -> float:
        """A fragment is one; otherwise an assembly has a leaf fragment, so it is one more
        than the best rest of a leaf cut (``inf`` without any)."""
        if key not in self._min_fragments:
            rests = (self.min_fragments(rest) for _, rest in self.leaf_cuts(key))
            self._min_fragments[key] = (
                1 if key in self.vocabulary else 1 + min(rests, default=math.inf)
            )
        return self._min_fragments[key]

    def parents(self, key: str) -> set[str]:
        limit = self.env.max_fragments
        parents = {rest for _, rest in self.leaf_cuts(key) if self.min_fragments(rest) < limit}
        return parents | ({""} if key in self.vocabulary else set())


def reference_orbits(mol: Chem.Mol, atoms: list[int]) -> dict[int, int]:
    """Lowest atom of each atom's orbit among ``atoms``, by atom-mapped canonical SMILES."""
    first_of, representative = {}, {}
    for atom in atoms:
        marked = Chem.Mol(mol)
        marked.GetAtomWithIdx(atom).SetAtomMapNum(1)
        representative[atom] = first_of.setdefault(Chem.MolToSmiles(marked), atom)
    return representative


def sampled_states(env: FragmentEnv, trajectories: int, seed: int) -> list:
    """Distinct non-empty states of uniformly random trajectories (children made by joins)."""
    rng, seen = random.Random(seed), {}
    for _ in range(trajectories):
        state = env.initial_states(1)[0]
        for _ in range(env.max_fragments):
            moves = env.forward_mask([state])[0, : env.stop_action].nonzero().squeeze(1).tolist()
            if not moves:
                break
            state = env.step([state], torch.tensor([rng.choice(moves)]))[0]
            seen.setdefault(state.key, state)
    return list(seen.values())


def check_against_reference(env: FragmentEnv, states: list) -> None:
    """Parents, their count and smallest assemblies as the reference finds them, plus
    everything :func:`check_against_fresh_trees` checks."""
    reference = Reference(env)
    for state in states:
        expected = reference.parents(state.key)
        assert env.parents(state) == expected, state.key
        assert env.num_parents(state) == len(expected), state.key
        assert env.decomposition(state).min_fragments == reference.min_fragments(state.key)
    check_against_fresh_trees(env, states)


def check_against_fresh_trees(env: FragmentEnv, states: list) -> None:
    """The decompositions that joins derived equal those of trees built from each molecule;
    orbits match atom-mapped SMILES; every parent's inverse action leads back; what the
    featurizer reads from the tree equals what it reads from the parsed molecule."""
    fresh = FragmentEnv(env.vocabulary, env.max_fragments)
    for state in states:
        # the featurizer reads the molecule before the fresh environment builds its tree
        assert env._arrays(state) == fresh._arrays(fresh.state(state.key))
        derived, built = env.decomposition(state), fresh.decomposition(fresh.state(state.key))
        assert _cuts(derived) == _cuts(built), state.key
        assert derived.signature == built.signature
        assert env.num_parents(state) == len(env.parents(state)) == len(fresh.parents(state))
        points = fresh._tree(fresh.state(state.key)).attachment_points()
        assert env._slots(state).attachments.tolist() == points
        assert env._slots(state).slot_of_atom == {
            atom: points.index(rep) for atom, rep in reference_orbits(state.mol, points).items()
        }
        for cut in derived.parent_cuts(env.max_fragments):
            parent = env.state(cut.parent)
            action = env.attach_action(parent, cut.parent_atom, cut.stem)
            assert env.step([parent], torch.tensor([action]))[0] == state
        expected = env.featurizer.featurize(Chem.MolFromSmiles(state.key))
        assert _graph(env.featurizer.tensors(env._arrays(state))) == _graph(expected)


def _graph(tensors):
    """Node features in node order and the multiset of edges with features (edge order is
    free: message passing sums over edges)."""
    edges = zip(tensors.edge_index.T.tolist(), tensors.edge_attr.tolist(), strict=True)
    return tensors.x.tolist(), sorted((tuple(e), tuple(a)) for e, a in edges)


def _cuts(decomposition):
    """The leaf cuts as a sorted list of comparable tuples (parent atoms may differ by an
    automorphism of the parent, so they are left out; the test checks them by stepping)."""
    return sorted(
        (cut.parent, cut.stem, cut.parent_min_fragments, cut.parent_signature)
        for cut in decomposition.leaf_cuts
    )


def test_default_vocabulary_parents_match_the_reference():
    # five fragments at most keep the reference's smallest assemblies affordable
    env = FragmentEnv(max_fragments=5)
    states = sampled_states(env, trajectories=25, seed=0)
    assert len(states) > 100
    check_against_reference(env, states)


def test_default_vocabulary_joins_match_trees_built_from_the_molecules():
    env = FragmentEnv()
    states = sampled_states(env, trajectories=25, seed=1)
    assert len(states) > 200
    check_against_fresh_trees(env, states)


@pytest.mark.skipif(not BLOCKS.is_file(), reason="../shared/data/blocks_PDB_105.json is absent")
def test_literature_blocks_parents_match_the_reference():
    env = FragmentEnv(read_blocks_json(BLOCKS), max_fragments=4)
    check_against_reference(env, sampled_states(env, trajectories=25, seed=2))


@pytest.mark.skipif(not BLOCKS.is_file(), reason="../shared/data/blocks_PDB_105.json is absent")
def test_literature_blocks_at_nine_fragments_match_the_reference():
    # large molecules: where fragment sets are searched only up to the fragments' largest
    # piece count (table.max_pieces), the search that used to enumerate millions of sets
    env = FragmentEnv(read_blocks_json(BLOCKS), max_fragments=9)
    pieces = [len(tree.pieces) for tree in env._fragment_trees]
    assert env.table.max_pieces == max(pieces) == 4
    check_against_reference(env, sampled_states(env, trajectories=4, seed=4))


def test_overlapping_and_symmetric_fragments_match_the_reference_on_every_molecule():
    # methyl and ethyl overlap (CCC is CC+C or C+C+C); benzene and the glycol (joined at
    # either O) make symmetric molecules: 193 molecules
    env = FragmentEnv(vocabulary("*C", "*CC*", "*c1ccccc1", "*OCCO*"), max_fragments=3)
    states = env.terminal_states()
    several = sum(env.num_parents(s) > 1 for s in states)
    symmetric = sum(
        len(set(env._slots(s).slot_of_atom.values())) < len(env._slots(s).slot_of_atom)
        for s in states
    )
    assert several > 50 and symmetric > 50
    check_against_reference(env, states)


def test_a_joined_tree_is_the_tree_of_the_molecule():
    env = FragmentEnv()
    for state in sampled_states(env, trajectories=10, seed=3):
        joined = env._tree(state)
        built = PieceTree.from_mol(Chem.MolFromSmiles(state.key), env.table)
        order = joined.canonical  # the joined tree's atoms in the built one's (canonical) order
        assert [built.labels[order[i]] for i in range(joined.num_atoms)] == joined.labels
        assert [built.degree[order[i]] for i in range(joined.num_atoms)] == joined.degree
        assert [built.stem_ok[order[i]] for i in range(joined.num_atoms)] == joined.stem_ok
        assert {_sorted_bond(order[u], order[v], k) for u, v, k in joined.bonds} == {
            _sorted_bond(*bond) for bond in built.bonds
        }
        assert _fragment_sets(joined) == _fragment_sets(built)
        assert [order[i] for i in joined.attachment_points()] == built.attachment_points()
        assert (
            decomposition_of(joined, env.table).min_fragments
            == decomposition_of(built, env.table).min_fragments
        )


def _sorted_bond(u, v, kind):
    return (min(u, v), max(u, v), kind)


def _fragment_sets(tree):
    """Fragment sets by their atoms, in canonical order (piece and edge numbering are the
    tree's own): the fragment, the atoms it matches, the junctions leaving it."""
    canonical = tree.canonical

    def junction(e):
        u, v, _, _ = tree.edges[e]
        return frozenset((canonical[u], canonical[v]))

    return {
        frozenset(canonical[a] for k in nodes for a in tree.pieces[k]): (
            f,
            frozenset(canonical[a] for a in match),
            frozenset(junction(e) for e, _ in boundary),
        )
        for nodes, (f, match, boundary) in tree.fragment_sets.items()
    }


def test_orbits_by_canonical_ranks_match_atom_mapped_smiles():
    smiles = [
        "c1ccccc1",
        "Cc1ccccc1",
        "CC(C)(C)c1cc(C(C)(C)C)cc(C(C)(C)C)c1",
        "C1CCC2CCCCC2C1",
        "C12C3C4C1C5C2C3C45",  # cubane: every atom in one orbit
        "C1CC2CCC1CC2",
        "OC1CCC(O)CC1",
        "c1cc2ccc3cccc4ccc(c1)c2c34",
        "C1CC1C1CCC1",
    ]
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        atoms = list(range(mol.GetNumAtoms()))
        assert symmetry_representatives(mol, atoms) == reference_orbits(mol, atoms), s
        assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(Chem.MolFromSmiles(s))  # left unmarked


def test_same_child_actions_are_all_actions_giving_that_child_on_the_default_vocabulary():
    """The signature and automorphism-class shortcuts of ``same_child_actions`` against
    stepping every allowed action of small states (every fragment at every slot)."""
    env = FragmentEnv()
    states = [s for s in sampled_states(env, trajectories=6, seed=4) if s.num_atoms <= 12][:5]
    assert len(states) == 5
    collisions = 0
    for state in states:
        moves = env.forward_mask([state])[0, : env.stop_action].nonzero().squeeze(1)
        children = env.state_keys(env.step([state] * len(moves), moves))
        by_child: dict[str, list[int]] = {}
        for action, child in zip(moves.tolist(), children, strict=True):
            by_child.setdefault(child, []).append(action)
        for same in by_child.values():
            collisions += len(same) > 1
            assert env.same_child_actions(state, same[0]) == same
    assert collisions > 0


def test_stepping_leaves_no_reference_cycles():
    """Joins, decompositions, masks, features and backward steps free everything they build
    by reference counting: garbage in reference cycles waits for the cyclic collector, whose
    full passes over a training process's half a million objects took up to a tenth of its
    sampling time.
    (``to_data`` is left out: torch-geometric's ``Batch`` makes a class, a cycle, per call.)"""
    env = FragmentEnv()
    gc.collect()
    gc.disable()
    try:
        states = sampled_states(env, trajectories=10, seed=5)
        env.log_backward(states)
        env.slot_mask(states)
        for state in states:
            env.featurizer.graph(state, env._arrays)
        for state in states[:20]:
            for action in env.forward_mask([state])[0, : env.stop_action].nonzero()[:3, 0]:
                env.same_child_actions(state, int(action))
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert len(states) > 50
    assert unreachable == 0


def _perceived(mol: Chem.Mol) -> tuple:
    """What sanitization perceives, per atom and per bond, and the rings."""
    rings = mol.GetRingInfo()
    atoms = [
        (a.GetIsAromatic(), a.GetHybridization(), a.GetTotalNumHs(), rings.NumAtomRings(i))
        for i, a in enumerate(mol.GetAtoms())
    ]
    bonds = [
        (b.GetBondType(), b.GetIsAromatic(), b.GetIsConjugated(), rings.NumBondRings(i))
        for i, b in enumerate(mol.GetBonds())
    ]
    return atoms, bonds, sorted(rings.AtomRings())


@pytest.mark.parametrize("literature", [False, True], ids=["default", "literature"])
def test_a_join_is_sanitized_as_rdkit_sanitizes_it(literature):
    """A join perceives rings, conjugation and hybridization but not aromaticity: the product
    is what a full sanitization gives, at every stem of every other slot of sampled molecules."""
    if literature and not BLOCKS.is_file():
        pytest.skip("../shared/data/blocks_PDB_105.json is absent")
    env = FragmentEnv(read_blocks_json(BLOCKS) if literature else None, max_fragments=6)
    joins = 0
    for state in sampled_states(env, trajectories=3, seed=6)[::3]:
        tree = env._tree(state)
        for atom in tree.attachment_points()[::2]:
            for fragment, compiled in zip(env._fragment_trees, env.table.fragments, strict=True):
                for stem in compiled.stems:
                    smiles, product = join(tree.frozen, atom, fragment.frozen, stem)
                    reference = unsanitized_join(tree.frozen, atom, fragment.frozen, stem)
                    Chem.SanitizeMol(reference)
                    assert smiles == Chem.MolToSmiles(reference)
                    assert _perceived(product) == _perceived(reference), smiles
                    joins += 1
    assert joins > 1000
