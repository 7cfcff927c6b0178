"""Desirability windows: 1 inside ``[lo, hi]``, a Gaussian decay outside.

``window(x) = 1`` for ``lo <= x <= hi`` and ``exp(-d² / (2 width²))`` otherwise,
where ``d`` is the distance from ``x`` to the nearer bound. The function is
continuous with a continuous first derivative (zero at both edges); one ``width``
outside the window it is ``exp(-1/2) ≈ 0.607``, two widths ``≈ 0.135``. A bound
may be ``±inf`` (``inf`` in TOML) for a one-sided window.

Default windows follow the usual oral drug-likeness rules: Lipinski's rule of
five (MW ≤ 500 Da, logP ≤ 5, ≤ 5 H-bond donors, ≤ 10 acceptors), Veber's rules
(≤ 10 rotatable bonds, TPSA ≤ 140 Å²) and Ghose's lower bounds (MW ≥ 160 Da,
logP ≥ -0.4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors

from ..errors import UserError
from .base import CachedReward
from .params import as_float


def window(x: float, lo: float, hi: float, width: float) -> float:
    """Desirability of ``x``: 1 in ``[lo, hi]``, ``exp(-d² / (2 width²))`` at distance ``d``."""
    distance = lo - x if x < lo else x - hi if x > hi else 0.0
    return math.exp(-0.5 * (distance / width) ** 2)


def check_window(lo: object, hi: object, width: object) -> tuple[float, float, float]:
    """Validated ``(lo, hi, width)``: bounds may be infinite, ``lo <= hi``, ``width > 0``."""
    lo = as_float("lo", lo, finite=False)
    hi = as_float("hi", hi, finite=False)
    width = as_float("width", width, positive=True)
    if lo > hi:
        raise UserError(f"parameter 'lo' ({lo}) must be <= 'hi' ({hi})")
    return lo, hi, width


class PropertyWindow(CachedReward):
    """A molecular property scored by a desirability window; range ``(0, 1]``, higher is better.

    Subclasses set ``kind`` and ``compute`` (the RDKit descriptor) and the
    default window in their ``__init__`` signature.
    """

    compute: Callable[[Chem.Mol], float]
    parallel_min_batch = 512

    def __init__(self, lo: float, hi: float, width: float) -> None:
        super().__init__()
        self.lo, self.hi, self.width = check_window(lo, hi, width)

    def score_mol(self, mol: Chem.Mol) -> float:
        return window(float(type(self).compute(mol)), self.lo, self.hi, self.width)


class MolecularWeightWindow(PropertyWindow):
    """Average molecular weight (Da, ``Descriptors.MolWt``); default window ``[160, 500]``."""

    kind = "mw_window"
    compute = Descriptors.MolWt

    def __init__(self, lo: float = 160.0, hi: float = 500.0, width: float = 50.0) -> None:
        super().__init__(lo, hi, width)


class LogPWindow(PropertyWindow):
    """Crippen logP (``Crippen.MolLogP``); default window ``[-0.4, 5]``."""

    kind = "logp_window"
    compute = Crippen.MolLogP
    parallel_min_batch = 64  # Crippen logP costs ~0.2 ms, far more than other descriptors

    def __init__(self, lo: float = -0.4, hi: float = 5.0, width: float = 1.0) -> None:
        super().__init__(lo, hi, width)


class TPSAWindow(PropertyWindow):
    """Topological polar surface area (Å², ``CalcTPSA``); default window ``[0, 140]``."""

    kind = "tpsa_window"
    compute = rdMolDescriptors.CalcTPSA

    def __init__(self, lo: float = 0.0, hi: float = 140.0, width: float = 20.0) -> None:
        super().__init__(lo, hi, width)


class HBDWindow(PropertyWindow):
    """Hydrogen-bond donors (RDKit definition, ``CalcNumHBD``); default window ``[0, 5]``."""

    kind = "hbd_window"
    compute = rdMolDescriptors.CalcNumHBD

    def __init__(self, lo: float = 0.0, hi: float = 5.0, width: float = 1.0) -> None:
        super().__init__(lo, hi, width)


class HBAWindow(PropertyWindow):
    """Hydrogen-bond acceptors (RDKit definition, ``CalcNumHBA``); default window ``[0, 10]``."""

    kind = "hba_window"
    compute = rdMolDescriptors.CalcNumHBA

    def __init__(self, lo: float = 0.0, hi: float = 10.0, width: float = 1.0) -> None:
        super().__init__(lo, hi, width)


class RotatableBondsWindow(PropertyWindow):
    """Rotatable bonds (``CalcNumRotatableBonds``); default window ``[0, 10]``."""

    kind = "rotatable_bonds_window"
    compute = rdMolDescriptors.CalcNumRotatableBonds

    def __init__(self, lo: float = 0.0, hi: float = 10.0, width: float = 1.0) -> None:
        super().__init__(lo, hi, width)


class RingCountWindow(PropertyWindow):
    """Rings in the smallest set of smallest rings (``CalcNumRings``); default window ``[1, 4]``.

    No standard rule bounds the ring count; one to four rings is a common
    drug-like range. Set ``lo``/``hi`` in the config for your series.
    """

    kind = "ring_count_window"
    compute = rdMolDescriptors.CalcNumRings

    def __init__(self, lo: float = 1.0, hi: float = 4.0, width: float = 1.0) -> None:
        super().__init__(lo, hi, width)


PROPERTY_WINDOWS: tuple[type[PropertyWindow], ...] = (
    MolecularWeightWindow,
    LogPWindow,
    TPSAWindow,
    HBDWindow,
    HBAWindow,
    RotatableBondsWindow,
    RingCountWindow,
)
