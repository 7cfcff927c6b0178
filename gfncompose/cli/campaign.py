"""``gfncompose run`` and the stage commands ``train-base``, ``train-classifier``.

``sample`` and ``report`` accept a campaign file too (see their modules); all of them
share the options below and the log (stderr and ``OUTPUT/campaign.log``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..campaign import CampaignRunner, load_campaign
from ..campaign.layout import CampaignLayout


def add_campaign_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """The campaign file and the options that override it."""
    parser.add_argument(
        "campaign",
        type=Path,
        nargs=None if required else "?",
        help="campaign file (TOML)" + ("" if required else "; default: the built-in campaign"),
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=1.0,
        help="scale every training step count and sample count (e.g. 10 on a GPU)",
    )
    parser.add_argument("--device", help="override the file's device, e.g. cuda")
    parser.add_argument("-o", "--output", type=Path, help="override the file's output folder")
    parser.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run on a Ray cluster: 'auto' (the cluster this machine belongs to), HOST:PORT, "
        "or 'local' (a Ray instance on this machine); needs pip install 'gfncompose[ray]' "
        "and an output folder every node sees",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def open_campaign(args: argparse.Namespace) -> CampaignRunner:
    """Load and validate the campaign of ``args`` and start its log."""
    campaign = load_campaign(args.campaign, args.budget, args.output, args.device, args.ray)
    cluster = None
    if campaign.cluster is not None:
        from ..campaign.cluster import RayCluster  # only a campaign on a cluster imports Ray

        cluster = RayCluster(campaign.cluster)
    campaign.output.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("gfncompose.campaign")
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
    file_handler = logging.FileHandler(CampaignLayout(campaign).log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(file_handler)
    source = args.campaign or "the built-in campaign"
    logger.info("campaign %s -> %s (budget x%g)", source, campaign.output, campaign.budget)
    if cluster is not None:
        logger.info("on the Ray cluster at %s", campaign.cluster.address)
    return CampaignRunner(campaign, progress=not args.quiet, cluster=cluster)


def register(subparsers) -> None:
    run_parser = subparsers.add_parser(
        "run",
        help="run a whole composed reward campaign: bases, classifier, samples, report",
        description="Train the campaign's base GFlowNets and its classifier, sample every "
        "composition, and write CSVs, summary.{csv,json} and plots to the output folder. "
        "Finished work is reused and interrupted work resumes from its last checkpoint, so "
        "running the same command again after a crash completes the campaign. Without a "
        "file, runs the built-in default campaign (data/campaign.toml).",
    )
    add_campaign_arguments(run_parser)
    run_parser.set_defaults(func=run)

    base_parser = subparsers.add_parser(
        "train-base",
        help="train (or resume) the base GFlowNets of a campaign",
        description="Train the campaign's bases (all, or those named with --base; "
        "'monolithic' is the baseline), reusing bases already trained with the same config.",
    )
    add_campaign_arguments(base_parser, required=True)
    base_parser.add_argument("--base", action="append", help="a base to train (repeatable)")
    base_parser.set_defaults(func=train_base)

    classifier_parser = subparsers.add_parser(
        "train-classifier",
        help="train (or resume) the classifier of a campaign (trains missing bases first)",
        description="Train the classifier over the campaign's bases on their trajectories.",
    )
    add_campaign_arguments(classifier_parser, required=True)
    classifier_parser.set_defaults(func=train_classifier)


def run(args: argparse.Namespace) -> int:
    open_campaign(args).run()
    return 0


def train_base(args: argparse.Namespace) -> int:
    runner = open_campaign(args)
    names = args.base or list(runner.campaign.bases)
    for name in names:
        runner.train_base(name)
    return 0


def train_classifier(args: argparse.Namespace) -> int:
    open_campaign(args).train_classifier()
    return 0
