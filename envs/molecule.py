"""Molecule states shared by the molecule-building environments.

A state *is* a molecule up to isomorphism: its identity is a canonical key (the
canonical SMILES for the atom environment) and it carries the canonical RDKit
molecule, whose atom order is the node order every action and every network
output refers to. Because the molecule is rebuilt from the key, everything a
state exposes (masks, features, children) is a function of its key alone, so
two action sequences that build the same molecule reach the *same* state.

Aromaticity: edits happen on the state's canonical Kekulé form
(:func:`kekule_template`, bond orders 1/2/3, implicit hydrogens, a function of
the key); the result is sanitized, so aromaticity is perceived, and keyed by its
canonical (aromatic) SMILES. A molecule with several Kekulé structures is one
state; :func:`kekule_forms` lists them all for the environments that have to
invert edits (parents).

Featurisation (~0.3 ms per molecule in RDKit) is cached by key in
:class:`MolFeaturizer`, so a batch costs one tensor concatenation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

BOND_TYPES = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
"""Bond order -> RDKit bond type of the Kekulé forms that actions edit."""

CACHE_SIZE = 1 << 13
"""Entries per key-indexed cache: more than the states of a batch of 256 trajectories of
~20 steps; an RDKit molecule takes ~25 kB, so an environment's caches stay near 300 MB."""


@dataclass(frozen=True, eq=False)
class MolState:
    """One molecule-building state.

    Attributes:
        key: canonical identity (equal exactly for isomorphic states).
        mol: sanitized canonical molecule; atom ``i`` is node ``i`` of the graph
            encoding and of every node- or pair-level action. Read-only.
    """

    key: str
    mol: Chem.Mol

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MolState) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"MolState({self.key!r})"

    @property
    def num_atoms(self) -> int:
        return self.mol.GetNumAtoms()


MolStates = list[MolState]
"""A batch of molecule states (the ``States`` of the molecule environments)."""

EMPTY = MolState("", Chem.Mol())
"""The empty molecule, initial state of the atom environment."""


def canonical_smiles(mol: Chem.RWMol) -> str:
    """Sanitize ``mol`` in place (perceiving aromaticity) and return its canonical SMILES."""
    Chem.SanitizeMol(mol)
    return Chem.MolToSmiles(mol)


def state_from_smiles(smiles: str) -> MolState:
    """The state of the molecule written as ``smiles`` (any valid SMILES, re-canonicalised)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return canonical_state(Chem.MolToSmiles(mol))


def canonical_state(key: str) -> MolState:
    """The state whose key is the canonical SMILES ``key`` (atoms in canonical order)."""
    mol = Chem.MolFromSmiles(key)
    if mol is None:
        raise RuntimeError(f"RDKit cannot read back its own canonical SMILES {key!r}")
    return MolState(key, mol)


def kekule_template(mol: Chem.Mol) -> Chem.RWMol:
    """The Kekulé form of ``mol`` that edits start from (same atom order).

    Hydrogens are made implicit so RDKit recomputes them after an edit: e.g. the
    explicit H of a pyrrole ``[nH]`` must go when a bond replaces it.
    """
    kekule = Chem.RWMol(mol)
    Chem.Kekulize(kekule, clearAromaticFlags=True)
    for atom in kekule.GetAtoms():
        atom.SetNumExplicitHs(0)
        atom.SetNoImplicit(False)
    return kekule


def kekule_forms(state: MolState) -> list[Chem.RWMol]:
    """Every Kekulé structure of ``state`` (atom order kept), as editable molecules.

    Any molecule RDKit perceives as ``state`` has its skeleton, its hydrogen
    counts and its non-aromatic bond orders, so it differs only in which of the
    aromatic bonds are double; these are enumerated (each atom keeps its number
    of double bonds) and kept when they sanitize back to ``state.key``.
    """
    base = kekule_template(state.mol)
    aromatic = [b for b in state.mol.GetBonds() if b.GetIsAromatic()]
    if not aromatic:
        return [base]
    ends = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in aromatic]
    need = [0] * state.num_atoms
    for bond, (u, v) in zip(aromatic, ends, strict=True):
        if base.GetBondWithIdx(bond.GetIdx()).GetBondType() == Chem.BondType.DOUBLE:
            need[u] += 1
            need[v] += 1
    last = {}
    for k, (u, v) in enumerate(ends):
        last[u] = last[v] = k
    doubles: list[list[int]] = []

    def assign(k: int, chosen: list[int]) -> None:
        if k == len(ends):
            doubles.append(list(chosen))
            return
        u, v = ends[k]
        for double in (True, False):
            if double and (need[u] == 0 or need[v] == 0):
                continue
            step = 1 if double else 0
            need[u] -= step
            need[v] -= step
            closed = [a for a in (u, v) if last[a] == k]
            if all(need[a] == 0 for a in closed):
                assign(k + 1, chosen + [k] if double else chosen)
            need[u] += step
            need[v] += step

    assign(0, [])
    forms = []
    for chosen in doubles:
        form = Chem.RWMol(base)
        for k, bond in enumerate(aromatic):
            order = 2 if k in chosen else 1
            form.GetBondWithIdx(bond.GetIdx()).SetBondType(BOND_TYPES[order])
        if canonical_smiles(Chem.RWMol(form)) == state.key:
            forms.append(form)
    return forms


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A bounded mapping that evicts the least recently used entry."""

    def __init__(self, maxsize: int = CACHE_SIZE):
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The cached value of ``key``, computing and storing it on a miss."""
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = compute()
        self._data[key] = value
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


class GraphTensors(NamedTuple):
    """One molecule: ``x [n, F_atom]``, ``edge_index [2, 2m]``, ``edge_attr [2m, F_bond]``."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor


