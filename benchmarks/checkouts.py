"""Throughput of several checkouts of the package, alternated in one run; one JSON.

A code change's before/after ratio, measured the same way for both sides: each ``--python``
is the interpreter of a checkout's own environment (``gfncompose`` installed from that
checkout), and each runs the same timed work in a fresh process, one process at a time,
the checkouts alternated ``--repeats`` times, on the literature's fragment space (the 72
fragments of ``../shared/data/blocks_PDB_105.json``, at most 9 per molecule), one torch
thread, weights and random streams seeded. ``--stage``:

- ``base``: trajectory-balance training of a base (network 128 × 2 as the campaign's), batch
  64, ε 0.05, β 32, ``--reward`` (``qed``, or ``seh`` for the published proxy), ``--warmup``
  untimed steps then ``--steps`` timed ones, sampled in the learner's process. Checkouts that
  sample the same molecules (the usual case for a change that keeps the behaviour) report
  the same mean heavy-atom count: the rates compare like with like.
- ``classifier``: ``train_classifier`` of the campaign's classifier (hidden 128, 2 layers, 2
  observations) on two untrained bases of the campaign's size, 16 trajectories of each per
  step; with ``--processes K`` the checkouts that have ``ClassifierConfig.sampling_processes``
  sample in ``K`` processes (each run says which ``K`` it used: older checkouts sample in the
  learner's process). The rate is that of ``--steps`` steps in a steady state: a run of
  ``--warmup`` + ``--steps`` steps timed less a run of ``--warmup`` (after an untimed one), since
  each run starts its sampling processes and fills their caches anew.
- ``guided``: 1,024 molecules of ``harmonic_mean(a, b)`` guided by the action head, and of the
  plain mixture of ``a`` and ``b``, in one batch each (untrained bases and classifier of the
  campaign's sizes, after one untimed batch of 32): molecules/s of each and their ratio.

    python benchmarks/checkouts.py --python BEFORE/.venv/bin/python --python AFTER/.venv/bin/python
        [--stage base] [--steps 15] [--warmup 3] [--repeats 2] [--reward qed] [--processes 0]

Without ``--python`` it times this interpreter's checkout alone. With ``../shared/data``
absent it prints why it skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

BLOCKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "blocks_PDB_105.json"
SEH_WEIGHTS = BLOCKS.parent / "seh_proxy_bengio2021.pkl.gz"
RATE = {
    "base": "trajectories_per_s",
    "classifier": "trajectories_per_s",
    "guided": "molecules_per_s",
}
"""What each stage's runs are compared by."""

