"""A sample of molecules parsed once, with fingerprints and scaffolds computed once.

Every metric takes a ``MoleculeSet``: when it is built, the SMILES are parsed and
canonicalised and the Morgan fingerprints of its *distinct* molecules computed; their
Bemis–Murcko scaffolds are computed the first time a metric asks for them. All are
kept, so a table of metrics over one sample pays for RDKit once. Fingerprints that only
one metric needs (another Morgan radius, RDKit path fingerprints) are computed for the
rows it asks for. RDKit molecules themselves are not kept (tens of kB each: gigabytes
for 10^5 molecules), only their binary form (a few hundred bytes).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold
from tqdm import tqdm

from ..rewards.fingerprints import morgan_generator

RADIUS = 2
"""Morgan radius of every fingerprint in the metrics (ECFP4-like, as in the diversity
metrics of the GFlowNet literature)."""
N_BITS = 2048
"""Fingerprint length."""
ACYCLIC = ""
"""The Bemis–Murcko scaffold of a molecule without rings (RDKit writes it as ``''``);
such molecules form one scaffold class."""


class MoleculeSet:
    """``N`` SMILES as sampled: which are valid, and the distinct molecules among them.

    A SMILES is *valid* if RDKit parses and sanitizes it into a molecule with at
    least one atom. Of the ``V`` valid samples, ``canonical[i]`` is the canonical
    SMILES of the ``i``-th (input order, repeats kept) and ``unique_index[i]`` its
    row among the ``U`` distinct molecules ``unique`` (first-seen order), which
    occur ``counts[u]`` times. ``fingerprints`` (Morgan bit vectors, ``RADIUS``,
    ``N_BITS``) and ``scaffolds`` are per distinct molecule.

    Args:
        smiles: the samples, e.g. a column of a sample table.
        progress: show tqdm bars for the per-molecule RDKit loops (parsing,
            scaffolds).
    """

    def __init__(self, smiles: Iterable[str], progress: bool = False) -> None:
        self.smiles: list[str] = list(smiles)
        self.progress = progress
        self.valid = np.zeros(len(self.smiles), dtype=bool)
        self.canonical: list[str] = []
        self.unique: list[str] = []
        self.fingerprints: list[DataStructs.ExplicitBitVect] = []
        rows: dict[str, int] = {}
        index: list[int] = []
        self._binary: list[bytes] = []
        generator = morgan_generator(RADIUS, N_BITS)
        with rdBase.BlockLogs():
            for i, text in enumerate(self._bar(self.smiles, "parsing")):
                mol = Chem.MolFromSmiles(text) if isinstance(text, str) else None
                if mol is None or mol.GetNumAtoms() == 0:
                    continue
                key = Chem.MolToSmiles(mol)
                self.valid[i] = True
                self.canonical.append(key)
                if key not in rows:
                    rows[key] = len(self.unique)
                    self.unique.append(key)
                    self.fingerprints.append(generator.GetFingerprint(mol))
                    self._binary.append(mol.ToBinary())
                index.append(rows[key])
        self.unique_index = np.asarray(index, dtype=np.int64)
        self.counts = np.bincount(self.unique_index, minlength=len(self.unique))

    def __len__(self) -> int:
        """``N``, the number of samples (valid or not)."""
        return len(self.smiles)

    @property
    def n_valid(self) -> int:
        """``V``, the number of valid samples."""
        return len(self.canonical)

    @cached_property
    def scaffolds(self) -> list[str]:
        """Canonical Bemis–Murcko scaffold SMILES of the ``U`` distinct molecules
        (``ACYCLIC`` for a molecule without rings), computed on first use."""
        with rdBase.BlockLogs():
            return [
                MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.Mol(binary))
                for binary in self._bar(self._binary, "scaffolds")
            ]

    def unique_values(self, values: np.ndarray) -> np.ndarray:
        """Per-sample ``values`` (``[N]``, aligned with ``smiles``) as ``[U]``: the value
        of each distinct molecule's first valid sample (invalid samples are ignored)."""
        values = np.asarray(values)
        if values.shape != (len(self),):
            raise ValueError(f"expected {len(self)} values, one per SMILES; got {values.shape}")
        _, first = np.unique(self.unique_index, return_index=True)
        return values[self.valid][first]

    def morgan_fingerprints(
        self, rows: np.ndarray, radius: int
    ) -> list[DataStructs.ExplicitBitVect]:
        """Morgan fingerprints (``N_BITS`` bits) at ``radius`` of the distinct molecules
        ``rows`` (``[R]`` ints); the kept ones when ``radius == RADIUS``."""
        if radius == RADIUS:
            return [self.fingerprints[row] for row in rows]
        generator = morgan_generator(radius, N_BITS)
        return [generator.GetFingerprint(Chem.Mol(self._binary[row])) for row in rows]

    def path_fingerprints(self, rows: np.ndarray) -> list[DataStructs.ExplicitBitVect]:
        """RDKit path fingerprints (Daylight-like: every bond path of 1 to 7 bonds, 2048
        bits, ``Chem.RDKFingerprint``'s defaults) of the distinct molecules ``rows``
        (``[R]`` ints): the fingerprint of the GFlowNet literature's mode counts. A
        molecule without bonds has no path and an empty fingerprint."""
        return [Chem.RDKFingerprint(Chem.Mol(self._binary[row])) for row in rows]

    def fingerprint_matrix(self, rows: np.ndarray) -> np.ndarray:
        """Fingerprints of the distinct molecules ``rows`` (``[R]`` ints) as ``uint8``
        0/1 ``[R, N_BITS]``, for projections such as PCA."""
        matrix = np.zeros((len(rows), N_BITS), dtype=np.uint8)
        for out, row in zip(matrix, rows, strict=True):
            DataStructs.ConvertToNumpyArray(self.fingerprints[row], out)
        return matrix

    def _bar(self, items: list, step: str):
        return tqdm(items, desc=step, unit="mol", disable=not self.progress, leave=False)
