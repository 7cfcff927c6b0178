"""Molecule states shared by the molecule-building environments.

A state *is* a molecule up to isomorphism: its identity is a canonical key (the
canonical SMILES for the atom environment) and it carries the canonical RDKit
molecule (parsed from the key when first needed), whose atom order is the node
order every action and every network output refers to. Because the molecule is
rebuilt from the key, everything a
state exposes (masks, features, children) is a function of its key alone, so
two action sequences that build the same molecule reach the *same* state.

Aromaticity: edits happen on the state's canonical Kekulé form
(:func:`kekule_template`, bond orders 1/2/3, implicit hydrogens, a function of
the key); the result is sanitized, so aromaticity is perceived, and keyed by its
canonical (aromatic) SMILES. A molecule with several Kekulé structures is one
state; :func:`kekule_forms` lists them all for the environments that have to
invert edits (parents).

Featurisation (~0.3 ms per molecule in RDKit) is cached by key in
:class:`MolFeaturizer`, so a batch costs one tensor concatenation; an environment
that already holds a molecule's atoms and bonds as lists hands them over as
:class:`MolArrays` and skips RDKit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from ..lru import LRUCache
from .editing import atoms_of, bonds_of

BOND_TYPES = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
"""Bond order -> RDKit bond type of the Kekulé forms that actions edit."""

CACHE_SIZE = 1 << 13
"""Entries per key-indexed cache: more than the states of a batch of 256 trajectories of
~20 steps; an RDKit molecule takes ~25 kB, so an environment's caches stay near 300 MB."""


class MolState:
    """One molecule-building state.

    Attributes:
        key: canonical identity (equal exactly for isomorphic states).
        mol: sanitized canonical molecule; atom ``i`` is node ``i`` of the graph
            encoding and of every node- or pair-level action. Read-only. Parsed
            from ``key`` on first use: an environment that works on its own
            representation of a state never pays for it.
    """

    __slots__ = ("key", "_mol")

    def __init__(self, key: str, mol: Chem.Mol | None = None):
        self.key = key
        self._mol = mol

    @property
    def mol(self) -> Chem.Mol:
        if self._mol is None:
            mol = Chem.MolFromSmiles(self.key)
            if mol is None:
                raise RuntimeError(f"RDKit cannot read back its own canonical SMILES {self.key!r}")
            self._mol = mol
        return self._mol

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


def state_key(mol: Chem.RWMol) -> str:
    """The key of the state ``mol`` is: its canonical SMILES, once sanitized in place
    (perceiving aromaticity)."""
    Chem.SanitizeMol(mol)
    return Chem.MolToSmiles(mol)


def state_from_smiles(smiles: str) -> MolState:
    """The state of the molecule written as ``smiles`` (any valid SMILES, re-canonicalised)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return canonical_state(Chem.MolToSmiles(mol))


def canonical_state(key: str) -> MolState:
    """The state whose key is the canonical SMILES ``key`` (atoms in canonical order; the
    molecule is parsed when first needed)."""
    return MolState(key)


def kekule_template(mol: Chem.Mol) -> Chem.RWMol:
    """The Kekulé form of ``mol`` that edits start from (same atom order).

    Hydrogens are made implicit so RDKit recomputes them after an edit: e.g. the
    explicit H of a pyrrole ``[nH]`` must go when a bond replaces it.
    """
    kekule = Chem.RWMol(mol)
    Chem.Kekulize(kekule, clearAromaticFlags=True)
    for atom in atoms_of(kekule):
        atom.SetNumExplicitHs(0)
        atom.SetNoImplicit(False)
    return kekule


def kekule_forms(state: MolState, template: Chem.RWMol) -> list[Chem.RWMol]:
    """Every Kekulé structure of ``state`` (atom order kept), as molecules to copy and edit,
    from ``template``, its :func:`kekule_template` (returned itself when it is the only one).

    Any molecule RDKit perceives as ``state`` has its skeleton, its hydrogen
    counts and its non-aromatic bond orders, so it differs only in which of the
    aromatic bonds are double; these are enumerated (each atom keeps its number
    of double bonds) and kept when they sanitize back to ``state.key``.
    """
    aromatic = [b for b in bonds_of(state.mol) if b.GetIsAromatic()]
    if not aromatic:
        return [template]
    ends = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in aromatic]
    need = [0] * state.num_atoms
    for bond, (u, v) in zip(aromatic, ends, strict=True):
        if template.GetBondWithIdx(bond.GetIdx()).GetBondType() == Chem.BondType.DOUBLE:
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
        form = Chem.RWMol(template)
        for k, bond in enumerate(aromatic):
            order = 2 if k in chosen else 1
            form.GetBondWithIdx(bond.GetIdx()).SetBondType(BOND_TYPES[order])
        if state_key(Chem.RWMol(form)) == state.key:
            forms.append(form)
    return forms


class GraphTensors(NamedTuple):
    """One molecule: ``x [n, F_atom]``, ``edge_index [2, 2m]``, ``edge_attr [2m, F_bond]``."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor


