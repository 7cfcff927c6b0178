"""Tanimoto similarity to reference molecules on Morgan fingerprints."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem, DataStructs, rdBase

from ..errors import UserError
from .base import CachedReward
from .fingerprints import morgan_bits
from .params import as_choice, as_float, as_fraction, as_int, as_str_list
from .windows import window

AGGREGATES = ("max", "mean")


class TanimotoSimilarity(CachedReward):
    """Tanimoto similarity of Morgan fingerprints to reference molecules.

    The similarity to each reference is aggregated by ``max`` (close to any one of
    them) or ``mean`` (close to all of them on average). Without ``target`` the
    reward is the similarity itself, range ``[0, 1]`` (floored), higher is more
    similar; with ``target = [lo, hi]`` it is the desirability window of the
    similarity (``windows.window``, range ``(0, 1]``), e.g. ``[0.4, 0.7]`` for
    "related to the references but not a copy".

    Args:
        references: SMILES of the reference molecules (at least one).
        aggregate: ``"max"`` or ``"mean"`` over references.
        radius: Morgan radius (2 is ECFP4-like).
        n_bits: fingerprint length.
        target: optional ``[lo, hi]`` similarity window.
        width: decay width of the window outside ``target``.
    """

    kind = "similarity"
    parallel_min_batch = 512

    def __init__(
        self,
        references: Sequence[str],
        aggregate: str = "max",
        radius: int = 2,
        n_bits: int = 2048,
        target: Sequence[float] | None = None,
        width: float = 0.1,
    ) -> None:
        super().__init__()
        self.references = as_str_list("references", references)
        if not self.references:
            raise UserError("parameter 'references' must list at least one SMILES")
        self.aggregate = as_choice("aggregate", aggregate, AGGREGATES)
        self.radius = as_int("radius", radius, minimum=0)
        self.n_bits = as_int("n_bits", n_bits, minimum=1)
        self.width = as_float("width", width, positive=True)
        if target is None:
            self.target = None
        else:
            if isinstance(target, str) or not isinstance(target, Sequence) or len(target) != 2:
                raise UserError(f"parameter 'target' must be [lo, hi], got {target!r}")
            lo, hi = as_fraction("target[0]", target[0]), as_fraction("target[1]", target[1])
            if lo > hi:
                raise UserError(f"parameter 'target' must have lo <= hi, got {target!r}")
            self.target = (lo, hi)
        self._reference_fps = []
        with rdBase.BlockLogs():
            for index, smiles in enumerate(self.references):
                mol = Chem.MolFromSmiles(smiles)
                if mol is None or mol.GetNumAtoms() == 0:
                    raise UserError(
                        f"parameter 'references'[{index}] is not a valid SMILES: {smiles!r}"
                    )
                self._reference_fps.append(morgan_bits(mol, self.radius, self.n_bits))

    def similarities(self, mol: Chem.Mol) -> np.ndarray:
        """Tanimoto similarity of ``mol`` to each reference: float64 ``[num_references]``."""
        fingerprint = morgan_bits(mol, self.radius, self.n_bits)
        return np.array(DataStructs.BulkTanimotoSimilarity(fingerprint, self._reference_fps))

    def score_mol(self, mol: Chem.Mol) -> float:
        similarities = self.similarities(mol)
        similarity = float(similarities.max() if self.aggregate == "max" else similarities.mean())
        if self.target is None:
            return similarity
        return window(similarity, self.target[0], self.target[1], self.width)
