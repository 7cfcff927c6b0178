"""A molecule's piece tree: its rigid pieces, the junctions joining them and its fragment sets.

The junction candidates of a molecule (see :mod:`.assembly`) are bridges, so
removing them leaves rigid pieces joined in a tree (:class:`PieceTree`). A
connected set of pieces that, capped with hydrogens, is a vocabulary fragment is
a *fragment set*; :mod:`.decomposition` splits the molecule along them.

A tree is built from a molecule, or, much faster, from its parent's tree and the
fragment a join adds (:meth:`PieceTree.join`): a join keeps every atom's label
and stem kind (but for the two hydrogens it replaces), every bond and every
junction candidate, and adds one junction. The pieces are then the parent's and
the fragment's, and so are the fragment sets, plus those that span the new
junction: only those are searched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdkit import Chem

from .assembly import AtomLabel, FragmentTable, heavy_hash, join, stem_kinds
from .editing import atoms_of, bonds_of, output_order

_MAX_MATCHES = 1 << 20
"""Cap on substructure matches per fragment: far above any molecule's (it must never bind)."""

FragmentSet = tuple[int, tuple[int, ...], tuple[tuple[int, int], ...]]
"""``(fragment, match, boundary)`` of a piece set that is a fragment: which one, the atom
playing its atom ``i``, and the junctions leaving the set as ``(edge, piece outside)``."""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PieceTree:
    """A molecule's rigid pieces, the junctions joining them and its fragment sets.

    Build one with :meth:`from_mol` or :meth:`join`; trees compare by identity. Atom
    indices are those of ``frozen``: the canonical order for a tree built from a molecule,
    the parent's atoms then the fragment's for one built by a join (so that a join inherits
    its parent's data as they are); ``canonical`` maps them to the canonical order.

    Attributes:
        frozen: the molecule with frozen hydrogens (:func:`~.editing.freeze_hydrogens`).
        canonical: index of each atom in the canonical SMILES.
        labels: :class:`~.assembly.AtomLabel` of each atom.
        degree: heavy-atom neighbours of each atom.
        stem_ok: whether each atom's stem kind is in ``K``.
        bonds: ``(begin, end, bond type)`` of each bond; ``bond_in_ring`` and ``conjugated``
            its RDKit flags.
        pieces: the atoms of each piece; ``piece_of`` the piece of each atom.
        piece_signature: ``(atoms, bonds, Σ heavy hash, hydrogens)`` of each piece capped
            with hydrogens (a join changes none of them).
        edges: junctions ``(u, v, piece of u, piece of v)``; ``adjacent[p]`` lists
            ``(edge, other piece)`` of piece ``p``.
        fragment_sets: every connected piece set that is a vocabulary fragment ->
            its :data:`FragmentSet`.
        origin: ``(edge, rest piece, parent key, parent atom)`` of the leaf cut undoing
            the join that built the tree, or ``None``.
    """

    frozen: Chem.Mol
    canonical: list[int]
    labels: list[AtomLabel]
    degree: list[int]
    stem_ok: list[bool]
    bonds: list[tuple[int, int, int]]
    bond_in_ring: list[bool]
    conjugated: list[bool]
    pieces: list[tuple[int, ...]]
    piece_of: list[int]
    piece_signature: list[tuple[int, int, int, int]]
    edges: list[tuple[int, int, int, int]]
    origin: tuple[int, int, str, int] | None = None
    adjacent: list[list[tuple[int, int]]] = field(init=False)
    fragment_sets: dict[frozenset[int], FragmentSet] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        adjacent: list[list[tuple[int, int]]] = [[] for _ in self.pieces]
        for e, (_, _, a, b) in enumerate(self.edges):
            adjacent[a].append((e, b))
            adjacent[b].append((e, a))
        object.__setattr__(self, "adjacent", adjacent)  # derived, so not a constructor argument

    @property
    def num_atoms(self) -> int:
        return len(self.labels)

    def attachment_points(self) -> list[int]:
        """Atoms that can take a new fragment (a hydrogen, stem kind in ``K``), in canonical
        order."""
        points = [
            i
            for i, (ok, label) in enumerate(zip(self.stem_ok, self.labels, strict=True))
            if ok and label.hydrogens
        ]
        return sorted(points, key=self.canonical.__getitem__)

    @classmethod
    def from_mol(cls, mol: Chem.Mol, table: FragmentTable) -> PieceTree:
        """The tree of a sanitized molecule in canonical atom order (one RDKit pass over it)."""
        frozen = Chem.RWMol(mol)
        labels, degree = [], []
        for atom in atoms_of(frozen):
            hydrogens = atom.GetTotalNumHs()
            labels.append(
                AtomLabel(
                    atom.GetAtomicNum(),
                    atom.GetFormalCharge(),
                    atom.GetIsotope(),
                    atom.GetIsAromatic(),
                    hydrogens,
                )
            )
            degree.append(atom.GetDegree())
            atom.SetNoImplicit(True)
            atom.SetNumExplicitHs(hydrogens)
        bonds, free, bond_in_ring, conjugated = [], [], [], []
        for bond in bonds_of(frozen):
            order = bond.GetBondType()
            bonds.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), int(order)))
            bond_in_ring.append(bond.IsInRing())
            conjugated.append(bond.GetIsConjugated())
            free.append(order == Chem.BondType.SINGLE and not bond_in_ring[-1])
        stem_ok = [kind in table.kinds for kind in stem_kinds(mol)]
        root = list(range(len(labels)))

        def find(i: int) -> int:
            while root[i] != i:
                root[i] = root[root[i]]
                i = root[i]
            return i

        junctions, internal = [], []
        for (u, v, _), single in zip(bonds, free, strict=True):
            if single and stem_ok[u] and stem_ok[v]:
                junctions.append((u, v))
            else:
                internal.append(u)
                root[find(u)] = find(v)
        piece_of_root: dict[int, int] = {}
        piece_of, members = [], []
        for i in range(len(labels)):
            piece = piece_of_root.setdefault(find(i), len(members))
            if piece == len(members):
                members.append([])
            members[piece].append(i)
            piece_of.append(piece)
        pieces = [tuple(atoms) for atoms in members]
        piece_bonds = [0] * len(pieces)
        for u in internal:
            piece_bonds[piece_of[u]] += 1
        ends = [0] * len(pieces)
        for u, v in junctions:
            ends[piece_of[u]] += 1
            ends[piece_of[v]] += 1
        piece_signature = [
            (
                len(atoms),
                piece_bonds[p],
                sum(heavy_hash(labels[i]) for i in atoms),
                sum(labels[i].hydrogens for i in atoms) + ends[p],
            )
            for p, atoms in enumerate(pieces)
        ]
        tree = cls(
            frozen=frozen,
            canonical=list(range(len(labels))),
            labels=labels,
            degree=degree,
            stem_ok=stem_ok,
            bonds=bonds,
            bond_in_ring=bond_in_ring,
            conjugated=conjugated,
            pieces=pieces,
            piece_of=piece_of,
            piece_signature=piece_signature,
            edges=[(u, v, piece_of[u], piece_of[v]) for u, v in junctions],
        )
        for p in range(len(pieces)):
            onward = [(e, q) for e, q in tree.adjacent[p] if q > p]
            tree._find_fragment_sets((p,), onward, p, table)
        return tree

    def join(
        self,
        atom: int,
        fragment: PieceTree,
        stem: int,
        parent: tuple[str, int],
        table: FragmentTable,
    ) -> tuple[str, PieceTree]:
        """Bond ``fragment``'s atom ``stem`` to ``atom``: the product's canonical SMILES and tree.

        ``parent`` is this molecule's key and ``atom``'s canonical index: the parent of the
        leaf cut undoing the join, recorded as the tree's ``origin``.
        """
        smiles, frozen = join(self.frozen, atom, fragment.frozen, stem)
        canonical = [0] * frozen.GetNumAtoms()
        for position, index in enumerate(output_order(frozen)):
            canonical[index] = position
        n, num_pieces = self.num_atoms, len(self.pieces)
        other = n + stem
        labels = self.labels + fragment.labels
        degree = self.degree + fragment.degree
        for end in (atom, other):
            label = labels[end]
            labels[end] = label._replace(hydrogens=label.hydrogens - 1)
            degree[end] += 1
        bonds = self.bonds + [(n + u, n + v, kind) for u, v, kind in fragment.bonds]
        bonds.append((atom, other, int(Chem.BondType.SINGLE)))
        # the new bond is a bridge, so ring bonds stay; conjugation can change only at the
        # joined atoms (RDKit decides it from each atom's bonds and its neighbours' valences)
        conjugated = self.conjugated + fragment.conjugated + [False]
        for end in (atom, other):
            for bond in frozen.GetAtomWithIdx(end).GetBonds():
                conjugated[bond.GetIdx()] = bond.GetIsConjugated()
        pieces = self.pieces + [tuple(n + i for i in atoms) for atoms in fragment.pieces]
        piece_of = self.piece_of + [p + num_pieces for p in fragment.piece_of]
        edges = self.edges + [
            (n + u, n + v, a + num_pieces, b + num_pieces) for u, v, a, b in fragment.edges
        ]
        a, b = piece_of[atom], piece_of[other]
        edges.append((atom, other, a, b))
        tree = PieceTree(
            frozen=frozen,
            canonical=canonical,
            labels=labels,
            degree=degree,
            stem_ok=self.stem_ok + fragment.stem_ok,
            bonds=bonds,
            bond_in_ring=self.bond_in_ring + fragment.bond_in_ring + [False],
            conjugated=conjugated,
            pieces=pieces,
            piece_of=piece_of,
            piece_signature=self.piece_signature + fragment.piece_signature,
            edges=edges,
            origin=(len(edges) - 1, a, *parent),
        )
        # the new junction leaves every set holding one of its ends
        last, num_edges = len(edges) - 1, len(self.edges)
        for nodes, (f, match, boundary) in self.fragment_sets.items():
            if a in nodes:
                boundary += ((last, b),)
            tree.fragment_sets[nodes] = (f, match, boundary)
        for nodes, (f, match, boundary) in fragment.fragment_sets.items():
            shifted = frozenset(k + num_pieces for k in nodes)
            boundary = tuple((e + num_edges, q + num_pieces) for e, q in boundary)
            if b in shifted:
                boundary += ((last, a),)
            tree.fragment_sets[shifted] = (f, tuple(n + t for t in match), boundary)
        frontier = [(e, q) for e, q in tree.adjacent[a] + tree.adjacent[b] if e != last]
        tree._find_fragment_sets((a, b), frontier, -1, table)
        return smiles, tree

    def _find_fragment_sets(
        self,
        seed: tuple[int, ...],
        frontier: list[tuple[int, int]],
        floor: int,
        table: FragmentTable,
    ) -> None:
        """Add the fragment sets among the connected piece sets that contain the connected
        ``seed`` and grow from it across ``frontier`` through pieces above ``floor``.

        Each set is visited once (a set's frontier edges are either taken or excluded
        for good), with its capped :data:`~.assembly.Signature` summed from its pieces'
        (each inner junction counts one bond and took one hydrogen off each end). Sets
        stop growing at the fragments' largest atom and piece counts: bounding atoms alone
        let a branched chain of one-atom pieces enumerate millions of sets per join.
        """
        sums = [
            sum(column) for column in zip(*(self.piece_signature[p] for p in seed), strict=True)
        ]
        if sums[0] <= table.max_atoms and len(seed) <= table.max_pieces:
            self._grow(seed, *sums, frontier, floor, table)

    def _grow(
        self,
        nodes: tuple[int, ...],
        atoms: int,
        bonds: int,
        heavy: int,
        hydrogens: int,
        frontier: list[tuple[int, int]],
        floor: int,
        table: FragmentTable,
    ) -> None:
        """Record ``nodes`` if it is a fragment set, then grow it across each frontier edge in
        turn (:meth:`_find_fragment_sets`); ``atoms … hydrogens`` are its pieces' summed
        signature. A method, not a recursive closure: a closure calling itself is a reference
        cycle, garbage for the cyclic collector at every join."""
        inner = len(nodes) - 1
        candidates = table.by_signature.get((atoms, bonds + inner, heavy, hydrogens - 2 * inner))
        if candidates:
            found = self._verify(nodes, candidates, table)
            if found is not None:
                self.fragment_sets[frozenset(nodes)] = found
        if len(nodes) == table.max_pieces:
            return
        signature, adjacent, limit = self.piece_signature, self.adjacent, table.max_atoms
        for i, (e, other) in enumerate(frontier):
            size, more_bonds, more_heavy, more_hydrogens = signature[other]
            if atoms + size > limit:
                continue
            onward = [(f, q) for f, q in adjacent[other] if f != e and q > floor]
            self._grow(
                nodes + (other,),
                atoms + size,
                bonds + more_bonds,
                heavy + more_heavy,
                hydrogens + more_hydrogens,
                frontier[i + 1 :] + onward,
                floor,
                table,
            )

    def _verify(
        self, nodes: tuple[int, ...], candidates: list[int], table: FragmentTable
    ) -> FragmentSet | None:
        """The :data:`FragmentSet` of the connected piece set ``nodes`` if, capped, it is one
        of the ``candidates``, else ``None``."""
        inside = set(nodes)
        atoms: set[int] = set()
        capped: dict[int, int] = {}
        boundary = []
        for k in nodes:
            atoms.update(self.pieces[k])
            for e, other in self.adjacent[k]:
                if other not in inside:
                    u, v, a, _ = self.edges[e]
                    end = u if a == k else v
                    capped[end] = capped.get(end, 0) + 1
                    boundary.append((e, other))
        for f in candidates:
            fragment = table.fragments[f]
            matches = self.frozen.GetSubstructMatches(
                fragment.mol, uniquify=False, maxMatches=_MAX_MATCHES
            )
            if len(matches) == _MAX_MATCHES:
                raise RuntimeError(f"{fragment.smiles} matches a molecule too often")
            for match in matches:
                if atoms.issuperset(match) and all(
                    label[:4] == self.labels[t][:4]
                    and label.hydrogens == self.labels[t].hydrogens + capped.get(t, 0)
                    for label, t in zip(fragment.labels, match, strict=True)
                ):
                    return f, match, tuple(boundary)
        return None
