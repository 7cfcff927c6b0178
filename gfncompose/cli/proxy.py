"""``gfncompose proxy train``: fit a potency proxy on an assay table, usable as a reward."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..rewards.assay import read_assay
from ..rewards.proxy import train_proxy


def register(subparsers) -> None:
    parser = subparsers.add_parser("proxy", help="train a potency proxy on an assay table")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser(
        "train",
        help="fit a random forest on Morgan fingerprints and report held-out R²/Spearman",
        description="Fit a random forest on Morgan fingerprints of an assay table (ChEMBL "
        "exports work as they are) and save it for the 'proxy' reward: "
        "sigmoid((prediction - threshold) / scale). Censored rows (relation other than "
        "'='), rows without a value and, unless --strict, invalid SMILES are dropped and "
        "counted; duplicates are merged into their median.",
    )
    train.add_argument("assay", type=Path, help="assay table (delimiter is detected)")
    train.add_argument("-o", "--output", type=Path, required=True, help="proxy file to write")
    train.add_argument("--smiles-col", default="Smiles", help="default: %(default)s (ChEMBL)")
    train.add_argument(
        "--target-col",
        default="pChEMBL Value",
        help="higher-is-better, log-scale potency; default: %(default)s (ChEMBL)",
    )
    train.add_argument(
        "--relation-col",
        help="relation column (=, <, >); default: 'Standard Relation' if the file has it",
    )
    train.add_argument("--units-col", help="units column; rows must share one unit")
    train.add_argument("--units", help="keep only rows in these units (needs --units-col)")
    train.add_argument("--strict", action="store_true", help="stop at the first invalid SMILES")
    train.add_argument("--radius", type=int, default=2, help="Morgan radius (%(default)s)")
    train.add_argument("--bits", type=int, default=2048, help="fingerprint bits (%(default)s)")
    train.add_argument("--trees", type=int, default=300, help="forest size (%(default)s)")
    train.add_argument(
        "--test-fraction", type=float, default=0.2, help="held-out share (%(default)s)"
    )
    train.add_argument("--seed", type=int, default=0, help="split and forest seed")
    train.add_argument(
        "--threshold", type=float, default=6.0, help="potency scoring 0.5 (%(default)s = 1 µM)"
    )
    train.add_argument(
        "--scale", type=float, default=0.5, help="potency per logit of the sigmoid (%(default)s)"
    )
    train.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.radius < 0 or args.bits < 1 or args.trees < 1:
        raise UserError("--radius must be >= 0, --bits and --trees >= 1")
    if not args.output.parent.is_dir():
        raise UserError(f"{args.output.parent}: no such directory")
    data = read_assay(
        args.assay,
        smiles_col=args.smiles_col,
        target_col=args.target_col,
        relation_col=args.relation_col,
        units_col=args.units_col,
        units=args.units,
        strict=args.strict,
    )
    print(data.report.summary())
    proxy = train_proxy(
        data,
        radius=args.radius,
        n_bits=args.bits,
        n_trees=args.trees,
        test_fraction=args.test_fraction,
        seed=args.seed,
        threshold=args.threshold,
        scale=args.scale,
        progress=True,
    )
    meta = proxy.metadata
    print(
        f"held-out ({meta['n_test']} molecules; trained on {meta['n_train']}): "
        f"R² {meta['r2']:.3f}, Spearman {meta['spearman']:.3f} "
        f"(mean predictor R² {meta['mean_predictor_r2']:.3f})"
    )
    proxy.save(args.output)
    print(f"saved {args.output}")
    return 0
