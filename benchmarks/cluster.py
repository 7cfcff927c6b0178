"""Campaign work on a local Ray cluster of 1 and 2 workers against the serial path; one JSON.

Three measurements, each on the serial path and on a local Ray instance started here with
1 and then 2 CPUs (one task per CPU), in the same run:

- a guided sample set (``harmonic_mean(qed, sa)`` of the built-in campaign, trained first
  at a small budget, not timed) of ``--molecules`` molecules, sampled in chunks;
- scoring ``--molecules`` SMILES with the sEH proxy (``../shared/data``; skipped if absent)
  and ``--slow`` SMILES with a reward that sleeps ``--sleep`` seconds per molecule, as a
  docking program would take;
- the scheduling overhead per task: wall time of 200 empty tasks, divided by 200.

    python benchmarks/cluster.py [--molecules 10000] [--budget 0.05]

What stays serial: the driver assembles chunks and writes files; a set's chunks start only
when its models are trained. Ratios > 1 need more CPUs than the work of one worker uses.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import ray
import torch
from rdkit import Chem

from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign.cluster import RayCluster
from gfncompose.campaign.config import ClusterSpec
from gfncompose.rewards import make_rewards

SEH_WEIGHTS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "seh_proxy_bengio2021.pkl.gz"
)
WORKERS = (1, 2)


def _empty(_: int) -> None:
    return None


def _sleepy(smiles: list[str], seconds: float) -> list[float]:
    time.sleep(seconds * len(smiles))
    return [1.0] * len(smiles)


def sample_set(campaign, name: str, workers: int | None) -> float:
    """Wall seconds to sample set ``name`` from scratch (models already trained)."""
    for path in campaign.output.glob(f"samples/{name}*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    cluster = None if workers is None else RayCluster(ClusterSpec("local"))
    runner = CampaignRunner(campaign, progress=False, cluster=cluster)
    start = time.perf_counter()
    runner.sample(name)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=10000)
    parser.add_argument("--budget", type=float, default=0.05, help="training budget of the models")
    parser.add_argument("--chunk", type=int, default=512, help="molecules per sampling task")
    parser.add_argument("--slow", type=int, default=24, help="molecules of the sleeping reward")
    parser.add_argument("--sleep", type=float, default=0.5, help="seconds per slow molecule")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a one-CPU Ray worker
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    output: dict = {
        "machine": platform.processor() or platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg()[0],
        "torch": torch.__version__,
        "ray": ray.__version__,
    }
    with tempfile.TemporaryDirectory() as folder:
        campaign = load_campaign(budget=args.budget, output=Path(folder) / "campaign")
        campaign = replace(
            campaign,
            batch_size=args.chunk,
            compositions={
                "qed_and_sa": replace(campaign.compositions["qed_and_sa"], samples=args.molecules)
            },
        )
        runner = CampaignRunner(campaign, progress=False)
        runner.train_classifier()
        serial = sample_set(campaign, "qed_and_sa", None)
        sampling = {"serial_seconds": round(serial, 2), "molecules": args.molecules}
        smiles = pd.read_csv(runner.layout.samples_csv("qed_and_sa"))["smiles"].tolist()
        scoring: dict = {}
        seh_spec = {"seh": {"kind": "seh", "path": str(SEH_WEIGHTS)}}
        if SEH_WEIGHTS.is_file():
            reward = make_rewards(seh_spec)["seh"]
            start = time.perf_counter()
            reward.score_uncached([Chem.MolFromSmiles(s) for s in smiles])
            scoring["seh_serial_seconds"] = round(time.perf_counter() - start, 2)
        else:
            scoring["seh"] = f"skipped: {SEH_WEIGHTS} is absent"
        start = time.perf_counter()
        _sleepy(smiles[: args.slow], args.sleep)
        scoring["sleepy_serial_seconds"] = round(time.perf_counter() - start, 2)
        for workers in WORKERS:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            cluster = RayCluster(ClusterSpec("local"))
            key = f"{workers}_workers"
            seconds = sample_set(campaign, "qed_and_sa", workers)
            sampling[key] = {
                "seconds": round(seconds, 2),
                "molecules_per_s": round(args.molecules / seconds, 1),
                "speedup_over_serial": round(serial / seconds, 2),
            }
            if SEH_WEIGHTS.is_file():
                start = time.perf_counter()
                cluster.score(seh_spec, smiles, batch=1000, progress=False)
                seconds = time.perf_counter() - start
                scoring[f"seh_{key}"] = {
                    "seconds": round(seconds, 2),
                    "speedup_over_serial": round(scoring["seh_serial_seconds"] / seconds, 2),
                }
            start = time.perf_counter()
            batches = [smiles[i : i + 4] for i in range(0, args.slow, 4)]
            cluster.map(lambda batch: _sleepy(batch, args.sleep), batches, cluster.spec.sampling)
            seconds = time.perf_counter() - start
            scoring[f"sleepy_{key}"] = {
                "seconds": round(seconds, 2),
                "speedup_over_serial": round(scoring["sleepy_serial_seconds"] / seconds, 2),
            }
            cluster.map(_empty, list(range(20)), cluster.spec.sampling)  # workers started
            start = time.perf_counter()
            cluster.map(_empty, list(range(200)), cluster.spec.sampling)
            output.setdefault("overhead_ms_per_task", {})[key] = round(
                (time.perf_counter() - start) / 200 * 1000, 2
            )
            ray.shutdown()
    output["sampling"] = sampling
    output["scoring"] = scoring
    output["scoring"]["sleep_seconds_per_molecule"] = args.sleep
    output["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
