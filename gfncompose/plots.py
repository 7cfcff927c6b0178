"""Figures people look at: distributions as heatmaps."""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure


def grid_panel(
    panels: dict[str, torch.Tensor], horizon: int, path: str | Path, columns: int = 4
) -> Path:
    """Save heatmaps of 2-D grid distributions, one per ``{title: p}`` (``p``: ``[horizon**2]``)."""
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(3.2 * columns, 3.2 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, p) in zip(axes.flat, panels.items(), strict=False):
        ax.imshow(p.view(horizon, horizon).T.cpu().numpy(), origin="lower", cmap="viridis")
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Lay out ``fig``, write it as a PNG at ``path`` (folders created).

    Figures are built with :class:`~matplotlib.figure.Figure`, not ``pyplot``: no
    global figure state and no backend switch, so importing this module leaves a
    notebook's inline plots alone."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
