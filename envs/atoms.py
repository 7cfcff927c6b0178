"""The atom environment: build a molecule one heavy atom or one ring bond at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from ..errors import UserError
from ..lru import LRUCache
from .editing import atoms_of, bonds_of
from .molecule import (
    BOND_TYPES,
    CACHE_SIZE,
    EMPTY,
    MolFeaturizer,
    MolState,
    MolStates,
    kekule_forms,
    kekule_template,
    state_key,
)
from .molecule_env import MoleculeEnvironment
from .rings import RingClosures, across_triple_bond

MAX_VALENCE = {"B": 3, "C": 4, "N": 3, "O": 2, "F": 1, "P": 5, "S": 6, "Cl": 1, "Br": 1, "I": 1}
"""Largest valence of each supported (neutral) element; hydrogens fill the rest."""

DEFAULT_ATOMS = ("C", "N", "O", "F", "S", "Cl")
ORDERS = (1, 2, 3)
FIRST_ATOM, ADD_ATOM, ADD_BOND, STOP = "first_atom", "add_atom", "add_bond", "stop"


@dataclass(frozen=True)
class _StateInfo:
    """What the environment needs of one state, computed once per key."""

    kekule: Chem.RWMol
    mask: np.ndarray  # bool [A]
    signature: np.ndarray  # int [n]: (type, degree, bond-order sum) code of each atom
    pair_distance: np.ndarray  # int [P]: graph distance of each pair, 0 where absent
    invariants: tuple[np.ndarray, np.ndarray, np.ndarray]  # type, degree, bond-order sum
    adjacency: list[set[int]]  # neighbours of each atom
    ring_bonds: list[tuple[int, int]]


class AtomEnv(MoleculeEnvironment):
    """Molecules built from heavy atoms with implicit hydrogens, keyed by canonical SMILES.

    A state is a connected, sanitizable molecule (the initial state is empty).
    The flat action space, with ``T`` atom types, ``N = max_atoms`` and the
    ``P = N(N-1)/2`` atom pairs ``pairs`` (``torch.triu_indices`` order):

    - ``[0, T)``: place the first atom, of type ``t`` (empty state only);
    - ``add_atom_offset + (i*T + t)*3 + (o-1)``: add an atom of type ``t`` bonded to
      atom ``i`` with order ``o``;
    - ``add_bond_offset + p*3 + (o-1)``: bond the atoms of pair ``p`` with order ``o``,
      closing a ring; allowed when their graph distance ``d`` gives a ring size
      ``d + 1`` within ``ring_sizes``;
    - ``stop_action`` (last): the current molecule is the terminal object.

    Chemistry: atoms are neutral with implicit hydrogens, and an atom accepts a
    bond of order ``o`` while ``o`` does not exceed its free valence
    ``MAX_VALENCE - Σ bond orders`` (sulfur up to 6, so sulfones are reachable).
    Triple bonds stay out of rings (:func:`~gfncompose.envs.rings.across_triple_bond`).
    Actions edit the state's canonical Kekulé form; the result is sanitized, so
    aromaticity is perceived, and keyed by its canonical aromatic SMILES. Every
    allowed action therefore gives a molecule RDKit sanitizes, and stop is allowed
    on every non-empty molecule.

    Symmetry: a state is the molecule up to isomorphism, so ``log_backward`` is
    ``-log`` the number of *distinct* parent molecules (reachable ones only) and
    ``log_transition`` sums the probabilities of all actions that give the same
    child molecule; the GFlowNet then samples molecules ``∝ R``, with no bias
    from automorphisms.

    ``max_atoms`` defaults to 20: lead-like molecules (below ~300 Da) have about
    20 heavy atoms, and the pair head grows as ``N²`` (20 atoms: 937 actions).
    """

    def __init__(
        self,
        atoms: Sequence[str] = DEFAULT_ATOMS,
        max_atoms: int = 20,
        ring_sizes: tuple[int, int] = (3, 8),
        device: str | torch.device = "cpu",
    ):
        unknown = [a for a in atoms if a not in MAX_VALENCE]
        if unknown or not atoms or len(set(atoms)) != len(atoms):
            raise UserError(
                f"atoms must be distinct elements from {sorted(MAX_VALENCE)}, got {list(atoms)}"
            )
        if max_atoms < 1:
            raise UserError(f"max_atoms must be at least 1, got {max_atoms}")
        low, high = ring_sizes
        if not 3 <= low <= high:
            raise UserError(f"ring_sizes must satisfy 3 <= min <= max, got {tuple(ring_sizes)}")
        self.atoms = tuple(atoms)
        self.max_atoms = max_atoms
        self.ring_sizes = (low, high)
        super().__init__()
        self.device = torch.device(device)
        n, t = max_atoms, len(atoms)
        self.pairs = torch.triu_indices(n, n, 1).T
        self.num_pairs = len(self.pairs)
        self.add_atom_offset = t
        self.add_bond_offset = t + n * t * len(ORDERS)
        self.stop_action = self.add_bond_offset + self.num_pairs * len(ORDERS)
        self.num_actions = self.stop_action + 1
        self.featurizer = MolFeaturizer(atoms)
        self._numbers = [Chem.Atom(a).GetAtomicNum() for a in atoms]
        self._type = {z: i for i, z in enumerate(self._numbers)}
        self._max_valence = np.array([MAX_VALENCE[a] for a in atoms])
        self._pair_index = np.zeros((n, n), dtype=np.int64)
        self._pair_index[tuple(self.pairs.T.numpy())] = np.arange(self.num_pairs)
        self._orders = np.array(ORDERS)
        self._triu_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._closures = RingClosures(self.ring_sizes)
        self._infos: LRUCache[str, _StateInfo] = LRUCache(CACHE_SIZE)
        self._same_child: LRUCache[tuple[str, int], list[int]] = LRUCache(CACHE_SIZE)
        self._num_parents: LRUCache[str, int] = LRUCache(CACHE_SIZE)

    # -- actions ---------------------------------------------------------------------------
    def decode(self, action: int) -> tuple:
        """``(FIRST_ATOM, t)``, ``(ADD_ATOM, i, t, o)``, ``(ADD_BOND, i, j, o)`` or ``(STOP,)``."""
        if action < self.add_atom_offset:
            return (FIRST_ATOM, action)
        if action < self.add_bond_offset:
            rest, order = divmod(action - self.add_atom_offset, len(ORDERS))
            i, t = divmod(rest, len(self.atoms))
            return (ADD_ATOM, i, t, order + 1)
        if action < self.stop_action:
            pair, order = divmod(action - self.add_bond_offset, len(ORDERS))
            i, j = self.pairs[pair].tolist()
            return (ADD_BOND, i, j, order + 1)
        return (STOP,)

    # -- per-state data --------------------------------------------------------------------
    def _info(self, state: MolState) -> _StateInfo:
        return self._infos.get(state.key, lambda: self._compute_info(state))

    def _compute_info(self, state: MolState) -> _StateInfo:
        mol, n = state.mol, state.num_atoms
        mask = np.zeros(self.num_actions, dtype=bool)
        pair_distance = np.zeros(self.num_pairs, dtype=np.int64)
        if n == 0:
            mask[: self.add_atom_offset] = True
            none = np.zeros(0, dtype=np.int64)
            return _StateInfo(
                kekule=Chem.RWMol(),
                mask=mask,
                signature=none,
                pair_distance=pair_distance,
                invariants=(none,) * 3,
                adjacency=[],
                ring_bonds=[],
            )
        atoms = atoms_of(mol)
        types = np.array([self._type[a.GetAtomicNum()] for a in atoms])
        degree = np.array([a.GetDegree() for a in atoms])
        order_sum = np.array([a.GetTotalValence() - a.GetTotalNumHs() for a in atoms])
        adjacency: list[set[int]] = [set() for _ in atoms]
        ring_bonds, triple = [], []
        for bond in bonds_of(mol):
            u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            adjacency[u].add(v)
            adjacency[v].add(u)
            if bond.IsInRing():
                ring_bonds.append((u, v))
            if bond.GetBondType() == Chem.BondType.TRIPLE:
                triple.append((u, v))
        free = self._max_valence[types] - order_sum
        orders = self._orders
        if n < self.max_atoms:
            fits = (free[:, None, None] >= orders) & (self._max_valence[None, :, None] >= orders)
            mask[self.add_atom_offset : self.add_atom_offset + fits.size] = fits.ravel()
        if n > 1:
            iu, ju = self._triu(n)
            pair = self._pair_index[iu, ju]
            distance = Chem.GetDistanceMatrix(mol)[iu, ju].astype(np.int64)
            low, high = self.ring_sizes
            ring = (distance + 1 >= low) & (distance + 1 <= high)
            ring &= ~across_triple_bond(adjacency, triple, iu, ju)
            fits = ring[:, None] & (free[iu, None] >= orders) & (free[ju, None] >= orders)
            fits[:, orders == 3] = False
            mask[self.add_bond_offset + pair[:, None] * len(orders) + orders - 1] = fits
            pair_distance[pair] = np.minimum(distance, high)
        mask[self.stop_action] = True
        return _StateInfo(
            kekule=kekule_template(mol),
            mask=mask,
            signature=_signature(types, degree, order_sum),
            pair_distance=pair_distance,
            invariants=(types, degree, order_sum),
            adjacency=adjacency,
            ring_bonds=ring_bonds,
        )

    def _triu(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The atom pairs ``i < j < n`` in ``pairs`` order."""
        if n not in self._triu_cache:
            self._triu_cache[n] = np.triu_indices(n, 1)
        return self._triu_cache[n]

    # -- Environment -----------------------------------------------------------------------
    def forward_mask(self, states: MolStates) -> torch.Tensor:
        if not states:
            return torch.zeros(0, self.num_actions, dtype=torch.bool, device=self.device)
        return torch.from_numpy(np.stack([self._info(s).mask for s in states])).to(self.device)

    def _compute_child_key(self, state: MolState, action: int) -> str:
        kind, *args = self.decode(action)
        if kind == FIRST_ATOM:
            mol = Chem.RWMol()
            mol.AddAtom(Chem.Atom(self._numbers[args[0]]))
        elif kind == ADD_ATOM:
            i, t, order = args
            mol = Chem.RWMol(self._info(state).kekule)
            new = mol.AddAtom(Chem.Atom(self._numbers[t]))
            mol.AddBond(i, new, BOND_TYPES[order])
        elif kind == ADD_BOND:
            i, j, order = args
            mol = Chem.RWMol(self._info(state).kekule)
            mol.AddBond(i, j, BOND_TYPES[order])
        else:
            raise ValueError("the stop action has no child state")
        return state_key(mol)

    def num_parents(self, state: MolState) -> int:
        """``len(parents(state))`` (cached by key)."""
        return self._num_parents.get(state.key, lambda: len(self.parents(state)))

    def parents(self, state: MolState) -> set[str]:
        """Keys of the distinct parents of a non-empty ``state``: the states with an
        allowed action whose child is ``state``.

        Candidates invert a forward action on *every* Kekulé form of the molecule
        (remove a leaf atom; remove a ring bond whose re-closure is allowed, leaving
        a reachable skeleton), so none is missed: the molecule an action builds is
        one of those forms. A candidate without aromatic bonds has one Kekulé form,
        the one the removal left, so the inverse action leads back. An aromatic
        candidate's actions edit *its* canonical Kekulé form, and a non-aromatic
        product freezes that form's double bonds (``c1ccc2c(c1)C2`` reaches
        ``C1=CC2=C3C=C1C23`` from one of its two forms only), so it counts only if
        one of its allowed actions of the same kind is checked to lead back.
        """
        info = self._info(state)
        if len(info.adjacency) == 1:
            return {EMPTY.key}
        adjacency = info.adjacency
        closures = self._closures.closable(adjacency, info.ring_bonds)
        leaves = [i for i, neighbours in enumerate(adjacency) if len(neighbours) == 1]
        types, degree, order_sum = info.invariants
        forms = kekule_forms(state, info.kekule)
        if not forms:
            raise RuntimeError(f"RDKit reproduces {state.key!r} from none of its Kekulé forms")
        routes: dict[str, set[tuple]] = {}  # parent key -> patterns of the inverse actions
        aromatic: set[str] = set()

        def add(parent: Chem.RWMol, pattern: tuple) -> None:
            key = state_key(parent)
            routes.setdefault(key, set()).add(pattern)
            if parent.GetAromaticAtoms():
                aromatic.add(key)

        for form in forms:
            for leaf in leaves:
                (i,) = adjacency[leaf]
                order = int(form.GetBondBetweenAtoms(i, leaf).GetBondTypeAsDouble())
                attach = _signature(types[i], degree[i] - 1, order_sum[i] - order)
                parent = Chem.RWMol(form)
                parent.RemoveAtom(leaf)
                add(parent, (ADD_ATOM, int(types[leaf]), order, (attach,)))
            for i, j in closures:
                order = int(form.GetBondBetweenAtoms(i, j).GetBondTypeAsDouble())
                ends = sorted(
                    _signature(types[a], degree[a] - 1, order_sum[a] - order) for a in (i, j)
                )
                parent = Chem.RWMol(form)
                parent.RemoveBond(i, j)
                add(parent, (ADD_BOND, None, order, tuple(ends)))
        return {
            key
            for key, patterns in routes.items()
            if key not in aromatic or self._leads_to(key, patterns, state)
        }

    def _leads_to(self, key: str, patterns: set[tuple], state: MolState) -> bool:
        """Whether an allowed action of state ``key`` matching ``patterns`` gives ``state``."""
        parent = self.state(key)
        return any(
            self._child_key(parent, action) == state.key
            for pattern in patterns
            for action in self._matching_actions(parent, pattern).tolist()
        )

    def same_child_actions(self, state: MolState, action: int) -> list[int]:
        """Allowed actions of ``state`` that give the same molecule as ``action`` (it included).

        Isomorphic children have equal multisets of atom signatures (element,
        degree, bond-order sum), so for actions of one kind, type and order the
        atoms they touch have equal signatures: those are the candidates, and
        canonical SMILES decide (cached by state key and action).
        """
        return self._same_child.get(
            (state.key, action), lambda: self._compute_same_child(state, action)
        )

    def _compute_same_child(self, state: MolState, action: int) -> list[int]:
        kind, *args = self.decode(action)
        if kind in (FIRST_ATOM, STOP):
            return [action]
        sig = self._info(state).signature
        if kind == ADD_ATOM:
            i, t, order = args
            pattern = (ADD_ATOM, t, order, (int(sig[i]),))
        else:
            i, j, order = args
            pattern = (ADD_BOND, None, order, tuple(sorted((int(sig[i]), int(sig[j])))))
        child = self._child_key(state, action)
        candidates = self._matching_actions(state, pattern).tolist()
        return [a for a in candidates if self._child_key(state, a) == child]

    def _matching_actions(self, state: MolState, pattern: tuple) -> np.ndarray:
        """Allowed actions of ``state`` of a pattern ``(kind, type, order, signatures)``:
        add an atom of ``type`` to an atom of signature ``signatures[0]``, or bond a
        pair of atoms whose signatures are ``signatures`` (sorted), with ``order``."""
        kind, t, order, signatures = pattern
        info, k = self._info(state), len(ORDERS)
        if kind == ADD_ATOM:
            atoms = np.flatnonzero(info.signature == signatures[0])
            actions = self.add_atom_offset + (atoms * len(self.atoms) + t) * k + order - 1
        else:
            iu, ju = self._triu(state.num_atoms)
            low = np.minimum(info.signature[iu], info.signature[ju])
            high = np.maximum(info.signature[iu], info.signature[ju])
            same = (low == signatures[0]) & (high == signatures[1])
            actions = self.add_bond_offset + self._pair_index[iu[same], ju[same]] * k + order - 1
        return actions[info.mask[actions]]

    def to_data(self, states: MolStates) -> Batch:
        """``Batch`` of atom/bond features (see :class:`MolFeaturizer`) with ``mask``
        ``[B, A]`` and ``pair_distance`` ``[B, P]`` (graph distance of each atom pair,
        capped at the largest ring size, 0 for pairs beyond the molecule)."""
        batch = self.featurizer.batch(states)
        infos = [self._info(s) for s in states]
        batch.mask = torch.from_numpy(
            np.stack([i.mask for i in infos]).reshape(-1, self.num_actions)
        )
        batch.pair_distance = torch.from_numpy(
            np.stack([i.pair_distance for i in infos]).reshape(-1, self.num_pairs)
        )
        return batch.to(self.device)


def _signature(types, degree, order_sum):
    """An integer code of (type, degree, bond-order sum), an isomorphism invariant per atom.

    No element here has a valence above 6, so degree and bond-order sum are below
    8 and the code is injective.
    """
    return (types * 8 + degree) * 8 + order_sum
