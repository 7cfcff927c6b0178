"""``gfncompose vocab``: build a fragment vocabulary from molecules, or show one.

``gfncompose vocab build INPUT.csv -o VOCAB.csv`` decomposes molecules into fragments;
``gfncompose vocab show VOCAB`` reads a vocabulary file (CSV or the literature's JSON
block list) as a campaign would and prints its fragments, stems and action-space size.
"""

from __future__ import annotations

import argparse

from ..envs import FragmentEnv, read_vocabulary
from ..envs.brics import VocabularyLimits, build_vocabulary, read_molecules

_DEFAULTS = VocabularyLimits()


def register(subparsers) -> None:
    parser = subparsers.add_parser("vocab", help="fragment vocabularies")
    commands = parser.add_subparsers(dest="vocab_command", metavar="ACTION", required=True)
    build = commands.add_parser(
        "build",
        help="decompose molecules into fragments and keep the most frequent",
        description="Decompose the molecules of INPUT (a CSV file with a 'smiles' column) "
        "with BRICS or RECAP, count each fragment by the number of molecules containing it, "
        "and write the most frequent to VOCAB in the vocabulary format (a 'smiles' column of "
        "dummy-marked fragments and a 'count' column).",
    )
    build.add_argument("input", metavar="INPUT.csv", help="molecules, one per row")
    build.add_argument("-o", "--output", required=True, metavar="VOCAB.csv")
    build.add_argument("--method", choices=("brics", "recap"), default="brics")
    build.add_argument(
        "--max-fragments",
        type=_positive,
        default=_DEFAULTS.max_fragments,
        help="keep at most this many fragments (default: %(default)s)",
    )
    build.add_argument(
        "--min-count",
        type=_positive,
        default=_DEFAULTS.min_count,
        help="keep fragments found in at least this many molecules (default: %(default)s)",
    )
    build.add_argument(
        "--max-atoms",
        type=_positive,
        default=_DEFAULTS.max_atoms,
        help="keep fragments with at most this many heavy atoms (default: %(default)s)",
    )
    build.set_defaults(func=run)
    show = commands.add_parser(
        "show",
        help="read a vocabulary as a campaign would and list its fragments",
        description="Read VOCAB (the CSV vocabulary format, or the literature's JSON block "
        "list) and print each fragment with the attachment points FragmentEnv offers on it, "
        "then the size of the environment's action space.",
    )
    show.add_argument("vocabulary", metavar="VOCAB", help="a .csv or .json vocabulary file")
    show.add_argument(
        "--max-fragments",
        type=_positive,
        default=9,
        help="fragments per molecule, for the action-space size (default: %(default)s)",
    )
    show.set_defaults(func=show_vocabulary)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def show_vocabulary(args) -> int:
    env = FragmentEnv(read_vocabulary(args.vocabulary), max_fragments=args.max_fragments)
    print(f"{args.vocabulary}: {env.num_fragments} fragments")
    print("index\tstems\tcount\tfragment")
    for index, (fragment, compiled) in enumerate(
        zip(env.vocabulary, env.table.fragments, strict=True)
    ):
        count = "" if fragment.count is None else fragment.count
        print(f"{index}\t{len(compiled.stems)}\t{count}\t{fragment.smiles}")
    print(
        f"(fragment, stem) pairs: {env.num_stems}; attachment slots at max_fragments "
        f"{env.max_fragments}: {env.num_slots}; actions: {env.num_actions}"
    )
    return 0


def run(args) -> int:
    limits = VocabularyLimits(args.max_fragments, args.min_count, args.max_atoms)
    vocabulary = build_vocabulary(read_molecules(args.input), limits, args.method)
    vocabulary.write_csv(args.output)
    print(f"wrote {len(vocabulary)} fragments to {args.output}")
    return 0
