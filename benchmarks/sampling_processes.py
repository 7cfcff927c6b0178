"""Training with its batches sampled in processes of their own, against sampling here; JSON.

For each of ``--stages`` and each count ``K`` of ``--processes`` (0: sampled in the learner's
process, between its steps, as before ``sampling_processes`` existed), trains on the
literature's fragment space (the 72 fragments of ``../shared/data/blocks_PDB_105.json``, at most
9 per molecule), initial weights and random stream seeded, the learner on one torch thread
with float32 subnormals flushed as the training functions run it:
``--warmup`` untimed steps (process start-up, cold caches), then ``--steps`` timed ones.

- ``qed``, ``seh``: a fresh base on that reward (network 128 × 2 as the default campaign's),
  batch 64, ε 0.05, β 32.
- ``classifier``: the default campaign's classifier (hidden 128, 2 layers, 2 observations) on
  two untrained bases of the campaign's size (128 × 2), 16 trajectories of each per step (the
  campaign's batch; untrained bases draw molecules of every size, so the cost per step is a
  trained run's order, not its value).

The counts alternate ``--repeats`` times; each rate (trajectories/s) is reported with its ratio
to the first count's measured in the same run. Each run is a fresh process and reports its
mean steps per trajectory (the molecules' size in fragments, plus the stop: base training
with different counts draws different batches, so rates compare like with like only where
these agree) and the peak resident memory of the learner and of the largest of its child
processes (the sampling processes, the fork server that starts them, a reward's process pool).

    python benchmarks/sampling_processes.py [--processes 0,1,2] [--stages qed,seh,classifier]
        [--steps 30] [--warmup 5] [--repeats 2]

With ``../shared/data`` absent it prints why it skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from gfncompose.campaign.runner import LogRewardOfStates
from gfncompose.classifier import Classifier
from gfncompose.classifier_training import classifier_loss
from gfncompose.denormals import flushing_denormals
from gfncompose.envs import FragmentEnv, read_vocabulary
from gfncompose.policy import GFlowNet
from gfncompose.rewards import make_reward
from gfncompose.training import (
    ClassifierConfig,
    TrainConfig,
    TrainingLoop,
    batch_source,
    classifier_batch_source,
    frozen_copy,
    seeded,
)
from gfncompose.trajectory_balance import batch_trajectory_balance_loss

BLOCKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "blocks_PDB_105.json"
SEH_WEIGHTS = BLOCKS.parent / "seh_proxy_bengio2021.pkl.gz"


def peak_rss_mib(pid: int) -> tuple[int, int]:
    """``(parent pid, peak resident memory in MiB)`` of a live process, from ``/proc``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["PPid"]), int(fields.get("VmHWM", "0 kB").split()[0]) // 1024


def descendants_peak_rss_mib() -> int:
    """The largest peak resident memory among this process's live descendants (the sampling
    processes and the fork server that starts them), MiB."""
    parents, peaks = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)], peaks[int(entry.name)] = peak_rss_mib(int(entry.name))
            except (OSError, KeyError, ValueError):
                continue
    mine, found = {os.getpid()}, True
    while found:
        new = {pid for pid, parent in parents.items() if parent in mine} - mine
        mine |= new
        found = bool(new)
    return max((peaks[pid] for pid in mine - {os.getpid()}), default=0)


def rate(stage: str, processes: int, warmup: int, steps: int) -> dict:
    """Trajectories/s of ``steps`` training steps of ``stage`` after ``warmup`` ones, with
    ``processes``."""
    env = FragmentEnv(read_vocabulary(BLOCKS), 9)
    if stage == "classifier":
        return classifier_rate(env, processes, warmup, steps)
    reward = stage
    params = {"path": str(SEH_WEIGHTS)} if reward == "seh" else {}
    log_reward = LogRewardOfStates(make_reward(reward, **params), env)
    with seeded(0):
        gfn = GFlowNet(env, hidden=128, num_layers=2)
    config = TrainConfig(
        steps=warmup + steps, batch_size=64, beta=32.0, epsilon=0.05, sampling_processes=processes
    )
    weights = [p for name, p in gfn.named_parameters() if name != "log_Z"]
    optimizer = torch.optim.Adam([{"params": weights}, {"params": [gfn.log_Z], "lr": 0.1}])
    loop = TrainingLoop(gfn, optimizer, config, progress=False)
    steps_per_trajectory = []
    with flushing_denormals(), batch_source(gfn, log_reward, config, loop) as batches:
        for step, batch in enumerate(batches):
            if step == warmup:
                start = time.perf_counter()
            steps_per_trajectory.append(len(batch.trajectory) / len(batch.log_pb))
            loss = batch_trajectory_balance_loss(gfn, batch, config.beta)
            loss.backward()
            loop.step(loss=loss.item())
        seconds = time.perf_counter() - start
        sampling_peak = descendants_peak_rss_mib()
    return {
        "trajectories_per_s": round(steps * config.batch_size / seconds, 1),
        "mean_steps_per_trajectory": round(statistics.fmean(steps_per_trajectory[warmup:]), 2),
        "final_loss": round(statistics.fmean(h["loss"] for h in loop.history[-10:]), 1),
        "peak_rss_mib": {"learner": peak_rss_mib(os.getpid())[1], "sampling": sampling_peak},
    }


