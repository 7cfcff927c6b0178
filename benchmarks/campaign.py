"""Cost of a campaign, stage by stage; prints one JSON object.

Runs the campaign (default: the built-in one; ``sculpting-seh``: the paper's experiment on
the literature's fragment space, with the published files of ``../shared/data``) in a fresh
output folder, timing each stage, then times sampling again for every composition in *both*
guidance modes and for the plain mixture of its bases, in the same process:

    python benchmarks/campaign.py [CAMPAIGN.toml | sculpting-seh] [--budget 0.25]
        [--device cuda] [--samples 256] [--processes K] [--set-size N]

``--set-size N`` samples ``N`` molecules per set (the file's counts scaled by ``--budget``
otherwise); a set is drawn in chunks of ``[sampling] batch_size``, so only sets of several
chunks can be spread over processes.

``--processes K`` trains every base and the classifier with ``sampling_processes = K`` and,
after the sampling stage has run in this process, runs it again from scratch with
``[sampling] processes = K`` (``samples_in_processes``): the ratio of the two and whether
they wrote the same sets are reported.

Each stage's seconds and peak are also written to stderr as one JSON line when it ends (the
guided rates after the stages can take long on the literature space). Reported: wall
seconds per stage; the peak resident memory of each stage (this process and
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
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from sculpting_seh import files_of, skip_reason, with_sampling_processes, with_set_size

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
    :func:`_tree_rss_mb` seen during it; both also go to stderr as the block ends."""
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
        line = {"stage": stage, "seconds": round(seconds[stage], 2), "peak_rss_mb": peaks[stage]}
        print(json.dumps(line), file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("campaign", nargs="?", type=Path)
    parser.add_argument("--budget", type=float, default=0.25)
    parser.add_argument("--device", default=None)
    parser.add_argument("--samples", type=int, default=256, help="molecules per rate measured")
    parser.add_argument("--processes", type=int, default=0, help="sampling processes (above)")
    parser.add_argument("--set-size", type=int, help="molecules per sample set (default: file's)")
    args = parser.parse_args()
    if reason := skip_reason(args.campaign):
        print(json.dumps({"skipped": reason}))
        return

    with tempfile.TemporaryDirectory() as folder, files_of(args.campaign):
        campaign = load_campaign(args.campaign, args.budget, Path(folder), args.device)
        if args.set_size:
            campaign = with_set_size(campaign, args.set_size)
        if args.processes:
            campaign = with_sampling_processes(campaign, args.processes)
        runner = CampaignRunner(replace(campaign, sampling_processes=0), progress=False)
        stages, peaks = {}, {}
        with measured(stages, peaks, "bases"):
            bases = runner.train_bases()
        if campaign.baseline is not None:
            with measured(stages, peaks, "monolithic_baseline"):
                runner.train_base(BASELINE)
        with measured(stages, peaks, "classifier"):
            classifier = runner.train_classifier()
        with measured(stages, peaks, "samples"):
            sets = {name: runner.sample(name) for name in runner.sample_sets()}
        in_processes = None
        if args.processes:
            tables = {name: pd.read_csv(path, keep_default_na=False) for name, path in sets.items()}
            shutil.rmtree(runner.layout.samples_csv(next(iter(sets))).parent)
            again = CampaignRunner(campaign, progress=False)
            with measured(stages, peaks, "samples_in_processes"):
                sets = {name: again.sample(name) for name in sets}
            in_processes = {
                "processes": args.processes,
                "speedup": round(stages["samples"] / stages["samples_in_processes"], 2),
                "same_sets": all(
                    pd.read_csv(path, keep_default_na=False).equals(tables[name])
                    for name, path in sets.items()
                ),
            }
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
                "sampling_processes": args.processes,
                "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
                "sampling_stage_in_processes": in_processes,
                "stage_peak_rss_mb": peaks,
                "base_training_trajectories_per_s": training,
                "guided": guided,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
