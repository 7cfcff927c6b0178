"""Guided sampling speed on molecules: a 2-base harmonic mean against its baselines.

Prints one JSON object. Trains the bases and the classifier of a campaign (default:
the built-in one, scaled by ``--budget``; ``--output`` keeps them for the next run),
then, per batch size, measures molecules/s of

- ``single_base``: the first base alone;
- ``mixture_ancestral``: each molecule from one base (half each), the cheapest way
  to sample the plain mixture;
- ``mixture_guided``: the mixture through the classifier, ``Σ_i G(i | s) P_F^i``
  (what guidance steers: every base and the classifier run at every step);
- ``action_head`` and ``successors``: ``harmonic_mean(A, B)`` in each guidance mode,

with ratios of each guided rate to both mixtures, and the rejection sampler's
proposals scored and dense fallbacks per decision. Both modes sample the same
composition, so the molecules of their last timed run at the largest batch are also
scored (``agreement``): mean of each of the two rewards ± its standard error, and the
fraction above both thresholds of the campaign's report, per mode. Every policy samples once
untimed first (environment caches), then the policies take turns ``--repeats``
times and the median rate is reported, so that a load change on a shared machine
hits all of them alike.

    python benchmarks/guided_sampling.py [CAMPAIGN.toml | sculpting-seh] [--budget 0.1]
        [--bases qed,sa] [--batch 64,256,1024] [--repeats 3] [--device cuda] [--output DIR]

``sculpting-seh`` is the paper's experiment on the literature's fragment space (72 fragments,
at most 9 per molecule), with the published files of ``../shared/data`` (skipped where they
are absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from sculpting_seh import files_of, skip_reason

from gfncompose import GuidedPolicy, harmonic_mean
from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.composition import Composition
from gfncompose.guided import ProposalStats
from gfncompose.sampler import sample_terminal


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sample_ancestral(bases: list, n: int) -> list:
    """``n`` molecules of the uniform mixture of ``bases``, each from one base."""
    env, parts = bases[0].env, []
    for k, base in enumerate(bases):
        share = n // len(bases) + (k < n % len(bases))
        parts.append(sample_terminal(base, share, batch_size=share))
    return env.cat(parts)


def measure(samplers: dict, n: int, repeats: int, device: torch.device):
    """Median molecules/s of each ``sampler(n)``, the samplers taking turns, and each
    sampler's molecules of its last run."""
    for sample in samplers.values():
        sample(n)
    times: dict[str, list[float]] = {name: [] for name in samplers}
    last = {}
    for _ in range(repeats):
        for name, sample in samplers.items():
            synchronize(device)
            start = time.perf_counter()
            last[name] = sample(n)
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: n / statistics.median(t) for name, t in times.items()}, last


def agreement(runner: CampaignRunner, names: tuple[str, ...], molecules) -> dict:
    """Mean ± standard error of each reward and the fraction above both thresholds."""
    mols = runner.env.to_mols(molecules)
    scores = {n: runner.rewards[n](mols).double() for n in names}
    both = torch.ones(len(mols), dtype=torch.bool)
    for n in names:
        both &= scores[n] >= runner.campaign.thresholds[n]
    out = {
        f"{n}_mean": [round(float(v.mean()), 4), round(float(v.std() / len(v) ** 0.5), 4)]
        for n, v in scores.items()
    }
    fraction = float(both.double().mean())
    out["both_high"] = [
        round(fraction, 4),
        round((fraction * (1 - fraction) / len(mols)) ** 0.5, 4),
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("campaign", nargs="?", type=Path)
    parser.add_argument("--budget", type=float, default=0.1)
    parser.add_argument("--bases", default="qed,sa", help="the two bases, comma-separated")
    parser.add_argument("--batch", default="64,256,1024", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", type=Path, help="campaign folder (default: temporary)")
    args = parser.parse_args()
    names = tuple(args.bases.split(","))
    kept = args.output.resolve() if args.output else None  # before sculpting-seh's folder change
    if reason := skip_reason(args.campaign):
        print(json.dumps({"skipped": reason}))
        return

    with tempfile.TemporaryDirectory() as scratch, files_of(args.campaign):
        output = kept or Path(scratch)
        campaign = load_campaign(args.campaign, args.budget, output, args.device)
        runner = CampaignRunner(campaign, progress=False)
        if len(names) != 2 or not set(names) <= set(campaign.bases):
            parser.error(f"--bases: two of the campaign's bases ({', '.join(campaign.bases)})")
        start = time.perf_counter()
        bases = runner.train_bases()
        classifier = runner.train_classifier()
        train_seconds = time.perf_counter() - start

    device = runner.device
    pair = {n: bases[n] for n in names}
    mixture = Composition(names, (), (), "mixture")
    guided = {
        mode: GuidedPolicy(pair, classifier, harmonic_mean(*names), mode)
        for mode in ("action_head", "successors")
    }
    mixture_guided = GuidedPolicy(pair, classifier, mixture)
    samplers = {
        "single_base": lambda n: sample_terminal(pair[names[0]], n, batch_size=n),
        "mixture_ancestral": lambda n: sample_ancestral(list(pair.values()), n),
        "mixture_guided": lambda n: sample_terminal(mixture_guided, n, batch_size=n),
        **{
            mode: (lambda n, p=policy: sample_terminal(p, n, batch_size=n))
            for mode, policy in guided.items()
        },
    }
    torch.manual_seed(campaign.seed)
    results, samples = {}, {}
    for batch in (int(b) for b in args.batch.split(",")):
        for policy in guided.values():
            policy.stats = ProposalStats()
        rates, samples = measure(samplers, batch, args.repeats, device)
        results[str(batch)] = {
            "molecules_per_s": {k: round(v, 2) for k, v in rates.items()},
            "ratio": {
                f"{mode}_over_{base}": round(rates[mode] / rates[base], 3)
                for mode in guided
                for base in ("mixture_ancestral", "mixture_guided")
            },
            "rejection": {
                mode: {
                    "proposals_per_decision": round(p.stats.proposals / p.stats.decisions, 2),
                    "dense_fraction": round(p.stats.dense / p.stats.decisions, 4),
                }
                for mode, p in guided.items()
            },
        }

    print(
        json.dumps(
            {
                "benchmark": "guided_sampling",
                "date": date.today().isoformat(),
                "campaign": str(args.campaign or "built-in"),
                "budget": args.budget,
                "composition": harmonic_mean(*names).label,
                "environment": dict(campaign.environment),
                "device": str(device),
                "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "load_average": os.getloadavg()[0],
                "train_seconds": round(train_seconds, 1),
                "batches": results,
                "agreement": {
                    "thresholds": {n: runner.campaign.thresholds[n] for n in names},
                    "molecules": len(samples["action_head"]),
                    **{mode: agreement(runner, names, samples[mode]) for mode in guided},
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
