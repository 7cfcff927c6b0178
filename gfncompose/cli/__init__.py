"""The ``gfncompose`` command: one subcommand per module listed in ``COMMANDS``.

Each module defines ``register(subparsers)``, which adds its parser and sets
``func=run`` where ``run(args) -> int`` is the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import UserError

COMMANDS = ["campaign", "sample", "report", "grid_demo", "score", "proxy", "vocab"]


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option: stores into the new one's ``dest`` and says so once."""

    def __init__(self, option_strings, dest, replacement: str, **kwargs):
        self.replacement = replacement
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"gfncompose: warning: {option_string} is deprecated; use {self.replacement}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gfncompose",
        description="Compositional molecular design with GFlowNets: train bases on simple "
        "rewards, then sample their harmonic means, contrasts and general compositions "
        "without retraining.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as error:
        print(f"gfncompose: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gfncompose: interrupted; completed checkpoints are kept", file=sys.stderr)
        return 130
