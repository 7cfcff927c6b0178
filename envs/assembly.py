"""How fragments join into molecules: stem kinds, joins and the compiled vocabulary.

The rules, all functions of a molecule alone (no construction history):

* An atom's **stem kind** is what a single bond to another fragment can never
  change: element, formal charge, aromaticity, number of attached atoms counting
  hydrogens, and its ring bonds and multiple bonds (order and partner element).
  The vocabulary's marked stems declare the kinds ``K``.
* An **attachment point** of a molecule (or fragment) is an atom with a hydrogen
  whose kind is in ``K``; a join replaces one hydrogen on each side by a single
  bond, so every join keeps valences and gives a molecule RDKit sanitizes.
* A **junction** candidate is a single, acyclic bond between two atoms of kinds
  in ``K``. Removing all junction candidates splits the molecule into rigid
  pieces (ring systems, multiple-bonded groups, single atoms) that form a tree.
  An **assembly** of the molecule cuts a subset of junction candidates so that
  every part, capped with hydrogens, is a vocabulary fragment; its size is the
  number of parts. ``min_fragments`` is the smallest size of an assembly
  (infinite when there is none); :mod:`.decomposition` finds it.
* A **leaf cut** cuts one junction candidate so that one side alone is a
  vocabulary fragment; the other side is the parent that adding the fragment
  back turns into the molecule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rdkit import Chem

from .editing import freeze_hydrogens, output_order
from .vocabulary import Vocabulary

StemKind = tuple[int, int, bool, int, tuple[tuple[int, int], ...]]


def stem_kind(atom: Chem.Atom) -> StemKind:
    """The invariants of ``atom`` that no join or leaf cut changes (see module docs)."""
    fixed = sorted(
        (int(bond.GetBondType()), bond.GetOtherAtom(atom).GetAtomicNum())
        for bond in atom.GetBonds()
        if bond.IsInRing() or bond.GetBondType() != Chem.BondType.SINGLE
    )
    return (
        atom.GetAtomicNum(),
        atom.GetFormalCharge(),
        atom.GetIsAromatic(),
        atom.GetTotalDegree(),
        tuple(fixed),
    )


def attachment_points(mol: Chem.Mol, kinds: frozenset[StemKind]) -> list[int]:
    """Indices of the atoms of ``mol`` that can take a new fragment, ascending."""
    return [a.GetIdx() for a in mol.GetAtoms() if a.GetTotalNumHs() > 0 and stem_kind(a) in kinds]


def symmetry_representatives(mol: Chem.Mol, atoms: Sequence[int]) -> dict[int, int]:
    """For each of ``atoms``, the lowest-index atom among ``atoms`` in its automorphism orbit.

    Candidates come from RDKit's symmetry classes (a refinement that can merge
    atoms that are not equivalent); an atom-mapped canonical SMILES decides.
    """
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    by_rank: dict[int, list[int]] = {}
    for atom in atoms:
        by_rank.setdefault(ranks[atom], []).append(atom)
    representative = {}
    for members in by_rank.values():
        if len(members) == 1:
            representative[members[0]] = members[0]
            continue
        first_of: dict[str, int] = {}
        for atom in members:
            labelled = Chem.Mol(mol)
            labelled.GetAtomWithIdx(atom).SetAtomMapNum(1)
            representative[atom] = first_of.setdefault(Chem.MolToSmiles(labelled), atom)
    return representative


def join(mol: Chem.Mol, atom: int, fragment: Chem.Mol, stem: int) -> str:
    """Canonical SMILES of ``mol`` with ``fragment`` bonded from its atom ``stem`` to ``atom``."""
    combined = freeze_hydrogens(Chem.CombineMols(mol, fragment))
    other = mol.GetNumAtoms() + stem
    for index in (atom, other):
        end = combined.GetAtomWithIdx(index)
        end.SetNumExplicitHs(end.GetNumExplicitHs() - 1)
    combined.AddBond(atom, other, Chem.BondType.SINGLE)
    Chem.SanitizeMol(combined)
    return Chem.MolToSmiles(combined)


def remove_leaf(frozen: Chem.RWMol, leaf: Sequence[int], atom: int) -> tuple[str, int]:
    """Remove the atoms ``leaf``, bonded to the rest only through ``atom``, capping it.

    ``frozen`` comes from :func:`freeze_hydrogens` and is not modified. Returns the
    rest's canonical SMILES and the index of ``atom`` in it.
    """
    rest = Chem.RWMol(frozen)
    capped = rest.GetAtomWithIdx(atom)
    capped.SetNumExplicitHs(capped.GetNumExplicitHs() + 1)
    rest.BeginBatchEdit()
    for index in leaf:
        rest.RemoveAtom(index)
    rest.CommitBatchEdit()
    smiles = Chem.MolToSmiles(rest)
    shifted = atom - sum(1 for index in leaf if index < atom)
    return smiles, output_order(rest).index(shifted)


AtomLabel = tuple[int, int, int, bool, int]
"""(atomic number, formal charge, isotope, aromatic, hydrogens): what a match must preserve."""


def atom_label(atom: Chem.Atom) -> AtomLabel:
    """The :data:`AtomLabel` of ``atom``."""
    return (
        atom.GetAtomicNum(),
        atom.GetFormalCharge(),
        atom.GetIsotope(),
        atom.GetIsAromatic(),
        atom.GetTotalNumHs(),
    )


@dataclass(frozen=True)
class CompiledFragment:
    """A vocabulary fragment ready for joining and matching.

    Attributes:
        mol: the canonical molecule (atom ``i`` is atom ``i`` of its SMILES).
        stems: its attachment points, one per automorphism orbit (lowest index).
        stem_of_atom: attachment point -> position in ``stems`` of its orbit.
        labels: :data:`AtomLabel` of each atom.
    """

    smiles: str
    mol: Chem.Mol
    stems: tuple[int, ...]
    stem_of_atom: dict[int, int]
    labels: tuple[AtomLabel, ...]


class FragmentTable:
    """A vocabulary compiled for assembly: stem kinds, fragments and their stems.

    Attributes:
        kinds: the stem kinds ``K`` declared by the vocabulary's marked stems.
        fragments: one :class:`CompiledFragment` per vocabulary entry, in order.
        index: canonical SMILES -> position in ``fragments``.
        stem_offset: ``stem_offset[f]`` is the flat index of fragment ``f``'s first
            stem; ``num_stems`` counts all (fragment, stem) pairs.
        max_atoms: heavy atoms of the largest fragment.
        max_attachments: attachment points of the richest fragment.
    """

    def __init__(self, vocabulary: Vocabulary):
        mols = [Chem.MolFromSmiles(f.smiles) for f in vocabulary]
        self.kinds = frozenset(
            stem_kind(mol.GetAtomWithIdx(s))
            for mol, f in zip(mols, vocabulary, strict=True)
            for s in f.stems
        )
        self.fragments: list[CompiledFragment] = []
        self.index: dict[str, int] = {}
        self.stem_offset: list[int] = []
        total = 0
        for f, mol in zip(vocabulary, mols, strict=True):
            points = attachment_points(mol, self.kinds)
            representative = symmetry_representatives(mol, points)
            stems = tuple(sorted(set(representative.values())))
            stem_of_atom = {a: stems.index(r) for a, r in representative.items()}
            labels = tuple(atom_label(a) for a in mol.GetAtoms())
            self.index[f.smiles] = len(self.fragments)
            self.fragments.append(CompiledFragment(f.smiles, mol, stems, stem_of_atom, labels))
            self.stem_offset.append(total)
            total += len(stems)
        self.num_stems = total
        self.max_atoms = max(mol.GetNumAtoms() for mol in mols)
        self.max_attachments = max(len(f.stem_of_atom) for f in self.fragments)

    def __len__(self) -> int:
        return len(self.fragments)
