"""Accuracy of the two guidance modes on molecule spaces small enough to enumerate.

Prints one JSON object. Per environment (fragments: 3 fragments, at most 3 of them,
246 molecules; atoms: C/N/O, at most 4 atoms), the bases are the exact
trajectory-balance-optimal policies of ``QED^β`` and ``SA^β``; one learned GNN
classifier is trained on them; for each composition the exact law of the guided
policy (by dynamic programming over the enumerated graph, no sampling) is compared
with the composition formula, in both guidance modes. The plain mixture's L1 is
given for scale. Also reported: the same with the exact classifier (must be ~1e-6).

    python benchmarks/guidance_accuracy.py [--steps 2000] [--beta 8] [--hidden 128]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import torch

from gfncompose import GuidedPolicy, compose, contrast, exact, harmonic_mean
from gfncompose.classifier import Classifier
from gfncompose.classifier_training import ClassifierConfig, train_classifier
from gfncompose.composition import composition_distribution
from gfncompose.envs import AtomEnv, FragmentEnv, Vocabulary
from gfncompose.envs.vocabulary import fragment_from_marked_smiles
from gfncompose.rewards import make_reward

COMPOSITIONS = [
    harmonic_mean("qed", "sa"),
    contrast("qed", "sa", 0.5),
    contrast("sa", "qed", 0.5),
    contrast("qed", "sa", 0.05),
    compose(y=("qed", "qed", "sa")),
]


def environments() -> dict:
    marked = ["*C", "*OCC*", "*c1ccncc1"]
    return {
        "fragments": FragmentEnv(Vocabulary(fragment_from_marked_smiles(m) for m in marked), 3),
        "atoms": AtomEnv(max_atoms=4),
    }


def evaluate(env, bases, dists, classifier) -> dict:
    """Per composition, L1 of the mixture and of each mode to the formula over ``dists``."""
    out = {}
    for composition in COMPOSITIONS:
        target = composition_distribution(dists, composition)
        mixture = sum(dists[n] for n in composition.bases) / len(composition.bases)
        row = {"mixture": float((mixture - target).abs().sum())}
        for mode in ("successors", "action_head"):
            guided = GuidedPolicy(bases, classifier, composition, mode)
            row[mode] = float((exact.terminal_distribution(env, guided) - target).abs().sum())
        out[composition.label] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="classifier training steps")
    parser.add_argument("--beta", type=float, default=8.0, help="reward exponent of the bases")
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()
    rewards = {"qed": make_reward("qed"), "sa": make_reward("sa")}
    results = {}
    for name, env in environments().items():
        terminals = env.terminal_states()
        mols = env.to_mols(terminals)
        bases = {
            k: exact.optimal_policy(env, args.beta * reward(mols).log().double())
            for k, reward in rewards.items()
        }
        dists = {k: exact.terminal_distribution(env, p) for k, p in bases.items()}
        torch.manual_seed(0)
        classifier = Classifier(env, list(bases), n_observations=3, hidden=args.hidden)
        start = time.perf_counter()
        with torch.enable_grad():
            train_classifier(classifier, bases, ClassifierConfig(steps=args.steps), progress=False)
        seconds = time.perf_counter() - start
        classifier.eval()
        with torch.no_grad():
            results[name] = {
                "molecules": len(mols),
                "classifier_train_seconds": round(seconds, 1),
                "learned_classifier_l1": {
                    label: {k: round(v, 4) for k, v in row.items()}
                    for label, row in evaluate(env, bases, dists, classifier).items()
                },
                "exact_classifier_max_l1": max(  # unrounded: ~1e-6 expected
                    max(row["successors"], row["action_head"])
                    for row in evaluate(env, bases, dists, exact.classifier(env, bases)).values()
                ),
            }
    print(
        json.dumps(
            {
                "benchmark": "guidance_accuracy",
                "date": date.today().isoformat(),
                "config": vars(args),
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "environments": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
