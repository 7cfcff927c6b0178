"""Morgan (ECFP-like) bit fingerprints, shared by the similarity reward and the proxy."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator


@cache
def morgan_generator(radius: int, n_bits: int) -> rdFingerprintGenerator.FingerprintGenerator64:
    """RDKit's Morgan generator (generators cannot be pickled, so rewards keep only the
    parameters and look the generator up here)."""
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def morgan_bits(mol: Chem.Mol, radius: int, n_bits: int) -> DataStructs.ExplicitBitVect:
    """Morgan fingerprint of ``mol`` as an RDKit bit vector of ``n_bits`` bits."""
    return morgan_generator(radius, n_bits).GetFingerprint(mol)


def morgan_matrix(mols: Sequence[Chem.Mol], radius: int, n_bits: int) -> np.ndarray:
    """Morgan fingerprints of ``B`` molecules as a ``uint8`` matrix ``[B, n_bits]`` of 0/1."""
    generator = morgan_generator(radius, n_bits)
    matrix = np.zeros((len(mols), n_bits), dtype=np.uint8)
    for row, mol in enumerate(mols):
        matrix[row] = generator.GetFingerprintAsNumPy(mol)
    return matrix
