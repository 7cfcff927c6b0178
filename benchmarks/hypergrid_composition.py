"""Hypergrid composition benchmark (the paper's 32×32 setting); prints one JSON object.

L1 of each learned base to ``R/Z``; L1 of each guided composition (learned bases,
learned classifier) to the exact composition of the learned bases, per guidance
mode; training wall time; guided vs plain-mixture sampling rates in the same run.

    python benchmarks/hypergrid_composition.py [--base-steps N] [--classifier-steps N]
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from gfncompose import harmonic_mean
from gfncompose.grid_experiment import GridExperiment, run, sampling_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=32)
    parser.add_argument("--base-steps", type=int, default=3000)
    parser.add_argument("--classifier-steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    config = GridExperiment(
        horizon=args.horizon,
        base_steps=args.base_steps,
        classifier_steps=args.classifier_steps,
        batch_size=args.batch_size,
        three_disks=True,
        device=args.device,
    )
    result = run(config, progress=False)
    rates = sampling_throughput(
        result["bases"], result["classifiers"]["shapes"], harmonic_mean("band", "ring")
    )
    output = {
        "config": {k: v for k, v in vars(config).items() if k != "groups"},
        "device": str(args.device),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "base_l1": result["base_l1"],
        "composition_l1": result["composition_l1"],
        "max_guided_l1": max(v for c in result["composition_l1"].values() for v in c.values()),
        "train_seconds": result["seconds"],
        "samples_per_second": rates,
        "guided_over_mixture": {
            m: rates[m] / rates["mixture"] for m in ("successors", "action_head")
        },
    }
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
