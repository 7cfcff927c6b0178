"""``gfncompose report``: chemical-space coverage of sample tables, as CSV, JSON and figures."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..coverage_report import SMILES, write_coverage_report
from ..errors import UserError
from ..metrics import TOP_K, MoleculeSet
from ..tables import line_of, read_table
from . import DeprecatedAlias
from .campaign import open_campaign


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="coverage metrics and figures of one or more sample tables",
        description="Compare labelled sets of sampled molecules (e.g. bases and their "
        "compositions): validity, uniqueness, novelty, internal diversity, scaffolds, "
        "modes, top-k rewards, high/low reward cells and pairwise earth mover's distances. "
        "Writes metrics.csv and metrics.json (one row per set), emd.csv and PNG figures.",
    )
    parser.add_argument(
        "sets",
        nargs="+",
        metavar="[LABEL=]FILE",
        help="a table with a 'smiles' column and score columns (e.g. from gfncompose score); "
        "the label is the file's stem unless given (a LABEL has no '/'); or one campaign "
        "file (.toml), whose report (summary and figures) is rewritten from its samples",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="directory to write (required for tables; for a campaign: its output folder)",
    )
    parser.add_argument(
        "--out", dest="output", type=Path, action=DeprecatedAlias, replacement="-o/--output"
    )
    parser.add_argument("--budget", type=float, default=1.0, help="a campaign's --budget")
    parser.add_argument(
        "--reference", type=Path, help="table with a 'smiles' column to measure novelty against"
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="high/low threshold of score NAME, for modes and reward cells (repeatable)",
    )
    parser.add_argument(
        "--scores",
        help="comma-separated score columns, the first ranks the top molecules (default: "
        "every column other than SMILES that all sets have, in the first set's order)",
    )
    parser.add_argument("--top-k", type=int, default=TOP_K, help="k of the top-k metrics")
    parser.add_argument("--seed", type=int, default=0, help="seed of every subsample")
    parser.set_defaults(func=run)


def parse_set(spec: str) -> tuple[str, Path]:
    """``LABEL=FILE`` or ``FILE`` (label: the file's stem) as ``(label, path)``."""
    label, separator, file = spec.partition("=")
    if separator and "/" not in label:
        if not label or not file:
            raise UserError(f"set {spec!r}: expected FILE or LABEL=FILE")
        return label, Path(file)
    return Path(spec).stem, Path(spec)


def parse_threshold(spec: str) -> tuple[str, float]:
    """``NAME=VALUE`` as ``(name, value)``; ``UserError`` if malformed."""
    name, separator, text = spec.partition("=")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not separator or not name.strip() or not math.isfinite(value):
        raise UserError(f"--threshold {spec!r}: expected NAME=VALUE with a number, e.g. qed=0.5")
    return name.strip(), value


def _smiles_column(table: pd.DataFrame, path: Path) -> str:
    matches = [name for name in table.columns if name.strip().lower() == SMILES]
    if len(matches) != 1:
        columns = ", ".join(repr(name) for name in table.columns)
        problem = "several" if matches else "no"
        raise UserError(f"{path}: {problem} {SMILES!r} column; the columns are {columns}")
    return matches[0]


def _scores(
    table: pd.DataFrame, columns: list[str], path: Path, chosen: bool
) -> dict[str, np.ndarray]:
    scores = {}
    for column in columns:
        if column not in table.columns:
            raise UserError(f"{path}: no score column {column!r}")
        cells = table[column].str.strip()
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            cell = cells.iloc[bad[0]]
            hint = ""
            if cell.lower() in ("", "nan"):
                problem = "missing or NaN value"
            elif math.isnan(values[bad[0]]):
                problem = f"non-numeric value {cell!r}"
                hint = "" if chosen else "; choose the score columns with --scores"
            else:
                problem = f"non-finite value {cell!r}"
            raise UserError(
                f"{path}, line {line_of(bad[0])}: {problem} in score column {column!r}{hint}"
            )
        scores[column] = values
    return scores


def _read_sets(
    args: argparse.Namespace, thresholds: dict[str, float]
) -> tuple[dict[str, tuple[pd.Series, dict[str, np.ndarray]]], list[str]]:
    """``{label: (smiles, {score: values})}`` and the score columns, every input checked."""
    tables = {}
    for label, path in map(parse_set, args.sets):
        if label in tables:
            raise UserError(f"set label {label!r} given twice; name the sets with LABEL=FILE")
        table, _ = read_table(path)
        if table.empty:
            raise UserError(f"{path}: no molecules")
        tables[label] = (table, _smiles_column(table, path), path)
    if args.scores is not None:
        columns = [name.strip() for name in args.scores.split(",")]
        if not all(columns):
            raise UserError(f"--scores {args.scores!r}: empty column name")
    else:
        (first, first_smiles, _), *others = tables.values()
        columns = [
            name
            for name in first.columns
            if name != first_smiles and all(name in table.columns for table, _, _ in others)
        ]
    for name in thresholds:
        if name not in columns:
            raise UserError(f"--threshold {name}: no score column {name!r} (scores: {columns})")
    sets = {
        label: (table[smiles], _scores(table, columns, path, chosen=args.scores is not None))
        for label, (table, smiles, path) in tables.items()
    }
    return sets, columns


def run(args: argparse.Namespace) -> int:
    if len(args.sets) == 1 and args.sets[0].endswith(".toml"):
        from ..campaign.report import write_report

        campaign = argparse.Namespace(
            campaign=Path(args.sets[0]),
            budget=args.budget,
            output=args.output,
            device=None,
            ray=None,
            quiet=False,
        )
        write_report(open_campaign(campaign))
        return 0
    if args.output is None:
        raise UserError("-o/--output: give the directory to write the report to")
    thresholds: dict[str, float] = {}
    for name, value in map(parse_threshold, args.threshold):
        if name in thresholds:
            raise UserError(f"--threshold {name}: given twice")
        thresholds[name] = value
    if args.top_k < 1:
        raise UserError(f"--top-k must be positive, got {args.top_k}")
    inputs, _ = _read_sets(args, thresholds)
    reference = None
    if args.reference is not None:
        table, _ = read_table(args.reference)
        reference = MoleculeSet(table[_smiles_column(table, args.reference)], progress=True)
    _, written = write_coverage_report(
        inputs,
        args.output,
        thresholds,
        reference,
        None if args.reference is None else str(args.reference),
        args.top_k,
        args.seed,
    )
    print(f"report of {len(inputs)} sets -> {', '.join(str(path) for path in written)}")
    return 0
