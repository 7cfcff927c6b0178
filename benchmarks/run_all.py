"""Run every benchmark and write one JSON object with all their figures.

Each benchmark runs in its own process (its own caches, its own torch threads) with
the arguments of the chosen suite; its JSON output is stored under its name with
the command and wall time. A benchmark that fails is recorded with its exit code
and the end of its stderr, the others still run, and the exit code is 1.

    python benchmarks/run_all.py [--suite full|quick] [--device cuda] [--only a,b]
        [--output results.json]

``quick`` shrinks every budget (minutes on a laptop) for a smoke run; compare
figures only between runs of the same suite on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

SUITES: dict[str, dict[str, list[str]]] = {
    "full": {
        "hypergrid_composition": [],
        "guidance_accuracy": [],
        "guided_sampling": ["--budget", "0.25", "--batch", "64,256,1024"],
        "campaign": ["--budget", "0.1", "--samples", "256"],
        "envs": [],
        "rewards": ["--repeats", "3"],
        "metrics": ["--sizes", "1000,10000"],
        "cluster": [],
        "pipelined_rewards": [],
        "sampling_processes": [],
        "sculpting_seh": ["--budget", "0.02", "--samples", "1000"],
        "checkouts": [],
        "literature_floor": [],
    },
    "quick": {
        "hypergrid_composition": ["--horizon", "16", "--base-steps", "300"]
        + ["--classifier-steps", "300"],
        "guidance_accuracy": ["--steps", "200"],
        "guided_sampling": ["--budget", "0.05", "--batch", "64", "--repeats", "1"],
        "campaign": ["--budget", "0.02", "--samples", "32"],
        "envs": [],
        "rewards": ["--repeats", "1", "--only", "qed,sa"],
        "metrics": ["--sizes", "1000"],
        "cluster": ["--molecules", "512", "--budget", "0.02", "--slow", "8"],
        "pipelined_rewards": ["--steps", "5", "--sleep-ms", "2"],
        "sampling_processes": ["--steps", "2", "--warmup", "1", "--repeats", "1"],
        "sculpting_seh": ["--budget", "0.001", "--samples", "32"],
        "checkouts": ["--steps", "2", "--warmup", "1", "--repeats", "1"],
        "literature_floor": ["--batch", "16", "--repeats", "1"],
    },
}
TAKES_DEVICE = {"hypergrid_composition", "guided_sampling", "campaign", "envs", "sculpting_seh"}


def run(name: str, args: list[str]) -> dict:
    command = [sys.executable, str(HERE / f"{name}.py"), *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    record = {"command": " ".join(command[1:]), "seconds": round(time.perf_counter() - start, 1)}
    if done.returncode != 0:
        return {**record, "returncode": done.returncode, "stderr": done.stderr[-4000:]}
    return {**record, "result": json.loads(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="full")
    parser.add_argument("--device", help="passed to the benchmarks that take one")
    parser.add_argument("--only", help="comma-separated subset of the benchmarks")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    suite = SUITES[args.suite]
    names = args.only.split(",") if args.only else list(suite)
    unknown = sorted(set(names) - set(suite))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {', '.join(suite)}")

    results = {}
    for name in names:
        extra = ["--device", args.device] if args.device and name in TAKES_DEVICE else []
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        results[name] = run(name, suite[name] + extra)
        print(f"[run_all] {name}: {results[name]['seconds']} s", file=sys.stderr, flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    report = {
        "date": date.today().isoformat(),
        "suite": args.suite,
        "git_commit": commit or None,
        "machine": platform.processor() or platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "benchmarks": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    failed = [n for n, r in results.items() if "returncode" in r]
    if failed:
        print(f"[run_all] failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
