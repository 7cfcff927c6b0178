"""Assay tables (SMILES and a measured value per row) cleaned for proxy training.

What happens to each kind of row, in this order (all counted in ``AssayReport``):

1. empty SMILES or empty/NA target (``""``, ``NA``, ``N/A``, ``NaN``, ``None``,
   ``null``): dropped;
2. a relation other than ``=`` (``>``, ``<``, ``>=``, ``~``...): dropped, because a
   censored value is a bound, not a measurement, and a regressor would read it as
   exact; an empty relation counts as ``=``. Quotes around relations (ChEMBL writes
   ``'='``) are ignored. The relation column is ``relation_col``, or ChEMBL's
   ``Standard Relation`` when the file has one;
3. with ``units_col`` and ``units``: rows in other units dropped; with ``units_col``
   alone, rows in more than one unit are an error (values in nM and % cannot share
   a regression);
4. a target that is not a finite number: an error naming the line;
5. a SMILES that RDKit cannot parse: dropped (an export usually has a few), or an
   error naming the line with ``strict=True``;
6. rows of the same molecule (same canonical SMILES): merged into their median.

The target should be on a log scale where higher is better (pIC50, pChEMBL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase

from ..errors import UserError
from ..tables import line_of, read_table, require_column

CHEMBL_RELATION = "Standard Relation"
MISSING = frozenset({"", "na", "n/a", "nan", "none", "null"})
EXACT_RELATIONS = frozenset({"", "="})


@dataclass
class AssayReport:
    """How many rows of the file each cleaning step removed or merged."""

    rows: int
    missing_smiles: int = 0
    missing_target: int = 0
    censored: int = 0
    other_units: int = 0
    invalid_smiles: int = 0
    invalid_smiles_lines: list[int] = field(default_factory=list)
    duplicates_merged: int = 0
    molecules: int = 0
    relation_col: str | None = None

    def summary(self) -> str:
        """One line per step, for the CLI."""
        lines = [f"{self.rows} rows read"]
        if self.missing_smiles:
            lines.append(f"{self.missing_smiles} rows without SMILES dropped")
        if self.missing_target:
            lines.append(f"{self.missing_target} rows without a target value dropped")
        if self.relation_col is not None:
            lines.append(
                f"{self.censored} rows with a relation other than '=' in "
                f"{self.relation_col!r} dropped"
            )
        if self.other_units:
            lines.append(f"{self.other_units} rows in other units dropped")
        if self.invalid_smiles:
            shown = ", ".join(str(line) for line in self.invalid_smiles_lines[:10])
            more = ", ..." if self.invalid_smiles > 10 else ""
            lines.append(
                f"{self.invalid_smiles} rows with invalid SMILES dropped (lines {shown}{more})"
            )
        lines.append(
            f"{self.duplicates_merged} duplicate rows merged (median) into "
            f"{self.molecules} molecules"
        )
        return "\n".join(lines)


@dataclass
class AssayData:
    """One target value per molecule.

    Attributes:
        smiles: canonical SMILES, ``N`` unique molecules.
        targets: float64 ``[N]``, the median of the molecule's rows.
        report: what cleaning did.
        path, smiles_col, target_col: where the data came from.
    """

    smiles: list[str]
    targets: np.ndarray
    report: AssayReport
    path: str
    smiles_col: str
    target_col: str


def _clean(cell: str) -> str:
    return cell.strip().strip("'\"").strip()


def read_assay(
    path: str | Path,
    smiles_col: str,
    target_col: str,
    relation_col: str | None = None,
    units_col: str | None = None,
    units: str | None = None,
    strict: bool = False,
) -> AssayData:
    """Read and clean an assay table (see the module docstring for every rule).

    Raises ``UserError`` for a missing file or column, a non-numeric target, mixed
    units, an invalid SMILES with ``strict``, or a file with no usable rows.
    """
    table, _ = read_table(path)
    for column in (smiles_col, target_col, relation_col, units_col):
        if column is not None:
            require_column(table, column, path)
    if units is not None and units_col is None:
        raise UserError("filtering by units needs the units column (units_col)")
    if relation_col is None and CHEMBL_RELATION in table.columns:
        relation_col = CHEMBL_RELATION
    report = AssayReport(rows=len(table), relation_col=relation_col)

    kept: list[tuple[int, str, float]] = []
    units_seen: dict[str, int] = {}
    for index, row in enumerate(table.itertuples(index=False)):
        cells = dict(zip(table.columns, row, strict=True))
        smiles, target = cells[smiles_col].strip(), cells[target_col].strip()
        if not smiles:
            report.missing_smiles += 1
            continue
        if target.lower() in MISSING:
            report.missing_target += 1
            continue
        if relation_col is not None and _clean(cells[relation_col]) not in EXACT_RELATIONS:
            report.censored += 1
            continue
        if units_col is not None:
            unit = _clean(cells[units_col])
            if units is not None and unit != units:
                report.other_units += 1
                continue
            units_seen.setdefault(unit, line_of(index))
        try:
            value = float(target)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UserError(
                f"{path}, line {line_of(index)}: column {target_col!r} holds {target!r}, "
                "which is not a finite number"
            )
        kept.append((index, smiles, value))
    if len(units_seen) > 1:
        found = ", ".join(f"{unit!r} (first on line {line})" for unit, line in units_seen.items())
        raise UserError(
            f"{path}: column {units_col!r} mixes units {found}; keep one with units (--units)"
        )

    by_molecule: dict[str, list[float]] = {}
    with rdBase.BlockLogs():
        for index, smiles, value in kept:
            mol = Chem.MolFromSmiles(smiles)
            if mol is None or mol.GetNumAtoms() == 0:
                if strict:
                    raise UserError(
                        f"{path}, line {line_of(index)}: column {smiles_col!r} holds an invalid "
                        f"SMILES {smiles!r}"
                    )
                report.invalid_smiles += 1
                report.invalid_smiles_lines.append(line_of(index))
                continue
            by_molecule.setdefault(Chem.MolToSmiles(mol), []).append(value)
    report.molecules = len(by_molecule)
    report.duplicates_merged = sum(len(values) - 1 for values in by_molecule.values())
    if not by_molecule:
        raise UserError(f"{path}: no usable rows\n{report.summary()}")
    return AssayData(
        smiles=list(by_molecule),
        targets=np.array([float(np.median(values)) for values in by_molecule.values()]),
        report=report,
        path=str(path),
        smiles_col=smiles_col,
        target_col=target_col,
    )