_DEGREES = 7
_HYDROGENS = 5
_CHARGES = (-1, 0, 1)
_BOND_KINDS = (
    Chem.BondType.SINGLE,
    Chem.BondType.DOUBLE,
    Chem.BondType.TRIPLE,
    Chem.BondType.AROMATIC,
)


class MolFeaturizer:
    """Atom and bond features of molecule states, cached by state key.

    Atom features (``num_atom_features``): element one-hot over ``elements`` plus
    "other", degree 0..6, total hydrogens 0..4, formal charge -1/0/+1, aromatic,
    in ring. Bond features (``num_bond_features``): single/double/triple/aromatic,
    in ring, conjugated. Values beyond a one-hot's range are clipped to its ends.
    """

    def __init__(self, elements: Sequence[str]):
        self.elements = tuple(elements)
        self._element_index = {Chem.Atom(e).GetAtomicNum(): i for i, e in enumerate(elements)}
        self.num_atom_features = len(elements) + 1 + _DEGREES + _HYDROGENS + len(_CHARGES) + 2
        self.num_bond_features = len(_BOND_KINDS) + 2
        self._cache: LRUCache[str, GraphTensors] = LRUCache()

    def featurize(self, mol: Chem.Mol) -> GraphTensors:
        """The tensors of one sanitized molecule (uncached)."""
        atoms = list(mol.GetAtoms())
        other = len(self.elements)
        element = [self._element_index.get(a.GetAtomicNum(), other) for a in atoms]
        degree = [min(a.GetDegree(), _DEGREES - 1) for a in atoms]
        hydrogens = [min(a.GetTotalNumHs(), _HYDROGENS - 1) for a in atoms]
        charge = [_CHARGES.index(max(-1, min(1, a.GetFormalCharge()))) for a in atoms]
        flags = [(a.GetIsAromatic(), a.IsInRing()) for a in atoms]
        x = np.concatenate(
            [
                np.eye(other + 1, dtype=np.float32)[element],
                np.eye(_DEGREES, dtype=np.float32)[degree],
                np.eye(_HYDROGENS, dtype=np.float32)[hydrogens],
                np.eye(len(_CHARGES), dtype=np.float32)[charge],
                np.asarray(flags, dtype=np.float32).reshape(len(atoms), 2),
            ],
            axis=1,
        )
        bonds = list(mol.GetBonds())
        ends = np.asarray(
            [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in bonds], dtype=np.int64
        ).reshape(-1, 2)
        kind = [_BOND_KINDS.index(b.GetBondType()) for b in bonds]
        bond_flags = [(b.IsInRing(), b.GetIsConjugated()) for b in bonds]
        attr = np.concatenate(
            [
                np.eye(len(_BOND_KINDS), dtype=np.float32)[kind].reshape(
                    len(bonds), len(_BOND_KINDS)
                ),
                np.asarray(bond_flags, dtype=np.float32).reshape(len(bonds), 2),
            ],
            axis=1,
        )
        edge_index = np.concatenate([ends, ends[:, ::-1]]).T
        return GraphTensors(
            torch.from_numpy(x),
            torch.from_numpy(np.ascontiguousarray(edge_index)),
            torch.from_numpy(np.concatenate([attr, attr])),
        )

    def graph(self, state: MolState) -> GraphTensors:
        """The cached tensors of ``state``."""
        return self._cache.get(state.key, lambda: self.featurize(state.mol))

    def batch(self, states: Sequence[MolState]) -> Batch:
        """A torch-geometric ``Batch`` of ``states`` on the CPU (``x``, ``edge_index``,
        ``edge_attr``, ``batch``, ``ptr``); an empty molecule is a graph without nodes."""
        graphs = [self.graph(s) for s in states]
        sizes = torch.tensor([len(g.x) for g in graphs], dtype=torch.long)
        ptr = torch.zeros(len(graphs) + 1, dtype=torch.long)
        torch.cumsum(sizes, 0, out=ptr[1:])
        edges = torch.tensor([g.edge_index.shape[1] for g in graphs], dtype=torch.long)
        offsets = torch.repeat_interleave(ptr[:-1], edges)
        empty_x = torch.zeros(0, self.num_atom_features)
        batch = Batch(
            x=torch.cat([g.x for g in graphs] or [empty_x]),
            edge_index=torch.cat(
                [g.edge_index for g in graphs] or [torch.zeros(2, 0, dtype=torch.long)], dim=1
            )
            + offsets,
            edge_attr=torch.cat(
                [g.edge_attr for g in graphs] or [torch.zeros(0, self.num_bond_features)]
            ),
            batch=torch.repeat_interleave(torch.arange(len(graphs)), sizes),
            ptr=ptr,
        )
        return batch