class MolArrays(NamedTuple):
    """What :class:`MolFeaturizer` reads of a molecule, as plain lists: per atom ``n``, per
    bond ``m`` (bond types as ``int(Chem.BondType)``)."""

    atomic_number: Sequence[int]
    degree: Sequence[int]
    hydrogens: Sequence[int]
    charge: Sequence[int]
    aromatic: Sequence[bool]
    in_ring: Sequence[bool]
    ends: Sequence[tuple[int, int]]
    bond_type: Sequence[int]
    bond_in_ring: Sequence[bool]
    conjugated: Sequence[bool]

    @classmethod
    def of(cls, mol: Chem.Mol) -> MolArrays:
        """The arrays of a sanitized molecule."""
        atoms, bonds = atoms_of(mol), bonds_of(mol)
        return cls(
            [a.GetAtomicNum() for a in atoms],
            [a.GetDegree() for a in atoms],
            [a.GetTotalNumHs() for a in atoms],
            [a.GetFormalCharge() for a in atoms],
            [a.GetIsAromatic() for a in atoms],
            [a.IsInRing() for a in atoms],
            [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in bonds],
            [int(b.GetBondType()) for b in bonds],
            [b.IsInRing() for b in bonds],
            [b.GetIsConjugated() for b in bonds],
        )


_DEGREES = 7
_HYDROGENS = 5
_CHARGES = (-1, 0, 1)
_BOND_KINDS = {
    int(Chem.BondType.SINGLE): 0,
    int(Chem.BondType.DOUBLE): 1,
    int(Chem.BondType.TRIPLE): 2,
    int(Chem.BondType.AROMATIC): 3,
}


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
        self._degree_column = len(elements) + 1
        # column of formal charge 0 (charges -1, 0, +1 take three columns)
        self._charge_column = self._degree_column + _DEGREES + _HYDROGENS + 1
        self._cache: LRUCache[str, GraphTensors] = LRUCache(CACHE_SIZE)

    def __len__(self) -> int:
        """Molecules whose tensors are cached."""
        return len(self._cache)

    def featurize(self, mol: Chem.Mol) -> GraphTensors:
        """The tensors of one sanitized molecule (uncached)."""
        return self.tensors(MolArrays.of(mol))

    def tensors(self, arrays: MolArrays) -> GraphTensors:
        """The tensors of one molecule given as :class:`MolArrays`."""
        n, m = len(arrays.atomic_number), len(arrays.ends)
        other = len(self.elements)
        # each atom's one-hot columns set by index into one zeroed block (a step of a batch
        # featurises every new state, so this per-molecule cost is on the sampling path)
        element = [self._element_index.get(z, other) for z in arrays.atomic_number]
        degree = np.minimum(np.asarray(arrays.degree, dtype=np.int64), _DEGREES - 1)
        hydrogens = np.minimum(np.asarray(arrays.hydrogens, dtype=np.int64), _HYDROGENS - 1)
        charge = np.clip(np.asarray(arrays.charge, dtype=np.int64), -1, 1)
        x = np.zeros((n, self.num_atom_features), dtype=np.float32)
        atoms = np.arange(n)
        x[atoms, element] = 1.0
        x[atoms, self._degree_column + degree] = 1.0
        x[atoms, self._degree_column + _DEGREES + hydrogens] = 1.0
        x[atoms, self._charge_column + charge] = 1.0
        x[:, -2] = arrays.aromatic
        x[:, -1] = arrays.in_ring
        ends = np.asarray(arrays.ends, dtype=np.int64).reshape(m, 2)
        attr = np.zeros((2 * m, self.num_bond_features), dtype=np.float32)
        attr[np.arange(m), [_BOND_KINDS[t] for t in arrays.bond_type]] = 1.0
        attr[:m, -2] = arrays.bond_in_ring
        attr[:m, -1] = arrays.conjugated
        attr[m:] = attr[:m]
        edge_index = np.concatenate([ends, ends[:, ::-1]]).T
        return GraphTensors(
            torch.from_numpy(x),
            torch.from_numpy(np.ascontiguousarray(edge_index)),
            torch.from_numpy(attr),
        )

    def graph(
        self, state: MolState, arrays: Callable[[MolState], MolArrays] | None = None
    ) -> GraphTensors:
        """The cached tensors of ``state``; on a miss, of ``arrays(state)`` when given (an
        environment's own record of the molecule), else of ``state.mol``."""
        if arrays is None:
            return self._cache.get(state.key, lambda: self.featurize(state.mol))
        return self._cache.get(state.key, lambda: self.tensors(arrays(state)))

    def batch(
        self, states: Sequence[MolState], arrays: Callable[[MolState], MolArrays] | None = None
    ) -> Batch:
        """A torch-geometric ``Batch`` of ``states`` on the CPU (``x``, ``edge_index``,
        ``edge_attr``, ``batch``, ``ptr``); an empty molecule is a graph without nodes.
        ``arrays`` as in :meth:`graph`."""
        graphs = [self.graph(s, arrays) for s in states]
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
