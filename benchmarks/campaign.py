"""Cost of a campaign, stage by stage; prints one JSON object.

Runs the campaign (default: the built-in one) in a fresh output folder, timing each
stage, then times sampling again for every composition in *both* guidance modes and
for the plain mixture of its bases, in the same process:

    python benchmarks/campaign.py [CAMPAIGN.toml] [--budget 0.25] [--device cuda]
        [--samples 256]

Reported: wall seconds per stage; the peak resident memory of each stage (this process and
every process it started, e.g. reward pools, summed, so pages the forked pool workers share
with it count once per process: an upper bound; read from ``/proc`` every 0.2 s);
trajectories/s of base training (per base); per
composition, the molecules/s of its bases' plain mixture and of guidance in each mode,
measured back to back at batch ``--samples``, with each guided rate as a ratio of the
mixture's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign.config import BASELINE
from gfncompose.campaign.report import write_report
from gfncompose.grid_experiment import sampling_throughput


def _tree_rss_mb(root: int) -> float:
    """Resident memory of process ``root`` and all its descendants, summed (MB)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1]: the parent's pid
        rss[pid] = int(fields[21])  # resident pages
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def measured(seconds: dict[str, float], peaks: dict[str, float], stage: str) -> Iterator[None]:
    """Record in ``seconds[stage]`` the block's wall time and in ``peaks[stage]`` the largest
    :func:`_tree_rss_mb` seen during it."""
    done = threading.Event()
    start = time.perf_counter()
    peak = [_tree_rss_mb(os.getpid())]

    def watch() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_rss_mb(os.getpid()))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        seconds[stage] = time.perf_counter() - start
        done.set()
        watcher.join()
        peaks[stage] = round(max(peak[0], _tree_rss_mb(os.getpid())))


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
        stages, peaks = {}, {}
        with measured(stages, peaks, "bases"):
            bases = runner.train_bases()
        if campaign.baseline is not None:
            with measured(stages, peaks, "monolithic_baseline"):
                runner.train_base(BASELINE)
        with measured(stages, peaks, "classifier"):
            classifier = runner.train_classifier()
        with measured(stages, peaks, "samples"):
            for name in runner.sample_sets():
                runner.sample(name)
        with measured(stages, peaks, "report"):
            write_report(runner)

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
                "stage_peak_rss_mb": peaks,
                "base_training_trajectories_per_s": training,
                "guided": guided,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
