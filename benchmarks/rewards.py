"""Molecules per second of each reward at batch 64, 512 and 4096, serial vs process pool.

Prints one JSON object. Every timed call starts from an empty cache; the pool is
started and warmed on other molecules before timing, and its start-up time is
reported separately. ``cached`` re-scores the 4096 batch (all cache hits). Rates
are the best of ``--repeats`` calls, alternating serial and parallel, because other
processes on a shared machine only ever slow a call down; the load average is
printed so that a reader can tell a busy machine. Molecules are made here from 16
scaffolds x 32 x 32 substituents (drug-like sizes).

The sEH proxy (``seh``, a network on the CPU, no pool) is timed apart, uncached, at
batch 1, 64 and 512, with the published weights of ``../shared/data``; ``seh`` in the
JSON says so when that folder is absent.

    python benchmarks/rewards.py [--repeats 5] [--only qed,sa,seh]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import Crippen

from gfncompose.rewards import make_reward
from gfncompose.rewards.assay import AssayData, AssayReport
from gfncompose.rewards.proxy import train_proxy

SCAFFOLDS = [
    "c1cc({a})ccc1{b}",
    "c1cc({a})cc({b})c1",
    "c1nc({a})ccc1{b}",
    "c1cc({a})ncc1{b}",
    "C1CN({a})CCN1{b}",
    "C1CC({a})CCN1{b}",
    "c1cc2cc({a})ccc2n1{b}",
    "c1ccc2c(c1)nc({a})n2{b}",
    "O=C(N{a})c1ccc({b})cc1",
    "O=C(N{a})N{b}",
    "c1cc({a})sc1{b}",
    "c1nc({a})sc1{b}",
    "C1CC(CC1{a}){b}",
    "c1cc({a})oc1{b}",
    "O=S(=O)(N{a})c1ccc({b})cc1",
    "c1nnc({a})n1{b}",
]
SUBSTITUENTS = [
    "C", "CC", "C(C)C", "OC", "F", "Cl", "C(F)(F)F", "C#N", "C(=O)O", "C(=O)N", "N(C)C",
    "S(C)(=O)=O", "c1ccccc1", "c1ccncc1", "C1CC1", "C1CCOCC1", "CCO", "CC(=O)OC", "O",
    "N", "c1ccc(F)cc1", "C(=O)C", "CN1CCCC1", "OCC(F)F", "CCN", "OC(F)(F)F", "C(C)(C)C",
    "c1ccsc1", "N1CCOCC1", "C(=O)NC", "CC#N", "Br",
]  # fmt: skip
REWARDS = {
    "qed": {},
    "sa": {},
    "mw_window": {},
    "logp_window": {},
    "tpsa_window": {},
    "hbd_window": {},
    "hba_window": {},
    "rotatable_bonds_window": {},
    "ring_count_window": {},
    "similarity": {"references": ["O=C(NC1CCCCC1)NC12CC3CC(CC(C3)C1)C2", "c1ccc2ncccc2c1"]},
    "smarts": {"forbid": ["[N+](=O)[O-]", "C(=O)Cl"], "require": ["[#7]"]},
    "structural_alerts": {},
}
BATCHES = (64, 512, 4096)
SEH_BATCHES = (1, 64, 512)
SEH_WEIGHTS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "seh_proxy_bengio2021.pkl.gz"
)
PROXY_PATH = os.path.join(tempfile.gettempdir(), "gfncompose_benchmark_proxy.joblib")


def molecules() -> list[Chem.Mol]:
    """Distinct valid molecules from the scaffold/substituent combinations, shuffled (seed 0)."""
    seen, mols = set(), []
    with rdBase.BlockLogs():  # a few combinations are not valid aromatic systems
        for scaffold in SCAFFOLDS:
            for a in SUBSTITUENTS:
                for b in SUBSTITUENTS:
                    mol = Chem.MolFromSmiles(scaffold.format(a=a, b=b))
                    key = mol and Chem.MolToSmiles(mol)
                    if mol is not None and key not in seen:
                        seen.add(key)
                        mols.append(mol)
    order = np.random.default_rng(0).permutation(len(mols))
    return [mols[index] for index in order]


def toy_proxy(mols: list[Chem.Mol], path: str) -> None:
    """A proxy fitted to Crippen logP of 1000 molecules (only its speed matters here)."""
    smiles = [Chem.MolToSmiles(mol) for mol in mols[:1000]]
    targets = np.array([Crippen.MolLogP(mol) for mol in mols[:1000]])
    data = AssayData(smiles, targets, AssayReport(rows=1000), "generated", "smiles", "logp")
    train_proxy(data, n_trees=300, threshold=2.0, scale=1.0).save(path)


def throughput(reward, batch: list[Chem.Mol]) -> float:
    reward.clear_cache()
    start = time.perf_counter()
    reward.score(batch)
    return len(batch) / (time.perf_counter() - start)


def seh_throughput(mols: list[Chem.Mol], repeats: int) -> dict:
    """Uncached molecules/s of the sEH proxy per batch size, or why it was not timed."""
    if not SEH_WEIGHTS.is_file():
        return {"skipped": f"{SEH_WEIGHTS} is absent"}
    reward = make_reward("seh", path=str(SEH_WEIGHTS))
    reward.score(mols[:64])  # first call: allocator and kernel warm-up
    batches = {size: mols[64 : 64 + size] for size in SEH_BATCHES}
    rates = {
        str(size): round(max(throughput(reward, batch) for _ in range(repeats)))
        for size, batch in batches.items()
    }
    return {"device": str(reward.device), "uncached": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per setting")
    parser.add_argument("--only", help="comma-separated subset of the rewards")
    args = parser.parse_args()
    mols = molecules()
    warmup, batches = mols[:64], {size: mols[64 : 64 + size] for size in BATCHES}
    specs = {**REWARDS, "proxy": {"path": PROXY_PATH}}
    only = args.only.split(",") if args.only else [*specs, "seh"]
    specs = {name: specs[name] for name in only if name != "seh"}
    if "proxy" in specs:
        toy_proxy(mols[-1000:], PROXY_PATH)  # molecules never timed

    load_before = os.getloadavg()[0]
    results, startup = {}, {}
    for name, params in specs.items():
        serial = make_reward(name, **params)
        serial.parallel_min_batch = None
        parallel = make_reward(name, **params)
        parallel.parallel_min_batch = 1
        start = time.perf_counter()
        parallel.score(warmup)  # starts and warms the pool
        startup[name] = round(time.perf_counter() - start, 3)
        results[name] = {}
        for size, batch in batches.items():
            rates = {"serial": [], "parallel": []}
            for _ in range(args.repeats):
                for mode, reward in (("serial", serial), ("parallel", parallel)):
                    rates[mode].append(throughput(reward, batch))
            results[name][str(size)] = {mode: round(max(r)) for mode, r in rates.items()}
        serial.score(batches[4096])
        start = time.perf_counter()
        serial.score(batches[4096])
        results[name]["cached_4096"] = round(4096 / (time.perf_counter() - start))
    seh = seh_throughput(mols, args.repeats) if "seh" in only else {"skipped": "not in --only"}
    print(
        json.dumps(
            {
                "benchmark": "rewards",
                "unit": "molecules/s, best of repeats",
                "cpus": len(os.sched_getaffinity(0)),
                "machine": platform.processor() or platform.machine(),
                "repeats": args.repeats,
                "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
                "pool_startup_and_first_64_s": startup,
                "rewards": results,
                "seh": seh,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
