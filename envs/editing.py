"""Small RDKit helpers for editing molecules exactly and reading back atom orders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rdkit import Chem, RDLogger


def atoms_of(mol: Chem.Mol) -> list[Chem.Atom]:
    """The atoms of ``mol`` in index order (indexing is about twice as fast as RDKit's
    Python iterator, which recounts the atoms at every step)."""
    return [mol.GetAtomWithIdx(i) for i in range(mol.GetNumAtoms())]


def bonds_of(mol: Chem.Mol) -> list[Chem.Bond]:
    """The bonds of ``mol`` in index order (see :func:`atoms_of`)."""
    return [mol.GetBondWithIdx(i) for i in range(mol.GetNumBonds())]


def freeze_hydrogens(mol: Chem.Mol) -> Chem.RWMol:
    """A copy of ``mol`` whose hydrogen counts are explicit, so edits adjust them by hand.

    RDKit cannot infer the hydrogen of an aromatic ``[nH]`` (nor of charged or
    hypervalent atoms) after a bond to it is added or removed; explicit counts
    make every edit exact.
    """
    frozen = Chem.RWMol(mol)
    for atom in atoms_of(frozen):
        hydrogens = atom.GetTotalNumHs()
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(hydrogens)
    return frozen


def output_order(mol: Chem.Mol) -> list[int]:
    """Atom indices of ``mol`` in the order its last written SMILES lists them."""
    # the property reads as text, "[3,2,0,1]" (some RDKit versions add a trailing comma);
    # parsing it is several times faster than GetPropsAsDict converting every property
    text = mol.GetProp("_smilesAtomOutputOrder")
    return [int(index) for index in text.strip("[]").split(",") if index]


@contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's warnings: bad input is reported as one ``UserError`` instead."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")