STEPS = """
import json, sys, time
import torch
from gfncompose.classifier import Classifier
from gfncompose.composition import Composition, harmonic_mean
from gfncompose.envs import FragmentEnv, read_vocabulary
from gfncompose.guided import GuidedPolicy
from gfncompose.policy import GFlowNet
from gfncompose.rewards import make_reward
from gfncompose.sampler import sample_terminal, sample_trajectories
from gfncompose.training import ClassifierConfig, seeded, train_classifier
from gfncompose.trajectory_balance import trajectory_balance_loss


def base(env, reward_name, reward_params, warmup, steps, processes):
    with seeded(0):
        gfn = GFlowNet(env, hidden=128, num_layers=2)
    params = [p for name, p in gfn.named_parameters() if name != "log_Z"]
    optimizer = torch.optim.Adam([{"params": params, "lr": 1e-3}, {"params": [gfn.log_Z]}])
    generator = torch.Generator().manual_seed(0)
    reward = make_reward(reward_name, **reward_params)
    totals = {"trajectories": 0, "states": 0, "atoms": 0}

    def log_reward(states):
        return reward(env.to_mols(states)).clamp_min(1e-8).log()

    def step():
        trajectories = sample_trajectories(gfn, 64, 0.05, generator)
        loss = trajectory_balance_loss(gfn, trajectories, log_reward, 32.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        totals["trajectories"] += len(trajectories.length)
        totals["states"] += len(trajectories.actions)
        totals["atoms"] += sum(m.GetNumAtoms() for m in env.to_mols(trajectories.terminal))

    for _ in range(warmup):
        step()
    totals.update(trajectories=0, states=0, atoms=0)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    return {
        "trajectories_per_s": round(totals["trajectories"] / seconds, 1),
        "ms_per_state": round(1000 * seconds / totals["states"], 3),
        "mean_heavy_atoms": round(totals["atoms"] / totals["trajectories"], 2),
    }


def untrained(env):
    bases = {}
    for index, name in enumerate(("a", "b")):
        with seeded(index):
            bases[name] = GFlowNet(env, hidden=128, num_layers=2)
    with seeded(0):
        classifier = Classifier(env, list(bases), n_observations=2, hidden=128)
    return bases, classifier


def classifier(env, reward_name, reward_params, warmup, steps, processes):
    bases, model = untrained(env)
    has_processes = "sampling_processes" in ClassifierConfig.__dataclass_fields__
    used = processes if has_processes else 0
    extra = {"sampling_processes": used} if has_processes else {}

    def train(count):
        config = ClassifierConfig(steps=count, batch_size=16, **extra)
        train_classifier(model, bases, config, progress=False)

    def seconds(count):
        start = time.perf_counter()
        train(count)
        return time.perf_counter() - start

    train(warmup)
    # each call starts its own sampling processes: the difference leaves out their start
    # and the cold caches of the first warmup steps
    elapsed = seconds(warmup + steps) - seconds(warmup)
    return {"trajectories_per_s": round(steps * 2 * 16 / elapsed, 1), "sampling_processes": used}


def guided(env, reward_name, reward_params, warmup, steps, processes):
    bases, model = untrained(env)
    model.eval()
    policies = {
        "action_head": GuidedPolicy(bases, model, harmonic_mean("a", "b"), "action_head"),
        "mixture": GuidedPolicy(bases, model, Composition(("a", "b"), (), (), "mixture")),
    }
    rates = {}
    for name, policy in policies.items():
        generator = torch.Generator().manual_seed(0)
        sample_terminal(policy, 32, batch_size=32, generator=generator)
        start = time.perf_counter()
        sample_terminal(policy, 1024, batch_size=1024, generator=generator)
        rates[name] = round(1024 / (time.perf_counter() - start), 1)
    return {
        "molecules_per_s": rates["action_head"],
        "mixture_molecules_per_s": rates["mixture"],
        "action_head_over_mixture": round(rates["action_head"] / rates["mixture"], 2),
    }


def main(stage, blocks, *args):
    env = FragmentEnv(read_vocabulary(blocks), 9)
    print(json.dumps(globals()[stage](env, *args)))


if __name__ == "__main__":
    main(*json.loads(sys.argv[1]))
"""


def run(python: str, args: argparse.Namespace, reward_params: dict) -> dict:
    """One timed run of ``args.stage`` by ``python`` in a fresh process."""
    payload = json.dumps(
        [
            args.stage,
            str(BLOCKS),
            args.reward,
            reward_params,
            args.warmup,
            args.steps,
            args.processes,
        ]
    )
    if not os.access(python, os.X_OK):
        sys.exit(f"--python {python}: not an executable interpreter")
    result = subprocess.run(
        [python, "-c", STEPS, payload],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd="/",  # never import the package from the current directory
    )
    if result.returncode != 0:
        sys.exit(f"{python} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", help="a checkout's python (repeatable)")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stage", choices=["base", "classifier", "guided"], default="base")
    parser.add_argument("--reward", choices=["qed", "seh"], default="qed", help="base only")
    parser.add_argument(
        "--processes", type=int, default=0, help="classifier only: sampling processes"
    )
    args = parser.parse_args()
    args.python = args.python or [sys.executable]
    needed = [BLOCKS] + ([SEH_WEIGHTS] if args.stage == "base" and args.reward == "seh" else [])
    absent = [str(path) for path in needed if not path.is_file()]
    if absent:
        print(json.dumps({"benchmark": "checkouts", "skipped": f"absent: {', '.join(absent)}"}))
        return
    reward_params = {"path": str(SEH_WEIGHTS)} if args.reward == "seh" else {}
    runs: list[list[dict]] = [[] for _ in args.python]
    for _ in range(args.repeats):
        for index, python in enumerate(args.python):
            runs[index].append(run(python, args, reward_params))
    unit = RATE[args.stage]
    rates = [round(statistics.fmean(r[unit] for r in rs), 1) for rs in runs]
    print(
        json.dumps(
            {
                "benchmark": "checkouts",
                "config": vars(args),
                "machine": platform.processor() or platform.machine(),
                "checkouts": [
                    {
                        "python": python,
                        unit: rate,
                        "ratio_to_first": round(rate / rates[0], 3),
                        "runs": rs,
                    }
                    for python, rate, rs in zip(args.python, rates, runs, strict=True)
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
