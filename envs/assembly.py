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

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rdkit import Chem

from .editing import atoms_of, bonds_of, output_order
from .vocabulary import Vocabulary

StemKind = tuple[int, int, bool, int, tuple[tuple[int, int], ...]]


class AtomLabel(NamedTuple):
    """What a substructure match must preserve of an atom. Joins and leaf cuts change only
    ``hydrogens``; ``label[:4]`` is the rest."""

    atomic_number: int
    charge: int
    isotope: int
    aromatic: bool
    hydrogens: int


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


def stem_kinds(mol: Chem.Mol) -> list[StemKind]:
    """:func:`stem_kind` of every atom of ``mol``, from one pass over its atoms and bonds."""
    atoms = atoms_of(mol)
    fixed: list[list[tuple[int, int]]] = [[] for _ in atoms]
    for bond in bonds_of(mol):
        kind = bond.GetBondType()
        if bond.IsInRing() or kind != Chem.BondType.SINGLE:
            u, v = bond.GetBeginAtom(), bond.GetEndAtom()
            fixed[u.GetIdx()].append((int(kind), v.GetAtomicNum()))
            fixed[v.GetIdx()].append((int(kind), u.GetAtomicNum()))
    return [
        (
            atom.GetAtomicNum(),
            atom.GetFormalCharge(),
            atom.GetIsAromatic(),
            atom.GetTotalDegree(),
            tuple(sorted(bonds)),
        )
        for atom, bonds in zip(atoms, fixed, strict=True)
    ]


def attachment_points(mol: Chem.Mol, kinds: frozenset[StemKind]) -> list[int]:
    """Indices of the atoms of ``mol`` that can take a new fragment, ascending."""
    return [
        i
        for i, (atom, kind) in enumerate(zip(atoms_of(mol), stem_kinds(mol), strict=True))
        if kind in kinds and atom.GetTotalNumHs() > 0
    ]


def symmetry_representatives(
    mol: Chem.Mol,
    atoms: Sequence[int],
    graph: tuple[Sequence[AtomLabel], Sequence[tuple[int, int, int]]] | None = None,
) -> dict[int, int]:
    """For each of ``atoms``, the lowest-index atom among ``atoms`` in its automorphism orbit.

    Candidates come from RDKit's symmetry classes (a refinement that can merge
    atoms that are not equivalent); :func:`marked_form` decides. ``mol`` is
    marked in place while that runs and is left as it was; ``graph`` is its
    :func:`labelled_graph` when the caller has it.
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
        graph = graph or labelled_graph(mol)
        first_of: dict[Hashable, int] = {}
        for atom in members:
            representative[atom] = first_of.setdefault(marked_form(mol, (atom,), *graph), atom)
    return representative


def labelled_graph(mol: Chem.Mol) -> tuple[list[AtomLabel], list[tuple[int, int, int]]]:
    """The :class:`AtomLabel` of each atom and the bonds ``(begin, end, bond type)``."""
    labels = [atom_label(atom) for atom in atoms_of(mol)]
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondType())) for b in bonds_of(mol)]
    return labels, bonds


def marked_form(
    mol: Chem.Mol,
    atoms: Sequence[int],
    labels: Sequence[AtomLabel],
    bonds: Sequence[tuple[int, int, int]],
) -> Hashable:
    """A canonical form of ``mol`` (with its ``labels`` and ``bonds``) with ``atoms`` marked
    in order: equal for two sequences of atoms exactly when an automorphism maps one onto
    the other.

    It lists labels and bonds in the canonical atom ranking that RDKit writes canonical
    SMILES in, computed with atom map number ``i + 1`` on ``atoms[i]`` (set in place, then
    cleared): the certificate of an atom-mapped canonical SMILES, without writing one.
    """
    for number, atom in enumerate(atoms, start=1):
        mol.GetAtomWithIdx(atom).SetAtomMapNum(number)
    try:
        ranking = Chem.CanonicalRankAtoms(mol, breakTies=True)
    finally:
        for atom in atoms:
            mol.GetAtomWithIdx(atom).SetAtomMapNum(0)
    n = len(ranking)
    rank = [ranking[i] for i in range(n)]  # indexing beats the vector's iterator
    by_rank = [0] * n
    for index, r in enumerate(rank):
        by_rank[r] = index
    # each bond as one integer: its ends' ranks (lower first), then its type (below 64)
    edges = sorted(
        ((rank[u] * n + rank[v] if rank[u] < rank[v] else rank[v] * n + rank[u]) << 6) + kind
        for u, v, kind in bonds
    )
    return tuple(rank[a] for a in atoms), tuple(labels[i] for i in by_rank), tuple(edges)


def join(parent: Chem.Mol, atom: int, fragment: Chem.Mol, stem: int) -> tuple[str, Chem.RWMol]:
    """Bond ``fragment``'s atom ``stem`` to ``atom`` of ``parent``; both have frozen hydrogens
    (:func:`~.editing.freeze_hydrogens`) and neither is modified.

    Returns the product's canonical SMILES and the product, hydrogens frozen, with the
    atoms of ``parent`` then those of ``fragment``, as :func:`Chem.SanitizeMol` leaves it.
    """
    product = unsanitized_join(parent, atom, fragment, stem)
    _sanitize_join(product)
    return Chem.MolToSmiles(product), product


def unsanitized_join(parent: Chem.Mol, atom: int, fragment: Chem.Mol, stem: int) -> Chem.RWMol:
    """The product of :func:`join` before any sanitization."""
    product = Chem.RWMol(Chem.CombineMols(parent, fragment))
    other = parent.GetNumAtoms() + stem
    for index in (atom, other):
        end = product.GetAtomWithIdx(index)
        end.SetNumExplicitHs(end.GetNumExplicitHs() - 1)
    product.AddBond(atom, other, Chem.BondType.SINGLE)
    return product


def _sanitize_join(mol: Chem.RWMol) -> None:
    """Sanitize, in place, the product of a join of two sanitized molecules: what a single
    acyclic bond replacing a hydrogen on each side can change (valences, ring perception,
    which the combined molecule lacks, conjugation and hybridization). Kekulization and
    aromaticity perception, near half of a full sanitization, are left out: every ring and every
    ring atom's electron count (a hydrogen became a single bond) stay as they were, so they
    would give back the flags the two sides bring."""
    mol.UpdatePropertyCache()
    Chem.GetSymmSSSR(mol)
    Chem.SetConjugation(mol)
    Chem.SetHybridization(mol)


def remove_leaf(frozen: Chem.Mol, leaf: Sequence[int], atom: int) -> tuple[str, int]:
    """Remove the atoms ``leaf``, bonded to the rest only through ``atom``, capping it.

    ``frozen`` comes from :func:`~.editing.freeze_hydrogens` and is not modified. Returns the
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


