"""Molecular graphs in the input format of the sEH proxy of Bengio et al. (2021).

Each heavy atom (hydrogens stay implicit) is a row of ``NUM_ATOM_FEATURES`` = 71
numbers, laid out as the proxy was trained:

* 0–5: element one-hot over H, C, N, O, F, any other element;
* 6–8: always 0 (the literature's atomic-number, acceptor and donor slots, unused
  when the atomic number is one-hot encoded);
* 9: aromatic; 10–12: hybridisation SP, SP2, SP3 (all 0 for any other);
* 13: total number of hydrogens, implicit and explicit, as a raw count;
* 14–69: atomic-number one-hot, column ``13 + Z`` for ``Z`` = 1–56;
* 70: always 0 (the literature's stem flag, 0 for a finished molecule).

Each bond is two directed edges with the same one-hot bond type (single, double,
triple, aromatic), sorted by (source, target). A molecule without bonds gets one
self-loop on atom 0 with all-zero features, as in the literature, so that the
message passing sees every molecule through at least one edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from rdkit import Chem

NUM_ATOM_FEATURES = 71
NUM_BOND_TYPES = 4
MAX_ATOMIC_NUMBER = 56
"""Barium: the atomic-number one-hot of the proxy has no column for a heavier element."""

_ELEMENT_COLUMN = {1: 0, 6: 1, 7: 2, 8: 3, 9: 4}
_OTHER_ELEMENT = 5
_AROMATIC = 9
_HYBRIDISATION_COLUMN = {
    Chem.HybridizationType.SP: 10,
    Chem.HybridizationType.SP2: 11,
    Chem.HybridizationType.SP3: 12,
}
_NO_HYBRIDISATION_COLUMN = -1
_NUM_HYDROGENS = 13
_ATOMIC_NUMBER_OFFSET = 13
_BOND_TYPE = {
    Chem.BondType.SINGLE: 0,
    Chem.BondType.DOUBLE: 1,
    Chem.BondType.TRIPLE: 2,
    Chem.BondType.AROMATIC: 3,
}
SELF_LOOP = NUM_BOND_TYPES
EDGE_FEATURES = torch.cat([torch.eye(NUM_BOND_TYPES), torch.zeros(1, NUM_BOND_TYPES)])
"""Features ``[5, 4]`` of each edge type: the one-hot bond types, then the self-loop's zeros.
Edges carry a type index, so the proxy evaluates its edge network once per type."""


class GraphBatch(NamedTuple):
    """``B`` molecules as one disjoint graph of ``N`` atoms and ``E`` directed edges.

    Attributes:
        x: atom features ``[N, 71]`` float32.
        edge_index: ``[2, E]`` int64, source atoms in row 0, target atoms in row 1.
        edge_type: ``[E]`` int64, row of ``EDGE_FEATURES`` of each edge (its bond type,
            or ``SELF_LOOP``).
        batch: molecule of each atom ``[N]`` int64, in ``0..B-1``.
        num_graphs: ``B``.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    def to(self, device: torch.device) -> GraphBatch:
        """The same batch with every tensor on ``device``."""
        return GraphBatch(
            self.x.to(device),
            self.edge_index.to(device),
            self.edge_type.to(device),
            self.batch.to(device),
            self.num_graphs,
        )


class _MolArrays(NamedTuple):
    atomic_numbers: list[int]
    aromatic: list[bool]
    hybridisation_columns: list[int]
    hydrogens: list[int]
    bonds: list[tuple[int, int, int]]


