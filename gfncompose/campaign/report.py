"""The campaign report: ``summary.{csv,json}`` over every sample set, and the figures.

The coverage metrics and figures are those of ``gfncompose report`` (written to
``OUTPUT/report/``), plus the paper's density figure on the plane of two rewards
(``report/density_X_Y.png``, ``[report] density``); the summary adds, per set, its
composition, reward quantiles and sampling rate, and the training cost of each model
(the monolithic baseline's beside the bases' and the classifier's).

Did guidance hit its target? Each composition's row also holds what its samples should
show: the base samples pooled (equal counts per base: a stratified sample of the
mixture of all bases; unequal counts are weighted by ``1/n_i``), reweighted to the
composition by the terminal classifier's posteriors (``metrics.reweighting``), give
``reweighted_mean_<reward>`` and ``reweighted_<cell>`` beside the guided samples' own
``mean_<reward>`` and ``<cell>``, and ``reweighted_ess``, the effective number of base
samples behind them. The base sets are drawn from the bases themselves, so the
estimate depends on the terminal head only, not on the guidance being checked.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..checkpoint import atomic_write
from ..chem_plots import reward_density
from ..coverage_report import file_name, plain, write_coverage_report
from ..metrics import (
    composition_log_weights,
    reweighted_estimates,
    stratified_log_weights,
)
from ..metrics.reweighting import PREFIX
from .config import BASELINE, Campaign
from .layout import CampaignLayout, read_json, write_json

log = logging.getLogger("gfncompose.campaign")

QUANTILES = (0.1, 0.5, 0.9)
"""Reward quantiles of each set in the summary."""


class CampaignRunner(Protocol):
    """What the report reads of a campaign run (:class:`~gfncompose.campaign.CampaignRunner`)."""

    campaign: Campaign
    layout: CampaignLayout
    progress: bool

    def sample_sets(self) -> dict[str, tuple[str, int]]: ...


def write_report(runner: CampaignRunner) -> dict[str, Any]:
    """Report every sample set written so far; returns the summary (as ``summary.json``)."""
    campaign = runner.campaign
    sets = {
        name: label
        for name, (label, _) in runner.sample_sets().items()
        if runner.layout.samples_csv(name).is_file()
    }
    tables = {
        name: pd.read_csv(runner.layout.samples_csv(name), keep_default_na=False) for name in sets
    }
    inputs = {
        name: (table["smiles"], {r: table[r].to_numpy(np.float64) for r in campaign.rewards})
        for name, table in tables.items()
    }
    report, _ = write_coverage_report(
        inputs,
        runner.layout.report_dir,
        campaign.thresholds,
        seed=campaign.seed,
        progress=runner.progress,
        mode_thresholds=campaign.report.mode_thresholds,
        emd_radius=campaign.report.emd_radius,
    )
    valid_tables = {name: table[table["valid"]] for name, table in tables.items()}
    if campaign.report.density is not None:
        x, y = campaign.report.density
        path = runner.layout.report_dir / f"density_{file_name(x)}_{file_name(y)}.png"
        reward_density(valid_tables, x, y, path, campaign.thresholds, seed=campaign.seed)
    estimates = _reweighted(campaign, tables)
    rows = []
    for row in report["sets"]:
        name = row["set"]
        valid = valid_tables[name]
        meta = read_json(runner.layout.samples_meta(name)) or {}
        quantiles = {
            f"q{round(q * 100)}_{reward}": float(valid[reward].quantile(q))
            for reward in campaign.rewards
            for q in QUANTILES
        }
        metrics = _beside_estimates({k: v for k, v in row.items() if k != "set"}, estimates, name)
        rows.append(
            {
                "set": name,
                "composition": sets[name],
                "molecules_per_s": meta.get("molecules_per_s"),
                **metrics,
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
    write_json(runner.layout.summary_json, summary)
    # the rows of compositions have every column of the others, and estimates beside them
    frame = pd.DataFrame(rows, columns=list(max(rows, key=len)) if rows else None)
    atomic_write(runner.layout.summary_csv, lambda h: frame.to_csv(h, index=False))
    log.info("report: %s, figures in %s", runner.layout.summary_json, runner.layout.report_dir)
    return summary


def _training_costs(runner: CampaignRunner) -> dict[str, Any]:
    names = list(runner.campaign.bases)
    if runner.campaign.baseline is not None:
        names.append(BASELINE)
    costs = {}
    for name in names:
        result = read_json(runner.layout.result(runner.layout.base_dir(name)))
        if result is not None:
            costs[name] = {k: result[k] for k in ("steps", "seconds", "trajectories_per_s")}
    result = read_json(runner.layout.result(runner.layout.classifier_dir()))
    if result is not None:
        costs["classifier"] = {k: result[k] for k in ("steps", "seconds")}
    return costs


def _reweighted(campaign: Campaign, tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """``{composition set: reweighted_estimates}`` from the pooled samples of every base
    (none until every base is sampled)."""
    bases = list(campaign.bases)
    if not all(name in tables for name in bases):
        return {}
    pooled = pd.concat([tables[name] for name in bases], ignore_index=True)
    valid = pooled["valid"].to_numpy(dtype=bool)
    posterior = pooled[[f"posterior_{name}" for name in bases]].to_numpy(np.float64)[valid]
    design = stratified_log_weights([len(tables[name]) for name in bases])[valid]
    scores = {reward: pooled[reward].to_numpy(np.float64)[valid] for reward in campaign.rewards}
    return {
        name: reweighted_estimates(
            scores,
            campaign.thresholds,
            design + composition_log_weights(posterior, bases, spec.composition),
        )
        for name, spec in campaign.compositions.items()
        if name in tables
    }


def _beside_estimates(
    metrics: dict[str, Any], estimates: dict[str, dict], name: str
) -> dict[str, Any]:
    """``metrics`` with each of set ``name``'s estimates right after the value it
    estimates, and the effective sample size last."""
    estimated = estimates.get(name, {})
    out = {}
    for column, value in metrics.items():
        out[column] = value
        if PREFIX + column in estimated:
            out[PREFIX + column] = estimated[PREFIX + column]
    return {**out, **estimated}
