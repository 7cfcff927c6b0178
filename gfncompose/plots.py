"""Figures people look at: distributions as heatmaps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def grid_panel(
    panels: dict[str, torch.Tensor], horizon: int, path: str | Path, columns: int = 4
) -> Path:
    """Save heatmaps of 2-D grid distributions, one per ``{title: p}`` (``p``: ``[horizon**2]``)."""
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, p) in zip(axes.flat, panels.items(), strict=False):
        ax.imshow(p.view(horizon, horizon).T.cpu().numpy(), origin="lower", cmap="viridis")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
