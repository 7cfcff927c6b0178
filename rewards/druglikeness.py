"""QED and synthetic accessibility, exactly as RDKit computes them."""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import QED
from rdkit.Contrib.SA_Score import sascorer

from .base import CachedReward

SA_WORST = 10.0
"""Ertl & Schuffenhauer's SA score runs from 1 (easy to make) to 10 (very hard)."""


class QEDReward(CachedReward):
    """Quantitative estimate of drug-likeness (Bickerton et al. 2012), ``QED.qed``.

    Range ``(0, 1)``, higher is more drug-like.
    """

    kind = "qed"
    parallel_min_batch = 64

    def score_mol(self, mol: Chem.Mol) -> float:
        return QED.qed(mol)


class SAReward(CachedReward):
    """Synthetic accessibility as ``(10 - SA) / 9`` (SA: Ertl & Schuffenhauer 2009,
    RDKit Contrib ``sascorer``).

    Range ``[0, 1]`` (floored at ``REWARD_FLOOR``), higher is easier to synthesize.
    """

    kind = "sa"
    parallel_min_batch = 512

    def score_mol(self, mol: Chem.Mol) -> float:
        return (SA_WORST - sascorer.calculateScore(mol)) / (SA_WORST - 1.0)
