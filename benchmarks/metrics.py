"""Seconds per coverage metric at 10^3, 10^4 and 10^5 molecules.

Prints one JSON object. Molecules are made here by prefixing the SMILES of each drug
of ``data/drugs.csv`` with one of 32 substituents and 8 linkers (474 x 256 = 121,344
strings, seeded shuffle): mostly distinct drug-sized molecules, with some invalid
strings (a prefix bonded to an atom with no free valence), so validity < 1; the JSON
gives the valid and distinct counts of every size. Rewards are seeded uniform noise
(real rewards such as QED take ~1 ms a molecule, which is scoring, not metrics); with
the thresholds at 0.5, half of the molecules are mode candidates, a hard case (the
greedy pass is quadratic in the modes found: 10^4 here at 10^5 molecules).

Each metric is timed once, in the order a report computes them, so ``parse`` (which
computes the fingerprints) and the first ``scaffolds`` access carry the RDKit work
that every later metric reuses; ``summarize`` is timed from the SMILES (parsing included).
``earth_movers_distance`` is against a second set of the same size.

    python benchmarks/metrics.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib.resources import files

import numpy as np
import pandas as pd

from gfncompose.metrics import (
    DIVERSITY_SAMPLE_SIZE,
    EMD_SAMPLE_SIZE,
    MoleculeSet,
    earth_movers_distance,
    internal_diversity,
    novelty,
    number_of_modes,
    number_of_scaffolds,
    reward_cells,
    scaffold_entropy,
    summarize,
    top_k_diversity,
    top_k_mean_reward,
    uniqueness,
    validity,
)

SUBSTITUENTS = [
    "C", "CC", "C(C)C", "OC", "F", "Cl", "C(F)(F)F", "N#C", "OC(=O)", "NC(=O)", "CN(C)",
    "CS(=O)(=O)", "c1ccccc1", "c1ccncc1", "C1CC1", "C1CCOCC1", "OCC", "CC(=O)OC", "O",
    "N", "Fc1ccc(cc1)", "CC(=O)", "CN1CCCC1", "FC(F)CO", "NCC", "FC(F)(F)O", "CC(C)(C)",
    "c1ccsc1", "C1COCCN1", "CNC(=O)", "N#CC", "Br",
]  # fmt: skip
LINKERS = ["", "C", "CC", "O", "N", "C(=O)", "OC", "NC(=O)"]
THRESHOLDS = {"r1": 0.5, "r2": 0.5}


def molecules(n: int, seed: int) -> list[str]:
    """``n`` SMILES strings (distinct as strings) from the drug list, seeded."""
    drugs = pd.read_csv(files("gfncompose.data") / "drugs.csv")["smiles"].tolist()
    pool = [s + link + drug for drug in drugs for s in SUBSTITUENTS for link in LINKERS]
    if n > len(pool):
        raise SystemExit(f"at most {len(pool)} molecules")
    order = np.random.default_rng(seed).permutation(len(pool))[:n]
    return [pool[i] for i in order]


def timed(call) -> tuple[object, float]:
    start = time.perf_counter()
    value = call()
    return value, round(time.perf_counter() - start, 4)


def measure(n: int, reference: MoleculeSet) -> dict:
    smiles = molecules(n, seed=0)
    rng = np.random.default_rng(0)
    rewards = {name: rng.uniform(size=n) for name in THRESHOLDS}
    other = MoleculeSet(molecules(n, seed=1))  # the second set of the EMD, not timed

    seconds = {}
    sample, seconds["parse"] = timed(lambda: MoleculeSet(smiles))
    _, seconds["scaffolds"] = timed(lambda: sample.scaffolds)
    calls = {
        "validity": lambda: validity(sample),
        "uniqueness": lambda: uniqueness(sample),
        "novelty": lambda: novelty(sample, reference),
        "internal_diversity": lambda: internal_diversity(sample),
        "number_of_scaffolds": lambda: number_of_scaffolds(sample),
        "scaffold_entropy": lambda: scaffold_entropy(sample),
        "number_of_modes": lambda: number_of_modes(sample, rewards["r1"], THRESHOLDS["r1"]),
        "top_k_mean_reward": lambda: top_k_mean_reward(sample, rewards["r1"]),
        "top_k_diversity": lambda: top_k_diversity(sample, rewards["r1"]),
        "reward_cells": lambda: reward_cells(rewards, THRESHOLDS),
        "earth_movers_distance": lambda: earth_movers_distance(sample, other),
    }
    values = {}
    for name, call in calls.items():
        value, seconds[name] = timed(call)
        if isinstance(value, int | float):
            values[name] = value if isinstance(value, int) else round(value, 4)
    _, seconds["summarize"] = timed(
        lambda: summarize(MoleculeSet(smiles), rewards, THRESHOLDS, reference)
    )
    return {
        "molecules": n,
        "valid": sample.n_valid,
        "distinct": len(sample.unique),
        "seconds": seconds,
        "values": values,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated sizes")
    args = parser.parse_args()
    drugs = pd.read_csv(files("gfncompose.data") / "drugs.csv")["smiles"]
    reference = MoleculeSet(drugs)
    runs = [measure(int(size), reference) for size in args.sizes.split(",")]
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, "
                f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
                "load_average_1min": round(os.getloadavg()[0], 2),
                "diversity_sample_size": DIVERSITY_SAMPLE_SIZE,
                "emd_sample_size": EMD_SAMPLE_SIZE,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
