"""Fragment vocabularies: the building blocks of :class:`~gfncompose.envs.FragmentEnv`.

A vocabulary is data. The package ships one (``data/fragments.csv``, built by
``gfncompose vocab build`` from ``data/drugs.csv``) and reads any user file in
the same format:

* a CSV file with a header row and a ``smiles`` column; each row is one
  fragment written as SMILES in which dummy atoms ``*`` (``[*]``, or with the
  isotope labels BRICS writes, ``[14*]``) mark its attachment points
  ("stems"). Each dummy is single-bonded to exactly one atom of the fragment
  and stands for the hydrogen that a bond to another fragment replaces, so
  ``[*]c1ccccc1`` is benzene with a stem on one carbon. An atom may carry
  several dummies. Every fragment needs at least one stem and must be one
  connected piece; no two rows may describe the same molecule.
* an optional ``count`` column: a non-negative integer (how many source
  molecules contain the fragment). Other columns are ignored.

:func:`read_vocabulary` also reads the literature's JSON block list (Bengio et
al. 2021, ``blocks_PDB_105.json``; columns ``block_name``, ``block_smi``,
``block_r``: fragment SMILES without dummies and the indices of its stem atoms,
one row per stem ordering), recognised by a ``.json`` suffix or a leading ``{``;
its rows that describe the same molecule are merged.

Inside the package a fragment is its *capped* molecule (dummies replaced by
hydrogens) as canonical SMILES, plus its stems as atom indices into that SMILES.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rdkit import Chem

from ..errors import UserError
from .editing import freeze_hydrogens, output_order, quiet_rdkit

DEFAULT_VOCABULARY = "fragments.csv"
"""The shipped vocabulary, a file of the ``gfncompose.data`` package."""


@dataclass(frozen=True)
class Fragment:
    """One building block.

    Attributes:
        smiles: canonical SMILES of the capped fragment (no dummy atoms).
        stems: indices, in the atom order of ``smiles``, of the atoms marked as
            attachment points: sorted, one per class of symmetry-equivalent atoms
            (its lowest index). How many bonds an atom takes is bounded by its
            hydrogens, not by how often it is marked.
        count: how many source molecules contain the fragment, when known.
    """

    smiles: str
    stems: tuple[int, ...]
    count: int | None = None

    @property
    def marked_smiles(self) -> str:
        """The fragment with one dummy atom ``[*]`` per stem (the file format)."""
        mol = freeze_hydrogens(Chem.MolFromSmiles(self.smiles))
        for stem in self.stems:
            atom = mol.GetAtomWithIdx(stem)
            atom.SetNumExplicitHs(atom.GetNumExplicitHs() - 1)
            dummy = mol.AddAtom(Chem.Atom(0))
            mol.AddBond(stem, dummy, Chem.BondType.SINGLE)
        Chem.SanitizeMol(mol)
        return Chem.MolToSmiles(mol)


class Vocabulary(Sequence[Fragment]):
    """An ordered list of distinct fragments; ``vocab[i]`` is fragment ``i``."""

    def __init__(self, fragments: Iterable[Fragment]):
        self._fragments = tuple(fragments)
        if not self._fragments:
            raise UserError("a vocabulary needs at least one fragment")
        seen: dict[str, int] = {}
        for i, fragment in enumerate(self._fragments):
            if fragment.smiles in seen:
                raise UserError(
                    f"fragment {i} ({fragment.smiles}) repeats fragment {seen[fragment.smiles]}"
                )
            seen[fragment.smiles] = i

    def __len__(self) -> int:
        return len(self._fragments)

    def __getitem__(self, i):
        return self._fragments[i]

    def __iter__(self) -> Iterator[Fragment]:
        return iter(self._fragments)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._fragments == other._fragments

    def __hash__(self) -> int:
        return hash(self._fragments)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} fragments)"

    def write_csv(self, path: str | Path) -> None:
        """Write the documented CSV format: columns ``smiles`` and ``count``."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["smiles", "count"])
            for fragment in self._fragments:
                count = "" if fragment.count is None else fragment.count
                writer.writerow([fragment.marked_smiles, count])


