"""Base training with the reward computed in its own process while the learner samples; one JSON.

For each reward, trains the same base twice from the same initial weights, in the same run:
synchronously (the reward of a batch computed between its sampling and its loss) and
pipelined (the batch's SMILES sent to a reward process, the next batch sampled meanwhile,
:func:`gfncompose.training.pipelined_batches`), and reports trajectories/s of each and their
ratio. The rewards: the built-in campaign's QED, SA and QED×SA, the published sEH proxy
(``../shared/data``; skipped if absent), and a reward that sleeps ``c`` ms per molecule, as a
docking program or a large proxy would take, for several ``c``: where the ratio crosses 1 is
the cost from which a reward is worth its own process.

    python benchmarks/pipelined_rewards.py [--steps 40] [--batch 64] [--sleep-ms 0.5,2,8]
        [--space campaign|literature] [--rewards qed,seh] [--threads 1]

The environment is the built-in campaign's fragment space, or with ``--space literature``
the literature's (the 72 fragments of ``../shared/data/blocks_PDB_105.json``, at most 9 per
molecule; network 128 × 2 as the campaign's). ``--rewards`` keeps some of the rewards (the
sleeping ones are named ``sleep``). The learner uses ``--threads`` torch threads (default 1:
the reward process takes the other CPU of a 2-CPU machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.envs import FragmentEnv, read_vocabulary
from gfncompose.policy import GFlowNet
from gfncompose.rewards import ProductReward, make_rewards
from gfncompose.rewards.base import LogRewardOfSmiles
from gfncompose.rewards.parallel import FunctionProcess
from gfncompose.training import PipelinedLogReward, TrainConfig, seeded, train_gflownet

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEH_WEIGHTS = SHARED_DATA / "seh_proxy_bengio2021.pkl.gz"
BLOCKS = SHARED_DATA / "blocks_PDB_105.json"


class SleepingLogReward:
    """``log R = 0`` after sleeping ``seconds`` per molecule (a stand-in for docking)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, smiles: list[str]) -> torch.Tensor:
        time.sleep(self.seconds * len(smiles))
        return torch.zeros(len(smiles))


def rate(env, log_reward, config: TrainConfig, hidden: int, layers: int) -> float:
    """Trajectories/s of training a fresh base (initial weights seeded) on ``log_reward`` in
    ``env`` (fresh too: its caches cold, as for the other run)."""
    with seeded(0):
        gfn = GFlowNet(env, hidden, layers)
    start = time.perf_counter()
    train_gflownet(gfn, log_reward, config, progress=False)
    return config.steps * config.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--sleep-ms", default="0.5,2,8", help="costs of the sleeping reward")
    parser.add_argument("--space", choices=("campaign", "literature"), default="campaign")
    parser.add_argument("--rewards", help="comma-separated: qed, sa, qed*sa, seh, sleep")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the learner")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import pipelined_rewards as this  # the sleeping reward, importable in the reward process

    campaign = load_campaign()
    spec = next(iter(campaign.bases.values()))
    if args.space == "literature":
        if not BLOCKS.is_file():
            raise SystemExit(f"--space literature needs {BLOCKS}")
        vocabulary = read_vocabulary(BLOCKS)

        def make_env():
            return FragmentEnv(vocabulary, 9)
    else:

        def make_env():
            return CampaignRunner(campaign, progress=False).env

    config = TrainConfig(steps=args.steps, batch_size=args.batch, epsilon=0.05, seed=1)
    specs = {"qed": {"qed": {}}, "sa": {"sa": {}}, "qed*sa": {"qed": {}, "sa": {}}}
    if SEH_WEIGHTS.is_file():
        specs["seh"] = {"seh": {"kind": "seh", "path": str(SEH_WEIGHTS)}}
    workers = {}
    for name, reward_spec in specs.items():
        rewards = list(make_rewards(reward_spec).values())
        workers[name] = LogRewardOfSmiles(
            rewards[0] if len(rewards) == 1 else ProductReward(rewards)
        )
    for ms in (float(text) for text in args.sleep_ms.split(",")):
        workers[f"sleep_{ms:g}ms_per_molecule"] = this.SleepingLogReward(ms / 1000)
    if args.rewards:
        kept = args.rewards.split(",")
        workers = {k: w for k, w in workers.items() if k.split("_")[0] in kept}
    output: dict = {
        "machine": platform.processor() or platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg()[0],
        "torch": torch.__version__,
        "learner_threads": args.threads,
        "space": args.space,
        "steps": args.steps,
        "batch": args.batch,
        "rewards": {},
    }
    for name, function in workers.items():
        env = make_env()

        def synchronous(states, function=function, env=env):
            return function(env.to_smiles(states))

        process = FunctionProcess(function)  # a copy: its caches as cold as the original's
        process.submit(["C"]).result()  # the process has started and imported everything
        try:
            serial = rate(env, synchronous, config, spec.hidden, spec.num_layers)
            env = make_env()
            pipelined = PipelinedLogReward(process, env.to_smiles)
            overlapped = rate(env, pipelined, config, spec.hidden, spec.num_layers)
        finally:
            process.close()
        output["rewards"][name] = {
            "synchronous_trajectories_per_s": round(serial, 1),
            "pipelined_trajectories_per_s": round(overlapped, 1),
            "ratio": round(overlapped / serial, 2),
        }
        print(name, output["rewards"][name], file=sys.stderr, flush=True)
    output["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
