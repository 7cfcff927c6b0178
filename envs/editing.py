"""Small RDKit helpers for editing molecules exactly and reading back atom orders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rdkit import Chem, RDLogger


def freeze_hydrogens(mol: Chem.Mol) -> Chem.RWMol:
    """A copy of ``mol`` whose hydrogen counts are explicit, so edits adjust them by hand.

    RDKit cannot infer the hydrogen of an aromatic ``[nH]`` (nor of charged or
    hypervalent atoms) after a bond to it is added or removed; explicit counts
    make every edit exact.
    """
    frozen = Chem.RWMol(mol)
    for atom in frozen.GetAtoms():
        hydrogens = atom.GetTotalNumHs()
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(hydrogens)
    return frozen


def output_order(mol: Chem.Mol) -> list[int]:
    """Atom indices of ``mol`` in the order its last written SMILES lists them."""
    props = mol.GetPropsAsDict(includePrivate=True, includeComputed=True)
    return list(props["_smilesAtomOutputOrder"])


@contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's warnings: bad input is reported as one ``UserError`` instead."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")