def fragment_from_marked_smiles(marked: str, count: int | None = None) -> Fragment:
    """Parse a dummy-marked SMILES such as ``[*]c1ccccc1`` into a :class:`Fragment`.

    Raises ``ValueError`` with the reason when it is not a valid fragment; readers
    turn it into a :class:`~gfncompose.errors.UserError` naming the location.
    """
    return _fragment_from_marked_mol(_parse(marked), count)


def fragment_from_stems(smiles: str, stems: Sequence[int], count: int | None = None) -> Fragment:
    """A :class:`Fragment` from a SMILES without dummies and stem atom indices into it.

    Each stem gets a dummy atom bonded to it, replacing one of its hydrogens;
    where the atom has none (the literature writes some P and S atoms in a lower
    valence), RDKit's valence model decides whether the bond fits, which matches
    how the literature's molecules are sanitized. Raises ``ValueError`` with the
    reason when it is not a valid fragment.
    """
    mol = Chem.RWMol(_parse(smiles))
    if any(atom.GetAtomicNum() == 0 for atom in mol.GetAtoms()):
        raise ValueError("a fragment listed with stem indices must not contain dummy atoms")
    for stem in stems:
        if not 0 <= stem < mol.GetNumAtoms():
            raise ValueError(f"stem index {stem} is not an atom index (0..{mol.GetNumAtoms() - 1})")
        atom = mol.GetAtomWithIdx(stem)
        if atom.GetNumExplicitHs() > 0:
            atom.SetNumExplicitHs(atom.GetNumExplicitHs() - 1)
        mol.AddBond(stem, mol.AddAtom(Chem.Atom(0)), Chem.BondType.SINGLE)
    try:
        with quiet_rdkit():
            Chem.SanitizeMol(mol)
    except Chem.rdchem.MolSanitizeException as error:
        raise ValueError(f"its stems do not fit the atoms' valences ({error})") from None
    return _fragment_from_marked_mol(mol.GetMol(), count)


def _fragment_from_marked_mol(mol: Chem.Mol, count: int | None) -> Fragment:
    """Cap the dummy atoms of ``mol`` with hydrogens and canonicalise (see module docs)."""
    dummies = [atom for atom in mol.GetAtoms() if atom.GetAtomicNum() == 0]
    if not dummies:
        raise ValueError("it has no dummy atom '*' marking a stem")
    stems = []
    for dummy in dummies:
        bonds = dummy.GetBonds()
        if len(bonds) != 1 or bonds[0].GetBondType() != Chem.BondType.SINGLE:
            raise ValueError("each dummy atom '*' must have exactly one single bond")
        neighbor = bonds[0].GetOtherAtom(dummy)
        if neighbor.GetAtomicNum() == 0:
            raise ValueError("two dummy atoms '*' are bonded to each other")
        stems.append(neighbor.GetIdx())
    capped = freeze_hydrogens(mol)
    for stem in stems:
        atom = capped.GetAtomWithIdx(stem)
        atom.SetNumExplicitHs(atom.GetNumExplicitHs() + 1)
    keep = [atom.GetIdx() for atom in mol.GetAtoms() if atom.GetAtomicNum() != 0]
    for dummy in sorted((d.GetIdx() for d in dummies), reverse=True):
        capped.RemoveAtom(dummy)
    position = {old: new for new, old in enumerate(keep)}
    return _canonical_fragment(capped.GetMol(), [position[s] for s in stems], count)


def _parse(smiles: str) -> Chem.Mol:
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"{smiles!r} is not valid SMILES")
    return mol


def _canonical_fragment(mol: Chem.Mol, stems: list[int], count: int | None) -> Fragment:
    """Canonicalise a capped molecule and carry ``stems`` over to the canonical atom order."""
    Chem.SanitizeMol(mol)
    Chem.RemoveStereochemistry(mol)
    if len(Chem.GetMolFrags(mol)) != 1:
        raise ValueError("a fragment must be one connected piece")
    smiles = Chem.MolToSmiles(mol)
    canonical_index = {old: new for new, old in enumerate(output_order(mol))}
    canonical = Chem.MolFromSmiles(smiles)
    symmetry_class = list(Chem.CanonicalRankAtoms(canonical, breakTies=False))
    lowest: dict[int, int] = {}
    for atom in range(canonical.GetNumAtoms()):
        lowest.setdefault(symmetry_class[atom], atom)
    canonical_stems = sorted({lowest[symmetry_class[canonical_index[s]]] for s in stems})
    return Fragment(smiles, tuple(canonical_stems), count)


