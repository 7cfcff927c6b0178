"""``gfncompose sample``: molecules of a campaign's sample sets, or of the uniform policy.

With a campaign file, samples its sets (bases, compositions, the monolithic baseline;
all or those named with ``--set``), training whatever they need first. With ``--env``,
samples the uniform random policy of a molecule environment: the random baseline.
"""

from __future__ import annotations

import argparse
import csv

import torch
from tqdm import tqdm

from ..envs import AtomEnv, FragmentEnv
from ..errors import UserError
from ..policy import UniformPolicy
from ..sampler import sample_trajectories
from .campaign import add_campaign_arguments, open_campaign

ENVIRONMENTS = {"atoms": AtomEnv, "fragments": FragmentEnv}
"""``--env`` name -> environment class (default configuration)."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="sample a campaign's compositions, or uniformly random molecules",
        description="With a campaign file: sample its bases and compositions (all, or those "
        "named with --set) to OUTPUT/samples/NAME.csv, training what they need first. "
        "With --env: write N molecules of the uniform policy (every allowed action equally "
        "likely, the random baseline) to the CSV file -o/--output, with a 'smiles' column "
        "(canonical SMILES, one row per sample, repeats kept).",
    )
    add_campaign_arguments(parser)
    parser.add_argument("--set", action="append", help="a sample set to draw (repeatable)")
    uniform = parser.add_argument_group("uniform random molecules (instead of a campaign)")
    uniform.add_argument("--env", choices=list(ENVIRONMENTS), help="molecule environment")
    uniform.add_argument("-n", type=int, help="number of molecules")
    uniform.add_argument("--batch-size", type=int, default=1024, help="trajectories per batch")
    uniform.add_argument("--seed", type=int, default=0, help="random seed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.env is None:
        if args.campaign is None:
            raise UserError("give a campaign file, or --env for uniform random molecules")
        runner = open_campaign(args)
        for name in args.set or list(runner.sample_sets()):
            runner.sample(name)
        return 0
    if args.campaign is not None:
        raise UserError("give either a campaign file or --env, not both")
    if args.n is None or args.n < 1:
        raise UserError(f"-n must be a positive number of molecules, got {args.n}")
    if args.output is None:
        raise UserError("-o/--output: give the CSV file to write")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    if not args.output.parent.is_dir():
        raise UserError(f"{args.output}: directory {args.output.parent} does not exist")
    generator = torch.Generator().manual_seed(args.seed)
    env = ENVIRONMENTS[args.env]()
    policy = UniformPolicy(env)
    smiles: list[str] = []
    with tqdm(total=args.n, desc=f"sampling {args.env}", unit="mol") as bar:
        while len(smiles) < args.n:
            batch = min(args.batch_size, args.n - len(smiles))
            trajectories = sample_trajectories(policy, batch, generator=generator)
            smiles += env.to_smiles(trajectories.terminal)
            bar.update(batch)
    with args.output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles"])
        writer.writerows([s] for s in smiles)
    return 0
