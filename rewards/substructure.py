"""Substructure rewards: SMARTS patterns required or forbidden, and RDKit's structural
alert catalogs (PAINS, Brenk, ...).

Both count *violations* ``v`` (a required pattern absent, a forbidden pattern or an
alert present) and score ``penalty ** v``: 1 for a clean molecule, and each violation
multiplies the reward by ``penalty``. ``penalty = 0`` (the default) is a hard filter:
any violation gives ``REWARD_FLOOR``. Range ``[REWARD_FLOOR, 1]``, higher is cleaner.
"""

from __future__ import annotations

from collections.abc import Sequence

from rdkit import Chem, rdBase
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

from ..errors import UserError
from .base import CachedReward
from .params import as_choice, as_float, as_str_list

CATALOGS = tuple(FilterCatalogParams.FilterCatalogs.names)


def _check_penalty(penalty: object) -> float:
    penalty = as_float("penalty", penalty)
    if not 0.0 <= penalty < 1.0:
        raise UserError(f"parameter 'penalty' must be in [0, 1), got {penalty!r}")
    return penalty


def _compile_smarts(name: str, patterns: list[str]) -> list[Chem.Mol]:
    compiled = []
    with rdBase.BlockLogs():
        for index, smarts in enumerate(patterns):
            query = Chem.MolFromSmarts(smarts)
            if query is None:
                raise UserError(f"parameter '{name}'[{index}] is not a valid SMARTS: {smarts!r}")
            compiled.append(query)
    return compiled


class SmartsReward(CachedReward):
    """``penalty ** v`` with ``v`` = required SMARTS absent + forbidden SMARTS present.

    Args:
        require: SMARTS every molecule should contain.
        forbid: SMARTS no molecule should contain.
        penalty: factor per violation in ``[0, 1)``; 0 is a hard filter.
    """

    kind = "smarts"
    parallel_min_batch = 512

    def __init__(
        self,
        require: Sequence[str] = (),
        forbid: Sequence[str] = (),
        penalty: float = 0.0,
    ) -> None:
        super().__init__()
        self.require = as_str_list("require", require)
        self.forbid = as_str_list("forbid", forbid)
        if not self.require and not self.forbid:
            raise UserError("give at least one SMARTS in 'require' or 'forbid'")
        self.penalty = _check_penalty(penalty)
        self._required = _compile_smarts("require", self.require)
        self._forbidden = _compile_smarts("forbid", self.forbid)

    def violations(self, mol: Chem.Mol) -> int:
        """Number of required patterns absent plus forbidden patterns present in ``mol``."""
        missing = sum(not mol.HasSubstructMatch(query) for query in self._required)
        present = sum(mol.HasSubstructMatch(query) for query in self._forbidden)
        return missing + present

    def score_mol(self, mol: Chem.Mol) -> float:
        return self.penalty ** self.violations(mol)


class StructuralAlerts(CachedReward):
    """``penalty ** v`` with ``v`` = number of alerts of RDKit FilterCatalogs matched.

    Args:
        catalogs: catalog names (``FilterCatalogParams.FilterCatalogs``), e.g. ``PAINS``, ``BRENK``.
        penalty: factor per matched alert in ``[0, 1)``; 0 is a hard filter.
    """

    kind = "structural_alerts"
    parallel_min_batch = 64

    def __init__(self, catalogs: Sequence[str] = ("PAINS", "BRENK"), penalty: float = 0.0) -> None:
        super().__init__()
        self.catalogs = as_str_list("catalogs", catalogs)
        if not self.catalogs:
            raise UserError(f"parameter 'catalogs' must name at least one of {', '.join(CATALOGS)}")
        for index, catalog in enumerate(self.catalogs):
            as_choice(f"catalogs[{index}]", catalog, CATALOGS)
        self.penalty = _check_penalty(penalty)
        params = FilterCatalogParams()
        for catalog in self.catalogs:
            params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, catalog))
        self._catalog = FilterCatalog(params)

    def alerts(self, mol: Chem.Mol) -> list[str]:
        """Descriptions of the alerts ``mol`` matches."""
        return [entry.GetDescription() for entry in self._catalog.GetMatches(mol)]

    def score_mol(self, mol: Chem.Mol) -> float:
        return self.penalty ** len(self._catalog.GetMatches(mol))