def atom_label(atom: Chem.Atom) -> AtomLabel:
    """The :class:`AtomLabel` of ``atom``."""
    return AtomLabel(
        atom.GetAtomicNum(),
        atom.GetFormalCharge(),
        atom.GetIsotope(),
        atom.GetIsAromatic(),
        atom.GetTotalNumHs(),
    )


Signature = tuple[int, int, int, int]
"""(heavy atoms, bonds, sum of :func:`heavy_hash`, hydrogens) of a capped molecule: equal for
isomorphic molecules, so a cheap necessary condition for a part of a molecule to be a
given fragment."""


def heavy_hash(label: AtomLabel) -> int:
    """A hash of an atom's label without its hydrogens (sums of it are multiset invariants)."""
    return hash(label[:4])


@dataclass(frozen=True)
class CompiledFragment:
    """A vocabulary fragment ready for joining and matching.

    Attributes:
        mol: the canonical molecule (atom ``i`` is atom ``i`` of its SMILES).
        stems: its attachment points, one per automorphism orbit (lowest index).
        stem_of_atom: attachment point -> position in ``stems`` of its orbit.
        labels: :class:`AtomLabel` of each atom.
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
        max_pieces: rigid pieces (see :mod:`.piece_tree`) of the fragment that has most: a
            fragment's junction candidates are bridges, so it has one piece more than it
            has junction candidates, and embedded in a molecule it keeps exactly those.
        max_attachments: attachment points of the richest fragment.
        by_signature: :data:`Signature` -> the fragments that have it.
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
        self.by_signature: dict[Signature, list[int]] = {}
        total = 0
        for f, mol in zip(vocabulary, mols, strict=True):
            points = attachment_points(mol, self.kinds)
            representative = symmetry_representatives(mol, points)
            stems = tuple(sorted(set(representative.values())))
            stem_of_atom = {a: stems.index(r) for a, r in representative.items()}
            labels = tuple(atom_label(a) for a in mol.GetAtoms())
            signature = (
                len(labels),
                mol.GetNumBonds(),
                sum(heavy_hash(label) for label in labels),
                sum(label.hydrogens for label in labels),
            )
            self.by_signature.setdefault(signature, []).append(len(self.fragments))
            self.index[f.smiles] = len(self.fragments)
            self.fragments.append(
                CompiledFragment(
                    smiles=f.smiles, mol=mol, stems=stems, stem_of_atom=stem_of_atom, labels=labels
                )
            )
            self.stem_offset.append(total)
            total += len(stems)
        self.num_stems = total
        self.max_atoms = max(mol.GetNumAtoms() for mol in mols)
        self.max_pieces = 1 + max(_num_junction_candidates(mol, self.kinds) for mol in mols)
        self.max_attachments = max(len(f.stem_of_atom) for f in self.fragments)

    def __len__(self) -> int:
        return len(self.fragments)


def _num_junction_candidates(mol: Chem.Mol, kinds: frozenset[StemKind]) -> int:
    """Single acyclic bonds of ``mol`` between two atoms whose stem kinds are in ``kinds``."""
    ok = [kind in kinds for kind in stem_kinds(mol)]
    return sum(
        bond.GetBondType() == Chem.BondType.SINGLE
        and not bond.IsInRing()
        and ok[bond.GetBeginAtomIdx()]
        and ok[bond.GetEndAtomIdx()]
        for bond in bonds_of(mol)
    )