def _mol_arrays(mol: Chem.Mol) -> _MolArrays:
    """The per-atom and per-bond values of one molecule; ``ValueError`` for an atom or
    bond the proxy has no feature for."""
    if mol.GetNumHeavyAtoms() < mol.GetNumAtoms():
        mol = Chem.RemoveHs(mol)  # the proxy reads heavy-atom graphs; hydrogens are counts
    # indexed, not iterated: RDKit's atom and bond sequences are slow Python iterators
    atoms = [mol.GetAtomWithIdx(i) for i in range(mol.GetNumAtoms())]
    atomic_numbers = [atom.GetAtomicNum() for atom in atoms]
    unsupported = [z for z in atomic_numbers if not 1 <= z <= MAX_ATOMIC_NUMBER]
    if unsupported:
        raise ValueError(f"atomic number {unsupported[0]} is outside 1-{MAX_ATOMIC_NUMBER}")
    bonds = []
    for bond in (mol.GetBondWithIdx(i) for i in range(mol.GetNumBonds())):
        bond_type = _BOND_TYPE.get(bond.GetBondType())
        if bond_type is None:
            raise ValueError(f"bond type {bond.GetBondType()} has no feature")
        bonds.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), bond_type))
    return _MolArrays(
        atomic_numbers,
        [atom.GetIsAromatic() for atom in atoms],
        [
            _HYBRIDISATION_COLUMN.get(atom.GetHybridization(), _NO_HYBRIDISATION_COLUMN)
            for atom in atoms
        ],
        [atom.GetTotalNumHs(includeNeighbors=True) for atom in atoms],
        bonds,
    )


def featurize(mols: Sequence[Chem.Mol]) -> tuple[GraphBatch, list[int]]:
    """The proxy's input graph of the sanitized molecules that it can read.

    Returns the batch of the ``B`` readable molecules and their indices in ``mols``
    (ascending). A molecule is unreadable when it has an atom with an atomic number
    outside 1–56 (a dummy atom, an element heavier than barium) or a bond that is
    not single, double, triple or aromatic.
    """
    readable, per_mol = [], []
    for index, mol in enumerate(mols):
        try:
            per_mol.append(_mol_arrays(mol))
        except ValueError:
            continue
        readable.append(index)

    sizes = np.array([len(arrays.atomic_numbers) for arrays in per_mol], dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes
    num_atoms = int(sizes.sum())
    rows = np.arange(num_atoms)
    atomic_numbers = np.array([z for a in per_mol for z in a.atomic_numbers], dtype=np.int64)
    x = np.zeros((num_atoms, NUM_ATOM_FEATURES), dtype=np.float32)
    element = [_ELEMENT_COLUMN.get(z, _OTHER_ELEMENT) for z in atomic_numbers.tolist()]
    x[rows, element] = 1.0
    x[:, _AROMATIC] = [flag for a in per_mol for flag in a.aromatic]
    hybridisation = np.array([c for a in per_mol for c in a.hybridisation_columns], np.int64)
    has_hybridisation = hybridisation != _NO_HYBRIDISATION_COLUMN
    x[rows[has_hybridisation], hybridisation[has_hybridisation]] = 1.0
    x[:, _NUM_HYDROGENS] = [h for a in per_mol for h in a.hydrogens]
    x[rows, _ATOMIC_NUMBER_OFFSET + atomic_numbers] = 1.0

    sources, targets, types = [], [], []
    for offset, arrays in zip(offsets.tolist(), per_mol, strict=True):
        if not arrays.bonds:
            sources.append(offset)
            targets.append(offset)
            types.append(SELF_LOOP)
        for begin, end, bond_type in arrays.bonds:
            sources += [offset + begin, offset + end]
            targets += [offset + end, offset + begin]
            types += [bond_type, bond_type]
    sources, targets, types = (np.array(v, dtype=np.int64) for v in (sources, targets, types))
    # Sorted by (source, target) as the literature's coalesce leaves them; a molecule's
    # atoms are contiguous, so one global sort keeps each molecule's edges together.
    order = np.lexsort((targets, sources))
    sources, targets, types = sources[order], targets[order], types[order]

    graph = GraphBatch(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(np.stack([sources, targets])),
        edge_type=torch.from_numpy(types),
        batch=torch.from_numpy(np.repeat(np.arange(len(per_mol)), sizes)),
        num_graphs=len(per_mol),
    )
    return graph, readable
