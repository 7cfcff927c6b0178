"""Figures of molecule samples: chemical-space map, reward pairs, scaffolds, top molecules.

Every function takes several labelled sets (``{label: ...}``, drawn in that order and
colour), writes one PNG and returns its path. Structure figures take
``metrics.MoleculeSet`` (fingerprints and scaffolds are reused); score figures take
tables (``pandas.DataFrame``) and raise ``UserError`` naming a missing or non-numeric
column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rdkit import Chem, rdBase
from rdkit.Chem import Draw
from scipy.stats import gaussian_kde
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .errors import UserError
from .metrics import ACYCLIC, MoleculeSet, scaffold_counts, tanimoto_matrix
from .plots import save_figure

MAP_PER_SET = 500
"""Distinct molecules per set on the chemical-space map (t-SNE is quadratic in them)."""
MAP_MIN_MOLECULES = 5
"""Fewest distinct molecules (all sets together) a chemical-space map is drawn for."""
TSNE_PERPLEXITY = 30.0
"""t-SNE perplexity (scikit-learn's default); lowered to a third of the points for
small maps, as it must stay below their number."""
KDE_POINTS = 2000
"""Points per set that the density contours of ``reward_scatter`` are fitted on (the
scatter itself shows every point)."""
CONTOUR_LEVELS = 5
"""Density contour lines per panel."""
LABEL_CHARS = 40
"""Scaffold SMILES longer than this are cut in bar labels."""
GRID_IMAGE_SIZE = (250, 250)
"""Pixels per molecule in ``top_molecules_grid``."""


def chemical_space_map(
    sets: Mapping[str, MoleculeSet],
    path: str | Path,
    per_set: int = MAP_PER_SET,
    seed: int = 0,
) -> Path:
    """Two panels of the sets' molecules in 2-D: PCA of the fingerprint bits and t-SNE
    of the Tanimoto distances ``1 - s``, each fitted once on the union of the sets, so
    positions compare across sets. Each set shows up to ``per_set`` of its distinct
    valid molecules (a seeded uniform subsample)."""
    rng = np.random.default_rng(seed)
    chosen = {}
    for label, molecules in sets.items():
        rows = np.arange(len(molecules.unique))
        if len(rows) > per_set:
            rows = np.sort(rng.choice(len(rows), size=per_set, replace=False))
        chosen[label] = rows
    total = sum(len(rows) for rows in chosen.values())
    if total < MAP_MIN_MOLECULES:
        raise UserError(
            f"a chemical-space map needs at least {MAP_MIN_MOLECULES} valid molecules; "
            f"the sets have {total}"
        )
    bits = np.vstack([sets[label].fingerprint_matrix(rows) for label, rows in chosen.items()])
    fingerprints = [sets[label].fingerprints[u] for label, rows in chosen.items() for u in rows]
    distance = 1.0 - tanimoto_matrix(fingerprints, fingerprints)
    np.fill_diagonal(distance, 0.0)
    projections = {
        "PCA of fingerprint bits": PCA(n_components=2, random_state=seed).fit_transform(bits),
        "t-SNE of Tanimoto distance": TSNE(
            metric="precomputed",
            init="random",
            perplexity=min(TSNE_PERPLEXITY, (total - 1) / 3),
            random_state=seed,
        ).fit_transform(distance),
    }
    fig = Figure(figsize=(11, 5))
    axes = fig.subplots(1, 2)
    for ax, (title, points) in zip(axes, projections.items(), strict=True):
        start = 0
        for label, rows in chosen.items():
            block = points[start : start + len(rows)]
            ax.scatter(block[:, 0], block[:, 1], s=8, alpha=0.6, label=f"{label} ({len(rows)})")
            start += len(rows)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(fontsize=8, markerscale=2, loc="best")
    return save_figure(fig, path)


def reward_scatter(
    tables: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    path: str | Path,
    thresholds: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Path:
    """One panel per set: its samples' score ``x`` against score ``y`` with density
    contours (Gaussian KDE on up to ``KDE_POINTS`` points), on shared axes; dashed
    lines at the ``thresholds`` of ``x`` and ``y`` if given (the molecule figure of
    the paper: bases, harmonic mean, contrasts side by side)."""
    thresholds = thresholds or {}
    values = {
        label: (numeric_column(table, x, label), numeric_column(table, y, label))
        for label, table in tables.items()
    }
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(3.6 * len(values), 3.6))
    axes = fig.subplots(1, len(values), sharex=True, sharey=True, squeeze=False)
    all_x = np.concatenate([vx for vx, _ in values.values()])
    all_y = np.concatenate([vy for _, vy in values.values()])
    grid_x, grid_y = np.meshgrid(
        np.linspace(all_x.min(), all_x.max(), 80), np.linspace(all_y.min(), all_y.max(), 80)
    )
    for index, (ax, (label, (vx, vy))) in enumerate(zip(axes[0], values.items(), strict=True)):
        color = f"C{index % 10}"
        ax.scatter(vx, vy, s=5, alpha=0.3, color=color, rasterized=True)
        fit = rng.choice(len(vx), size=min(len(vx), KDE_POINTS), replace=False)
        try:
            density = gaussian_kde(np.vstack([vx[fit], vy[fit]]))
        except (np.linalg.LinAlgError, ValueError):
            density = None  # too few or collinear points: no density to draw
        if density is not None:
            z = density(np.vstack([grid_x.ravel(), grid_y.ravel()])).reshape(grid_x.shape)
            ax.contour(grid_x, grid_y, z, levels=CONTOUR_LEVELS, colors="k", linewidths=0.7)
        if x in thresholds:
            ax.axvline(thresholds[x], color="0.4", linestyle="--", linewidth=1)
        if y in thresholds:
            ax.axhline(thresholds[y], color="0.4", linestyle="--", linewidth=1)
        ax.set_title(f"{label} (n={len(vx)})", fontsize=10)
        ax.set_xlabel(x)
    axes[0][0].set_ylabel(y)
    return save_figure(fig, path)


def scaffold_bars(sets: Mapping[str, MoleculeSet], path: str | Path, top_n: int = 10) -> Path:
    """One panel per set: the frequencies (fraction of valid samples) of its ``top_n``
    most common Bemis–Murcko scaffolds, most common on top."""
    fig = Figure(figsize=(7, 0.35 * top_n * len(sets) + 1.0 * len(sets)))
    axes = fig.subplots(len(sets), 1, squeeze=False)
    for index, (ax, (label, molecules)) in enumerate(zip(axes[:, 0], sets.items(), strict=True)):
        top = scaffold_counts(molecules).most_common(top_n)
        names = [_short(scaffold) for scaffold, _ in top][::-1]
        fractions = [count / max(molecules.n_valid, 1) for _, count in top][::-1]
        ax.barh(range(len(top)), fractions, color=f"C{index % 10}")
        ax.set_yticks(range(len(top)), names, fontsize=7)
        ax.set_title(f"{label}: top {len(top)} scaffolds", fontsize=10)
        ax.set_xlabel("fraction of valid samples", fontsize=8)
    return save_figure(fig, path)


def top_molecules_grid(
    tables: Mapping[str, pd.DataFrame],
    scores: Sequence[str],
    path: str | Path,
    per_set: int = 6,
    smiles_column: str = "smiles",
) -> Path:
    """A grid of structures, one row per set: its ``per_set`` best distinct valid
    molecules by the first of ``scores``, each captioned with the set, its rank and its
    ``scores``."""
    if not scores:
        raise ValueError("give at least one score column to rank and caption by")
    mols: list[Chem.Mol] = []
    legends: list[str] = []
    for label, table in tables.items():
        if smiles_column not in table.columns:
            raise UserError(f"set {label!r}: no column {smiles_column!r}")
        values = {score: numeric_column(table, score, label) for score in scores}
        order = np.argsort(-values[scores[0]], kind="stable")
        picked: dict[str, int] = {}
        with rdBase.BlockLogs():
            for row in order:
                mol = Chem.MolFromSmiles(str(table[smiles_column].iloc[row]))
                if mol is not None and mol.GetNumAtoms():
                    picked.setdefault(Chem.MolToSmiles(mol), row)
                if len(picked) == per_set:
                    break
        for rank, (key, row) in enumerate(picked.items(), start=1):
            mols.append(Chem.MolFromSmiles(key))
            caption = " ".join(f"{score}={values[score][row]:.3g}" for score in scores)
            legends.append(f"{label} #{rank}: {caption}")
        mols += [Chem.Mol()] * (per_set - len(picked))
        legends += [""] * (per_set - len(picked))
    image = Draw.MolsToGridImage(
        mols, molsPerRow=per_set, subImgSize=GRID_IMAGE_SIZE, legends=legends, returnPNG=False
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def numeric_column(table: pd.DataFrame, column: str, label: str) -> np.ndarray:
    """Column ``column`` of set ``label`` as float64 ``[rows]``; ``UserError`` naming the
    set and column if it is missing or holds a value that is not a finite number."""
    if column not in table.columns:
        columns = ", ".join(repr(name) for name in table.columns)
        raise UserError(f"set {label!r}: no column {column!r}; the columns are {columns}")
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise UserError(
            f"set {label!r}: column {column!r} must hold finite numbers; row "
            f"{table.index[bad[0]]!r} holds {str(table[column].iloc[bad[0]])!r}"
        )
    return values


def _short(scaffold: str) -> str:
    if scaffold == ACYCLIC:
        return "(acyclic)"
    return scaffold if len(scaffold) <= LABEL_CHARS else scaffold[: LABEL_CHARS - 1] + "…"
