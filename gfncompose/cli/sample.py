"""``gfncompose sample``: molecules from a policy on a molecule environment, as CSV."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch
from tqdm import tqdm

from ..envs import AtomEnv, FragmentEnv
from ..errors import UserError
from ..policy import UniformPolicy
from ..sampler import sample_trajectories

ENVIRONMENTS = {"atoms": AtomEnv, "fragments": FragmentEnv}
"""``--env`` name -> environment class (default configuration)."""
POLICIES = ("uniform",)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="sample molecules from a policy and write their canonical SMILES",
        description="Sample N complete trajectories and write the molecules they stop at as a "
        "CSV with a 'smiles' column (canonical SMILES, one row per sample, repeats kept). "
        "The uniform policy (every allowed action equally likely) is the random baseline.",
    )
    parser.add_argument(
        "--env", choices=list(ENVIRONMENTS), required=True, help="molecule environment"
    )
    parser.add_argument("--policy", choices=POLICIES, default="uniform", help="forward policy")
    parser.add_argument("-n", type=int, required=True, help="number of molecules")
    parser.add_argument("-o", "--output", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--batch-size", type=int, default=1024, help="trajectories per batch")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError(f"-n must be a positive number of molecules, got {args.n}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    if not args.output.parent.is_dir():
        raise UserError(f"{args.output}: directory {args.output.parent} does not exist")
    torch.manual_seed(args.seed)
    env = ENVIRONMENTS[args.env]()
    policy = UniformPolicy(env)
    smiles: list[str] = []
    with tqdm(total=args.n, desc=f"sampling {args.env}", unit="mol") as bar:
        while len(smiles) < args.n:
            batch = min(args.batch_size, args.n - len(smiles))
            smiles += env.to_smiles(sample_trajectories(policy, batch).terminal)
            bar.update(batch)
    with args.output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles"])
        writer.writerows([s] for s in smiles)
    return 0