def classifier_rate(env: FragmentEnv, processes: int, warmup: int, steps: int) -> dict:
    """:func:`rate` of the classifier stage."""
    with seeded(0):
        bases = [GFlowNet(env, hidden=128, num_layers=2) for _ in range(2)]
        classifier = Classifier(env, ["a", "b"], n_observations=2, hidden=128, num_layers=2)
    config = ClassifierConfig(steps=warmup + steps, batch_size=16, sampling_processes=processes)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=config.lr)
    target = frozen_copy(classifier)
    loop = TrainingLoop(
        classifier, optimizer, config, ema=target, ema_rate=config.ema_rate, progress=False
    )
    steps_per_trajectory = []
    with flushing_denormals(), classifier_batch_source(bases, config, loop) as batches:
        for step, batch in enumerate(batches):
            if step == warmup:
                start = time.perf_counter()
            trajectories = int(batch.trajectory[-1]) + 1
            steps_per_trajectory.append(len(batch.trajectory) / trajectories)
            loss, parts = classifier_loss(classifier, target, batch, 1.0, loop.generator)
            loss.backward()
            loop.step(**parts)
        seconds = time.perf_counter() - start
        sampling_peak = descendants_peak_rss_mib()
    return {
        "trajectories_per_s": round(steps * 2 * config.batch_size / seconds, 1),
        "mean_steps_per_trajectory": round(statistics.fmean(steps_per_trajectory[warmup:]), 2),
        "final_loss": round(statistics.fmean(sum(h.values()) for h in loop.history[-10:]), 2),
        "peak_rss_mib": {"learner": peak_rss_mib(os.getpid())[1], "sampling": sampling_peak},
    }


def in_fresh_process(stage: str, processes: int, warmup: int, steps: int) -> dict:
    """:func:`rate` run by a new interpreter (no caches, forks or memory peaks of other runs)."""
    payload = json.dumps([stage, processes, warmup, steps])
    done = subprocess.run(
        [sys.executable, __file__, "--one", payload],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if done.returncode != 0:
        sys.exit(f"{stage} with {processes} sampling processes failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="0,1,2")
    parser.add_argument("--stages", default="qed,seh,classifier")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one run, in a fresh process
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.one:
        print(json.dumps(rate(*json.loads(args.one))))
        return
    counts = [int(k) for k in args.processes.split(",")]
    stages = args.stages.split(",")
    unknown = set(stages) - {"qed", "seh", "classifier"}
    if unknown:
        sys.exit(f"--stages: unknown {sorted(unknown)} (known: qed, seh, classifier)")
    needed = [BLOCKS] + ([SEH_WEIGHTS] if "seh" in stages else [])
    absent = [str(path) for path in needed if not path.is_file()]
    if absent:
        print(json.dumps({"benchmark": "sampling_processes", "skipped": f"absent: {absent}"}))
        return
    results = {}
    for stage in stages:
        runs: dict[int, list[dict]] = {k: [] for k in counts}
        for _ in range(args.repeats):
            for k in counts:
                runs[k].append(in_fresh_process(stage, k, args.warmup, args.steps))
        rates = {k: statistics.fmean(r["trajectories_per_s"] for r in rs) for k, rs in runs.items()}
        results[stage] = [
            {
                "sampling_processes": k,
                "trajectories_per_s": round(rates[k], 1),
                "ratio_to_first": round(rates[k] / rates[counts[0]], 3),
                "runs": runs[k],
            }
            for k in counts
        ]
    print(
        json.dumps(
            {
                "benchmark": "sampling_processes",
                "config": {k: v for k, v in vars(args).items() if k != "one"},
                "machine": platform.processor() or platform.machine(),
                "learner_torch_threads": 1,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