def read_vocabulary(path: str | Path) -> Vocabulary:
    """Read a vocabulary file: the CSV format documented above, or the literature's JSON
    block list (a ``.json`` file, or any file whose text starts with ``{``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a text file"
        raise UserError(f"cannot read vocabulary {path}: {reason}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return _read_blocks(text, path)
    return _read_csv(text, path)


def _read_csv(text: str, path: Path) -> Vocabulary:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "smiles" not in reader.fieldnames:
        raise UserError(
            f"{path}: the header row must have a 'smiles' column "
            "(or give the literature's JSON block list, a .json file)"
        )
    fragments: list[Fragment] = []
    first_row: dict[str, int] = {}
    for row_number, row in enumerate(reader, start=2):
        where = f"{path}, row {row_number}"
        count = _parse_count(row.get("count"), where)
        try:
            fragment = fragment_from_marked_smiles((row["smiles"] or "").strip(), count)
        except ValueError as error:
            raise UserError(f"{where}, column 'smiles': {error}") from None
        if fragment.smiles in first_row:
            raise UserError(
                f"{where}: fragment {fragment.smiles} repeats row "
                f"{first_row[fragment.smiles]}; list each fragment once with all its stems"
            )
        first_row[fragment.smiles] = row_number
        fragments.append(fragment)
    if not fragments:
        raise UserError(f"{path}: no fragments")
    return Vocabulary(fragments)


def _parse_count(value: str | None, where: str) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise UserError(f"{where}, column 'count': {value!r} is not a non-negative integer")
    return count


def read_blocks_json(path: str | Path) -> Vocabulary:
    """Read the literature's block list (columns ``block_name``, ``block_smi``, ``block_r``)
    whatever its suffix; :func:`read_vocabulary` reads it too."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a text file"
        raise UserError(f"cannot read block list {path}: {reason}") from None
    return _read_blocks(text, path)


def _read_blocks(text: str, path: Path) -> Vocabulary:
    """The block list in ``text``: a JSON object of columns, each mapping a row label to a
    value (pandas' ``to_json`` layout). Rows describing the same molecule are merged, their
    stems united; fragments keep the order of their first row."""
    try:
        table = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    columns = ("block_name", "block_smi", "block_r")
    if not isinstance(table, dict) or any(not isinstance(table.get(c), dict) for c in columns):
        raise UserError(f"{path}: expected a JSON object with columns {', '.join(columns)}")
    merged: dict[str, Fragment] = {}
    for label, smiles in table["block_smi"].items():
        where = f"{path}, row {label} ({table['block_name'].get(label, '?')})"
        stems = table["block_r"].get(label)
        if not isinstance(stems, list) or not all(type(s) is int for s in stems):
            raise UserError(f"{where}, column 'block_r': expected a list of atom indices")
        if not isinstance(smiles, str):
            raise UserError(f"{where}, column 'block_smi': expected a SMILES string")
        try:
            fragment = fragment_from_stems(smiles, stems)
        except ValueError as error:
            raise UserError(f"{where}: {error}") from None
        if fragment.smiles in merged:
            united = sorted({*merged[fragment.smiles].stems, *fragment.stems})
            fragment = Fragment(fragment.smiles, tuple(united))
        merged[fragment.smiles] = fragment
    if not merged:
        raise UserError(f"{path}: no fragments")
    return Vocabulary(merged.values())


def default_vocabulary() -> Vocabulary:
    """The vocabulary shipped with the package (``gfncompose/data/fragments.csv``)."""
    resource = importlib.resources.files("gfncompose.data").joinpath(DEFAULT_VOCABULARY)
    with importlib.resources.as_file(resource) as path:
        return read_vocabulary(path)
