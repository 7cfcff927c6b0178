"""Figures of molecule samples: chemical-space map, reward pairs and their densities,
scaffolds, top molecules.

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
from matplotlib.colors import LinearSegmentedColormap
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
"""Points per set that the density contours of ``reward_scatter`` and ``reward_density``
are fitted on (a scatter still shows every point)."""
KDE_GRID = 80
"""Grid points per axis on which a density is evaluated for its contours."""
KDE_MARGIN = 0.1
"""Fraction of the points' span added to the grid on each side, so that density
contours close inside the panel instead of being cut at the extreme points."""
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
    contour lines (``_density``), on shared axes; dashed lines at the ``thresholds`` of
    ``x`` and ``y`` if given."""
    values = _score_pairs(tables, x, y)
    grid = _grid(values)
    rng = np.random.default_rng(seed)
    fig, axes = _panels(values, x, y, thresholds or {})
    for index, (ax, (vx, vy)) in enumerate(zip(axes, values.values(), strict=True)):
        ax.scatter(vx, vy, s=5, alpha=0.3, color=f"C{index % 10}", rasterized=True)
        density = _density(vx, vy, grid, rng)
        if density is not None:
            ax.contour(*grid, density, levels=CONTOUR_LEVELS, colors="k", linewidths=0.7)
    return save_figure(fig, path)


def reward_density(
    tables: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    path: str | Path,
    thresholds: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Path:
    """The molecule figure of Garipov et al. 2023: one panel per set (bases, harmonic
    means, contrasts side by side), the density of its samples on the plane of scores
    ``x`` and ``y`` as filled contours (``_density``), on shared axes, with dashed lines
    at the ``thresholds`` of ``x`` and ``y`` if given. A set with too few samples for
    a density (fewer than 3, or all on one line) shows its samples as points."""
    values = _score_pairs(tables, x, y)
    grid = _grid(values)
    rng = np.random.default_rng(seed)
    fig, axes = _panels(values, x, y, thresholds or {})
    for index, (ax, (vx, vy)) in enumerate(zip(axes, values.values(), strict=True)):
        color = f"C{index % 10}"
        density = _density(vx, vy, grid, rng)
        if density is None:
            ax.scatter(vx, vy, s=12, color=color)
            continue
        # levels above 0 only, so that the plane outside the density stays white
        levels = np.linspace(0.0, density.max(), CONTOUR_LEVELS + 2)[1:]
        cmap = LinearSegmentedColormap.from_list(color, ["white", color])
        ax.contourf(*grid, density, levels=levels, cmap=cmap)
        ax.contour(*grid, density, levels=levels, colors=color, linewidths=0.6)
    return save_figure(fig, path)


def _score_pairs(
    tables: Mapping[str, pd.DataFrame], x: str, y: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not tables:
        raise ValueError("give at least one set to draw")
    return {
        label: (numeric_column(table, x, label), numeric_column(table, y, label))
        for label, table in tables.items()
    }


def _grid(values: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``KDE_GRID x KDE_GRID`` coordinates spanning every set's points with a margin of
    ``KDE_MARGIN`` (around the unit square when there are none)."""
    axes = []
    for coordinate in (0, 1):
        points = np.concatenate([pair[coordinate] for pair in values.values()])
        low, high = (points.min(), points.max()) if len(points) else (0.0, 1.0)
        margin = KDE_MARGIN * (high - low)
        axes.append(np.linspace(low - margin, high + margin, KDE_GRID))
    return np.meshgrid(*axes)


def _density(
    vx: np.ndarray,
    vy: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Gaussian KDE (Scott's bandwidth) of up to ``KDE_POINTS`` of the points, on the
    grid ``[KDE_GRID, KDE_GRID]``; None for too few points, points on one line, or a
    density too narrow to be positive anywhere on the grid."""
    if len(vx) < 3:
        return None
    fit = rng.choice(len(vx), size=min(len(vx), KDE_POINTS), replace=False)
    try:
        kde = gaussian_kde(np.vstack([vx[fit], vy[fit]]))
    except (np.linalg.LinAlgError, ValueError):
        return None
    grid_x, grid_y = grid
    density = kde(np.vstack([grid_x.ravel(), grid_y.ravel()])).reshape(grid_x.shape)
    peak = density.max()
    return density if np.isfinite(peak) and peak > 0 else None


def _panels(
    values: Mapping[str, tuple[np.ndarray, np.ndarray]],
    x: str,
    y: str,
    thresholds: Mapping[str, float],
) -> tuple[Figure, list]:
    """A figure with one titled panel per set on shared axes, threshold lines drawn."""
    fig = Figure(figsize=(3.6 * len(values), 3.6))
    axes = fig.subplots(1, len(values), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (label, (vx, _)) in zip(axes, values.items(), strict=True):
        if x in thresholds:
            ax.axvline(thresholds[x], color="0.4", linestyle="--", linewidth=1)
        if y in thresholds:
            ax.axhline(thresholds[y], color="0.4", linestyle="--", linewidth=1)
        ax.set_title(f"{label} (n={len(vx)})", fontsize=10)
        ax.set_xlabel(x)
    axes[0].set_ylabel(y)
    return fig, list(axes)


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
