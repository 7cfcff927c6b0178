"""The paper's molecule experiment (sEH × SA × QED on the literature's fragment space); one JSON.

Runs the built-in campaign ``sculpting-seh`` (``data/sculpting_seh.toml``: bases on the
published sEH proxy, SA and QED at β = 32, 72 fragments, at most 9; harmonic means,
contrasts, three-way compositions, the mixture and the monolithic baseline) with the
published files of ``../shared/data``, at a stated budget, and prints per sample set the
fraction of samples in each of the 8 high/low cells (SEH ≥ 0.5, SA ≥ 0.6, QED ≥ 0.25),
the reweighted estimate of the same cells from the bases' samples (what the terminal
classifier asks for) with its effective sample size, modes of SEH (reward ≥ 7.5/8,
Tanimoto < 0.7), top-100 mean and diversity, uniqueness and validity; and the wall time
of every stage. The published bars: classifier guidance ~40% of SEH ⊗ SA ⊗ QED samples
with all three high (Garipov et al. 2023), a 2026 classifier-free method 65–66%.

    python benchmarks/sculpting_seh.py [--budget 0.02] [--samples 1000] [--output DIR]
        [--device cuda] [--sampling-processes K]

``--budget`` scales every training step count (1: the paper's 20,000 steps of 64
trajectories per base); ``--samples`` sets the molecules per set (the paper: 5,000);
``--sampling-processes`` sets ``sampling_processes`` of every base and of the classifier
and the processes of the sampling stage (the campaign file's own values otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import torch

from gfncompose.campaign import Campaign, CampaignRunner, load_campaign
from gfncompose.campaign.config import BASELINE
from gfncompose.campaign.report import write_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {
    "blocks_PDB_105.json": "blocks_PDB_105.json",
    "best_params.pkl.gz": "seh_proxy_bengio2021.pkl.gz",
}
"""The file names the built-in campaign reads -> their names in ``../shared/data``."""
ALL_HIGH = "seh=high,sa=high,qed=high"


def missing_published_files() -> str | None:
    """Why the built-in campaign cannot run here (its files absent from ``../shared/data``),
    or ``None``."""
    missing = [name for name in FILES.values() if not (SHARED / name).is_file()]
    return f"{', '.join(missing)} absent from {SHARED}" if missing else None


@contextlib.contextmanager
def published_files() -> Iterator[Path]:
    """A temporary working folder holding the published files under the names the built-in
    campaign reads (links to ``../shared/data``), so that ``load_campaign("sculpting-seh")``
    works in the block."""
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        for name, source in FILES.items():
            Path(name).symlink_to(SHARED / source)
        yield Path(folder)


def is_literature(campaign: Path | None) -> bool:
    """Whether a benchmark's campaign argument names the built-in paper campaign."""
    return str(campaign) == "sculpting-seh"


def skip_reason(campaign: Path | None) -> str | None:
    """Why ``campaign`` cannot run here (:func:`missing_published_files` for the paper
    campaign), or ``None``."""
    return missing_published_files() if is_literature(campaign) else None


def files_of(campaign: Path | None) -> contextlib.AbstractContextManager:
    """Where ``load_campaign(campaign)`` finds its files: :func:`published_files` for the
    paper campaign, the current folder otherwise."""
    return published_files() if is_literature(campaign) else contextlib.nullcontext()


def with_set_size(campaign: Campaign, count: int) -> Campaign:
    """``campaign`` with ``count`` molecules in every sample set."""
    sets = {name: replace(spec, samples=count) for name, spec in campaign.compositions.items()}
    return replace(campaign, base_samples=count, compositions=sets)


def with_sampling_processes(campaign: Campaign, count: int) -> Campaign:
    """``campaign`` with ``sampling_processes = count`` for every base and the classifier, and
    ``[sampling] processes = count``."""

    def spec(model):
        return replace(model, train=replace(model.train, sampling_processes=count))

    return replace(
        campaign,
        bases={name: spec(base) for name, base in campaign.bases.items()},
        baseline=spec(campaign.baseline) if campaign.baseline is not None else None,
        classifier=spec(campaign.classifier),
        sampling_processes=count,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.02)
    parser.add_argument("--samples", type=int, default=1000, help="molecules per sample set")
    parser.add_argument("--output", type=Path, help="keep the campaign folder here")
    parser.add_argument("--device", default=None)
    parser.add_argument("--sampling-processes", type=int, help="of every base and the classifier")
    args = parser.parse_args()
    if missing_published_files():
        print(json.dumps({"skipped": missing_published_files()}))
        return
    with published_files() as folder:
        output = (args.output or folder / "run").resolve()
        campaign = load_campaign("sculpting-seh", args.budget, output, args.device)
        campaign = with_set_size(campaign, args.samples)
        if args.sampling_processes is not None:
            campaign = with_sampling_processes(campaign, args.sampling_processes)
        runner = CampaignRunner(campaign, progress=False)
        stages = {}
        start = time.perf_counter()
        runner.train_bases()
        runner.train_base(BASELINE)
        stages["bases"] = time.perf_counter() - start
        start = time.perf_counter()
        runner.train_classifier()
        stages["classifier"] = time.perf_counter() - start
        start = time.perf_counter()
        for name in runner.sample_sets():
            runner.sample(name)
        stages["sampling"] = time.perf_counter() - start
        start = time.perf_counter()
        summary = write_report(runner)
        stages["report"] = time.perf_counter() - start
    keep = ("validity", "uniqueness", "internal_diversity", "modes_seh", "top100_mean_seh",
            "top100_diversity_seh", "mean_seh", "mean_sa", "mean_qed",
            "reweighted_ess")  # fmt: skip
    sets = {}
    for name, row in summary["sets"].items():
        cells = {k: v for k, v in row.items() if "=high" in k or "=low" in k}
        sets[name] = {"composition": row["composition"], **cells}
        sets[name].update({k: row[k] for k in keep if k in row})
    print(
        json.dumps(
            {
                "budget": args.budget,
                "samples_per_set": args.samples,
                "base_steps": campaign.bases["seh"].train.steps,
                "base_batch": campaign.bases["seh"].train.batch_size,
                "classifier_steps": campaign.classifier.train.steps,
                "sampling_processes": {
                    "bases": campaign.bases["seh"].train.sampling_processes,
                    "classifier": campaign.classifier.train.sampling_processes,
                    "sampling": campaign.sampling_processes,
                },
                "device": campaign.device,
                "machine": platform.processor() or platform.machine(),
                "cpus": len(os.sched_getaffinity(0)),
                "torch_threads": torch.get_num_threads(),
                "stage_seconds": {k: round(v, 1) for k, v in stages.items()},
                "training": summary["training"],
                "all_high": {name: s.get(ALL_HIGH) for name, s in sets.items()},
                "published_all_high": {
                    "seh_sa_qed, classifier guidance (Garipov et al. 2023)": 0.40,
                    "seh_sa_qed, classifier-free (2026)": "0.65-0.66",
                },
                "sets": sets,
                "output": str(output) if args.output else None,
            },
            indent=2,
            default=float,
        )
    )


if __name__ == "__main__":
    main()
