"""Coverage report of labelled molecule sets: metrics, earth mover's distances and figures.

What ``gfncompose report`` writes for any SMILES tables, and what a campaign's report
writes for its sample sets.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import chem_plots
from .metrics import (
    DIVERSITY_SAMPLE_SIZE,
    EMD_SAMPLE_SIZE,
    MAX_TANIMOTO_DISTANCE,
    MODE_SIMILARITY,
    N_BITS,
    RADIUS,
    TOP_K,
    MoleculeSet,
    earth_movers_distance,
    summarize,
)

SMILES = "smiles"
"""Name of the SMILES column of every table (any case), as ``gfncompose sample`` writes."""

Inputs = Mapping[str, tuple[pd.Series, dict[str, np.ndarray]]]
"""``{label: (smiles [N], {score: values [N]})}``: the sets of a report, in drawing order."""


def write_coverage_report(
    inputs: Inputs,
    out: Path,
    thresholds: Mapping[str, float],
    reference: MoleculeSet | None = None,
    reference_name: str | None = None,
    top_k: int = TOP_K,
    seed: int = 0,
    progress: bool = True,
    mode_thresholds: Mapping[str, float] | None = None,
    emd_radius: int = RADIUS,
) -> tuple[dict[str, Any], list[Path]]:
    """Write ``metrics.csv``, ``metrics.json``, ``emd.csv`` and the figures to ``out``.

    Every set's row of :func:`~gfncompose.metrics.summarize` (novelty against
    ``reference`` when given, modes at ``mode_thresholds``), the pairwise earth mover's
    distances on Morgan fingerprints of ``emd_radius``, a chemical-space map, scaffold
    bars, top molecules and a reward scatter per pair of scores.
    Returns the report (as ``metrics.json`` holds it) and the files written.
    """
    out.mkdir(parents=True, exist_ok=True)
    columns = list(next(iter(inputs.values()))[1]) if inputs else []
    sets, rows = {}, []
    for label, (smiles, scores) in tqdm(
        inputs.items(), desc="metrics", unit="set", disable=not progress
    ):
        sets[label] = MoleculeSet(smiles, progress=progress)
        row = summarize(sets[label], scores, thresholds, reference, top_k, seed, mode_thresholds)
        rows.append({"set": label, **row})
    emd = {label: {other: 0.0 for other in sets} for label in sets}
    pairs = list(itertools.combinations(sets, 2))
    for a, b in tqdm(pairs, desc="earth mover's distances", unit="pair", disable=not progress):
        emd[a][b] = emd[b][a] = earth_movers_distance(
            sets[a], sets[b], seed=seed, radius=emd_radius
        )

    written = [out / "metrics.csv", out / "metrics.json", out / "emd.csv"]
    pd.DataFrame(rows).to_csv(written[0], index=False)
    settings = {
        "fingerprint": f"Morgan radius {RADIUS}, {N_BITS} bits",
        "diversity_sample_size": DIVERSITY_SAMPLE_SIZE,
        "emd_fingerprint": f"Morgan radius {emd_radius}, {N_BITS} bits",
        "emd_sample_size": EMD_SAMPLE_SIZE,
        "emd_ground_distance": f"min(1/s - 1, {MAX_TANIMOTO_DISTANCE})",
        "mode_fingerprint": "RDKit path fingerprint (Chem.RDKFingerprint)",
        "mode_similarity": MODE_SIMILARITY,
        "mode_thresholds": {**thresholds, **(mode_thresholds or {})},
        "top_k": top_k,
        "seed": seed,
        "scores": columns,
        "thresholds": dict(thresholds),
        "reference": reference_name,
    }
    report = plain({"settings": settings, "sets": rows, "emd": emd})
    written[1].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    pd.DataFrame(emd).rename_axis("set").to_csv(written[2])

    scored = {
        label: pd.DataFrame({SMILES: smiles, **scores})
        for label, (smiles, scores) in inputs.items()
    }
    written += _write_figures(out, sets, scored, columns, dict(thresholds), seed, progress)
    return report, written


def plain(value):
    """A JSON value: NaN becomes null, NumPy scalars Python numbers."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def file_name(name: str) -> str:
    """``name`` (a reward label) as a safe part of a file name."""
    return re.sub(r"[^\w.-]+", "_", name)


def _write_figures(
    out: Path,
    sets: dict[str, MoleculeSet],
    scored: dict[str, pd.DataFrame],
    columns: list[str],
    thresholds: dict[str, float],
    seed: int,
    progress: bool,
) -> list[Path]:
    written = []
    with tqdm(desc="figures", unit="figure", disable=not progress) as bar:
        if (
            sum(len(molecules.unique) for molecules in sets.values())
            >= chem_plots.MAP_MIN_MOLECULES
        ):
            written.append(
                chem_plots.chemical_space_map(sets, out / "chemical_space.png", seed=seed)
            )
            bar.update()
        written.append(chem_plots.scaffold_bars(sets, out / "scaffolds.png"))
        bar.update()
        if columns:
            written.append(
                chem_plots.top_molecules_grid(scored, columns, out / "top_molecules.png")
            )
            bar.update()
        for x, y in itertools.combinations(columns, 2):
            path = out / f"scatter_{file_name(x)}_{file_name(y)}.png"
            written.append(chem_plots.reward_scatter(scored, x, y, path, thresholds, seed=seed))
            bar.update()
    return written
