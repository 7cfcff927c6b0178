"""Rewards on the hypergrid, after the 2-D experiments of Garipov et al. (2023).

Each takes points ``LongTensor[B, ndim]`` on a grid of side ``horizon`` and
returns ``log R(x)``: ``[B]``. Coordinates are rescaled to ``[0, 1]``; every
reward has a floor ``GRID_REWARD_FLOOR`` so that ``R > 0`` everywhere (the
GFlowNet must reach every point) while the shape carries most of the mass.
"""

from __future__ import annotations

import math

import torch

GRID_REWARD_FLOOR = 1e-3
"""Reward outside the shapes; small enough that the shapes hold most of the mass."""

_EDGE_SHARPNESS = 30.0
"""Steepness of the sigmoid edges, in units of the rescaled coordinate."""


def _unit(points: torch.Tensor, horizon: int) -> torch.Tensor:
    return points.float() / (horizon - 1)


def _log(shape: torch.Tensor) -> torch.Tensor:
    return torch.log(GRID_REWARD_FLOOR + shape)


def diagonal_band(points: torch.Tensor, horizon: int) -> torch.Tensor:
    """Mass below the main diagonal (``x_0 > x_1 + 0.1``), a soft half-plane."""
    u = _unit(points, horizon)
    return _log(torch.sigmoid(_EDGE_SHARPNESS * (u[:, 0] - u[:, 1] - 0.1)))


def ring(points: torch.Tensor, horizon: int) -> torch.Tensor:
    """A ring of radius 0.3 and width 0.15 around the grid's centre."""
    u = _unit(points, horizon)
    radius = (u - 0.5).norm(dim=1)
    return _log(torch.sigmoid(_EDGE_SHARPNESS * (0.075 - (radius - 0.3).abs())))


def disk(points: torch.Tensor, horizon: int, center: tuple[float, ...], radius: float = 0.28):
    """A soft disk of ``radius`` around ``center`` (unit coordinates)."""
    u = _unit(points, horizon)
    distance = (u - torch.tensor(center, device=u.device)).norm(dim=1)
    return _log(torch.sigmoid(_EDGE_SHARPNESS * (radius - distance)))


def three_disk_centers(ndim: int = 2) -> list[tuple[float, ...]]:
    """Centres of three overlapping disks on a circle of radius 0.18 around the middle."""
    centers = []
    for k in range(3):
        angle = math.pi / 2 + 2 * math.pi * k / 3
        point = [0.5 + 0.18 * math.cos(angle), 0.5 + 0.18 * math.sin(angle)] + [0.5] * (ndim - 2)
        centers.append(tuple(point))
    return centers


def grid_rewards(horizon: int, ndim: int = 2) -> dict[str, object]:
    """The named grid rewards: ``shapes`` pair (``band``, ``ring``) and disks ``d1..d3``.

    Returns ``{name: log_reward(points) -> [B]}``.
    """
    rewards = {
        "band": lambda p: diagonal_band(p, horizon),
        "ring": lambda p: ring(p, horizon),
    }
    for k, center in enumerate(three_disk_centers(ndim)):
        rewards[f"d{k + 1}"] = lambda p, c=center: disk(p, horizon, c)
    return rewards
