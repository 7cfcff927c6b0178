"""Cost of a campaign, stage by stage; prints one JSON object.

Runs the campaign (default: the built-in one) in a fresh output folder, timing each
stage, then times sampling again for every composition in *both* guidance modes and
for the plain mixture of its bases, in the same process:

    python benchmarks/campaign.py [CAMPAIGN.toml] [--budget 0.25] [--device cuda]
        [--samples 256]

Reported: wall seconds per stage; trajectories/s of base training (per base); per
composition, the molecules/s of its bases' plain mixture and of guidance in each mode,
measured back to back at batch ``--samples``, with each guided rate as a ratio of the
mixture's.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign.config import BASELINE
from gfncompose.campaign.report import write_report
from gfncompose.grid_experiment import sampling_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("campaign", nargs="?", type=Path)
    parser.add_argument("--budget", type=float, default=0.25)
    parser.add_argument("--device", default=None)
    parser.add_argument("--samples", type=int, default=256, help="molecules per rate measured")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        campaign = load_campaign(args.campaign, args.budget, Path(folder), args.device)
        runner = CampaignRunner(campaign, progress=False)
        stages = {}
        start = time.perf_counter()
        bases = runner.train_bases()
        stages["bases"] = time.perf_counter() - start
        if campaign.baseline is not None:
            start = time.perf_counter()
            runner.train_base(BASELINE)
            stages["monolithic_baseline"] = time.perf_counter() - start
        start = time.perf_counter()
        classifier = runner.train_classifier()
        stages["classifier"] = time.perf_counter() - start
        start = time.perf_counter()
        for name in runner.sample_sets():
            runner.sample(name)
        stages["samples"] = time.perf_counter() - start
        start = time.perf_counter()
        write_report(runner)
        stages["report"] = time.perf_counter() - start

        training = {}
        for name in [*campaign.bases, *([BASELINE] if campaign.baseline else [])]:
            result = json.loads(runner.layout.result(runner.layout.base_dir(name)).read_text())
            training[name] = result["trajectories_per_s"]

        torch.manual_seed(campaign.seed)
        guided = {}
        for name, spec in campaign.compositions.items():
            if not spec.composition.y:
                continue
            rates = sampling_throughput(bases, classifier, spec.composition, args.samples)
            guided[name] = {
                "mixture_molecules_per_s": round(rates["mixture"], 2),
                **{
                    mode: {
                        "molecules_per_s": round(rates[mode], 2),
                        "ratio_to_mixture": round(rates[mode] / rates["mixture"], 3),
                    }
                    for mode in ("action_head", "successors")
                },
            }

    print(
        json.dumps(
            {
                "campaign": str(args.campaign or "built-in"),
                "budget": args.budget,
                "device": str(runner.device),
                "machine": platform.processor() or platform.machine(),
                "torch_threads": torch.get_num_threads(),
                "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
                "base_training_trajectories_per_s": training,
                "guided": guided,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
