"""``gfncompose score``: add one column per reward to a table of SMILES."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase
from tqdm import tqdm

from ..errors import UserError
from ..rewards import make_rewards
from ..tables import line_of, read_table, require_column

CHUNK = 1024
"""Molecules per scoring call (and progress-bar step)."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score the molecules of a SMILES table with rewards",
        description="Add one column per reward to a table of SMILES (any delimiter; the "
        "output keeps the input's columns and delimiter). Rewards come from --rewards "
        "(registry names with default parameters, or labels of the config) and/or the "
        "[rewards.*] tables of a TOML --config.",
    )
    parser.add_argument("input", type=Path, help="table with a SMILES column")
    parser.add_argument("-o", "--output", type=Path, required=True, help="table to write")
    parser.add_argument("--rewards", help="comma-separated names, e.g. qed,sa,logp_window")
    parser.add_argument("--config", type=Path, help="TOML file with [rewards.<label>] tables")
    parser.add_argument(
        "--smiles-col", help="column holding SMILES (default: the column named 'smiles', any case)"
    )
    parser.add_argument(
        "--ray",
        metavar="auto|ADDRESS|local",
        help="score in batches on a Ray cluster (worth it for slow rewards such as docking or "
        "large proxies); needs pip install 'gfncompose[ray]'",
    )
    parser.set_defaults(func=run)


def _reward_spec(names: str | None, config: Path | None) -> dict[str, dict]:
    tables: dict[str, dict] = {}
    if config is not None:
        if not config.is_file():
            raise UserError(f"{config}: no such config file")
        try:
            tables = tomllib.loads(config.read_text(encoding="utf-8")).get("rewards", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"{config}: invalid TOML ({error})") from None
        if not isinstance(tables, dict) or not tables:
            raise UserError(f"{config}: no [rewards.<label>] tables")
    if names is None:
        if not tables:
            raise UserError("give the rewards to compute with --rewards and/or --config")
        return tables
    labels = [name.strip() for name in names.split(",")]
    if not all(labels):
        raise UserError(f"--rewards {names!r}: empty reward name")
    return {label: tables.get(label, {}) for label in labels}


def _smiles_column(table, path: Path, column: str | None) -> str:
    if column is not None:
        require_column(table, column, path)
        return column
    matches = [name for name in table.columns if name.strip().lower() == "smiles"]
    if len(matches) != 1:
        columns = ", ".join(repr(name) for name in table.columns)
        raise UserError(f"{path}: name the SMILES column with --smiles-col; columns: {columns}")
    return matches[0]


def run(args: argparse.Namespace) -> int:
    spec = _reward_spec(args.rewards, args.config)
    rewards = make_rewards(spec)
    table, delimiter = read_table(args.input)
    column = _smiles_column(table, args.input, args.smiles_col)
    for label in rewards:
        if label in table.columns:
            raise UserError(f"{args.input}: already has a column {label!r}; rename it first")
    if not args.output.parent.is_dir():
        raise UserError(f"{args.output.parent}: no such directory")

    mols = []
    with rdBase.BlockLogs():
        for index, smiles in enumerate(table[column]):
            mol = Chem.MolFromSmiles(smiles) if smiles.strip() else None
            if mol is None:
                raise UserError(
                    f"{args.input}, line {line_of(index)}: invalid SMILES {smiles!r} in "
                    f"column {column!r}"
                )
            mols.append(mol)

    if args.ray is not None:
        scores = _score_on_cluster(spec, table[column].tolist(), args.ray)
    else:
        scores = _score(rewards, mols)
    for label, values in scores.items():
        table[label] = values
    table.to_csv(args.output, sep=delimiter, index=False)
    print(f"scored {len(mols)} molecules with {', '.join(rewards)} -> {args.output}")
    return 0


def _score(rewards, mols) -> dict[str, np.ndarray]:
    scores = {label: np.empty(len(mols)) for label in rewards}
    with tqdm(total=len(mols) * len(rewards), desc="scoring", unit="mol") as bar:
        for label, reward in rewards.items():
            for start in range(0, len(mols), CHUNK):
                batch = mols[start : start + CHUNK]
                scores[label][start : start + len(batch)] = reward.score(batch)
                bar.update(len(batch))
    return scores


def _score_on_cluster(spec: dict, smiles: list[str], address: str) -> dict[str, np.ndarray]:
    from ..campaign.cluster import RayCluster  # only scoring on a cluster imports Ray
    from ..campaign.config import FILE_REWARDS, ClusterSpec

    absolute = {  # workers do not share this process's working directory
        label: {**params, "path": str(Path(params["path"]).resolve())}
        if params.get("kind", label) in FILE_REWARDS and "path" in params
        else params
        for label, params in spec.items()
    }
    return RayCluster(ClusterSpec(address)).score(absolute, smiles, CHUNK)
