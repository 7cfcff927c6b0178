"""Build a fragment vocabulary by decomposing a set of molecules (BRICS or RECAP).

Each molecule is cut at the bonds its rule set (RDKit's ``BRICS`` or ``RECAP``)
considers synthetically accessible; every piece becomes a fragment whose cut
points are its stems. Fragments are counted by the number of molecules that
contain them (pieces that are the same molecule with stems in different places
count once and have their stems united), and the most frequent are kept.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rdkit import Chem
from rdkit.Chem import BRICS, Recap

from ..errors import UserError
from .editing import quiet_rdkit
from .vocabulary import Fragment, Vocabulary, fragment_from_marked_smiles

Method = Literal["brics", "recap"]


@dataclass(frozen=True)
class VocabularyLimits:
    """Which fragments to keep.

    Attributes:
        max_fragments: keep at most this many, the most frequent first.
        min_count: keep fragments found in at least this many molecules.
        max_atoms: keep fragments with at most this many heavy atoms.
    """

    max_fragments: int = 100
    min_count: int = 3
    max_atoms: int = 12


def marked_fragment_smiles(mol: Chem.Mol, method: Method = "brics") -> list[str]:
    """The pieces of ``mol`` as dummy-marked SMILES (stereochemistry removed).

    A molecule with no bond to cut gives no piece: it has nothing to attach by.
    """
    mol = Chem.Mol(mol)
    Chem.RemoveStereochemistry(mol)
    if method == "brics":
        pieces = BRICS.BRICSDecompose(mol, returnMols=True)
    elif method == "recap":
        pieces = [node.mol for node in Recap.RecapDecompose(mol).GetLeaves().values()]
    else:
        raise UserError(f"decomposition method must be 'brics' or 'recap', got {method!r}")
    marked = []
    for piece in pieces:
        if not any(atom.GetAtomicNum() == 0 for atom in piece.GetAtoms()):
            continue
        for atom in piece.GetAtoms():
            if atom.GetAtomicNum() == 0:
                atom.SetIsotope(0)
        marked.append(Chem.MolToSmiles(piece))
    return marked


def count_fragments(smiles: Iterable[str], method: Method = "brics") -> Vocabulary:
    """All fragments of ``smiles``, most frequent first (ties by SMILES), with counts.

    ``count`` is the number of molecules containing the fragment; stems found at
    different places of the same fragment are united.
    """
    counts: Counter[str] = Counter()
    stems: dict[str, set[int]] = {}
    for s in smiles:
        found: dict[str, Fragment] = {}
        for marked in marked_fragment_smiles(Chem.MolFromSmiles(s), method):
            fragment = fragment_from_marked_smiles(marked)
            known = found.get(fragment.smiles)
            found[fragment.smiles] = fragment if known is None else _unite(known, fragment)
        for fragment in found.values():
            counts[fragment.smiles] += 1
            stems.setdefault(fragment.smiles, set()).update(fragment.stems)
    ranked = sorted(counts, key=lambda f: (-counts[f], f))
    return Vocabulary(Fragment(f, tuple(sorted(stems[f])), counts[f]) for f in ranked)


def _unite(a: Fragment, b: Fragment) -> Fragment:
    return Fragment(a.smiles, tuple(sorted({*a.stems, *b.stems})), a.count)


def build_vocabulary(
    smiles: Iterable[str], limits: VocabularyLimits = VocabularyLimits(), method: Method = "brics"
) -> Vocabulary:
    """Decompose ``smiles``, count the fragments and keep the most frequent within ``limits``."""
    kept = [
        fragment
        for fragment in count_fragments(smiles, method)
        if fragment.count >= limits.min_count
        and Chem.MolFromSmiles(fragment.smiles).GetNumAtoms() <= limits.max_atoms
    ][: limits.max_fragments]
    if not kept:
        raise UserError(
            f"no fragment is found in at least {limits.min_count} molecules with at most "
            f"{limits.max_atoms} heavy atoms"
        )
    return Vocabulary(kept)


def read_molecules(path: str | Path) -> list[str]:
    """The ``smiles`` column of a CSV file, each entry checked to parse.

    Raises :class:`~gfncompose.errors.UserError` naming the file, row and column
    of the first entry that is not valid SMILES.
    """
    path = Path(path)
    try:
        handle = open(path, newline="")
    except OSError as error:
        raise UserError(f"cannot read molecules {path}: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "smiles" not in reader.fieldnames:
            raise UserError(f"{path}: the header row must have a 'smiles' column")
        molecules = []
        for row_number, row in enumerate(reader, start=2):
            smiles = (row["smiles"] or "").strip()
            with quiet_rdkit():
                valid = bool(smiles) and Chem.MolFromSmiles(smiles) is not None
            if not valid:
                raise UserError(
                    f"{path}, row {row_number}, column 'smiles': {smiles!r} is not valid SMILES"
                )
            molecules.append(smiles)
    if not molecules:
        raise UserError(f"{path}: no molecules")
    return molecules
