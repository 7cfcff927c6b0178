"""The campaign report: ``summary.{csv,json}`` over every sample set, and the figures.

The coverage metrics and figures are those of ``gfncompose report`` (written to
``OUTPUT/report/``); the summary adds, per set, its composition, reward quantiles and
sampling rate, and the training cost of each model (the monolithic baseline's beside
the bases' and the classifier's).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..checkpoint import atomic_write
from ..coverage_report import plain, write_coverage_report
from .runner import read_json, write_json

if TYPE_CHECKING:
    from .runner import CampaignRunner

log = logging.getLogger("gfncompose.campaign")

QUANTILES = (0.1, 0.5, 0.9)
"""Reward quantiles of each set in the summary."""


def write_report(runner: CampaignRunner) -> dict[str, Any]:
    """Report every sample set written so far; returns the summary (as ``summary.json``)."""
    campaign = runner.campaign
    sets = {
        name: label
        for name, (label, _) in runner.sample_sets().items()
        if runner.sample_path(name).is_file()
    }
    tables = {name: pd.read_csv(runner.sample_path(name), keep_default_na=False) for name in sets}
    inputs = {
        name: (table["smiles"], {r: table[r].to_numpy(np.float64) for r in campaign.rewards})
        for name, table in tables.items()
    }
    report, _ = write_coverage_report(
        inputs,
        campaign.output / "report",
        campaign.thresholds,
        seed=campaign.seed,
        progress=runner.progress,
    )
    rows = []
    for row in report["sets"]:
        name = row["set"]
        valid = tables[name][tables[name]["valid"]]
        meta = read_json(runner.sample_path(name).with_suffix(".json")) or {}
        quantiles = {
            f"q{round(q * 100)}_{reward}": float(valid[reward].quantile(q))
            for reward in campaign.rewards
            for q in QUANTILES
        }
        rows.append(
            {
                "set": name,
                "composition": sets[name],
                "molecules_per_s": meta.get("molecules_per_s"),
                **{k: v for k, v in row.items() if k != "set"},
                **quantiles,
            }
        )
    summary = plain(
        {
            "thresholds": campaign.thresholds,
            "sets": {row["set"]: row for row in rows},
            "training": _training_costs(runner),
        }
    )
    write_json(campaign.output / "summary.json", summary)
    frame = pd.DataFrame(rows)
    atomic_write(campaign.output / "summary.csv", lambda h: frame.to_csv(h, index=False))
    log.info(
        "report: %s, figures in %s", campaign.output / "summary.json", campaign.output / "report"
    )
    return summary


def _training_costs(runner: CampaignRunner) -> dict[str, Any]:
    names = list(runner.campaign.bases)
    if runner.campaign.baseline is not None:
        names.append("monolithic")
    costs = {}
    for name in names:
        result = read_json(runner.base_dir(name) / "result.json")
        if result is not None:
            costs[name] = {k: result[k] for k in ("steps", "seconds", "trajectories_per_s")}
    result = read_json(runner.classifier_dir() / "result.json")
    if result is not None:
        costs["classifier"] = {k: result[k] for k in ("steps", "seconds")}
    return costs
