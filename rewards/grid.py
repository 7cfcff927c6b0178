"""Rewards on the 2-D hypergrid, the tasks of Garipov et al. (2023).

Each takes points ``LongTensor[B, 2]`` on a grid of side ``horizon`` and returns
``log R(x)``: ``[B]``. The paper's tasks map each coordinate ``s`` to
``u = 2 s / (horizon - 1) - 1`` in ``[-1, 1]`` and set ``log R = log(r(u) + floor) / T``
(temperature ``T``, 1 unless stated); the floor keeps ``R > 0`` everywhere, so the
GFlowNet must reach every point, while the shape carries the mass:

- ``diag_sigmoid``: ``r = σ(5 (u₁ + u₂))``, mass towards the top-right corner.
- ``symmetric_shubert``: a product of two Shubert sums, mirrored in each axis: a
  lattice of bumps, at temperature ½.
- ``circle1..3``: three overlapping disks; inside each, a plateau plus a mixture of
  1, 2 or 3 Gaussian bumps.

The older shapes (``band``, ``ring``, disks ``d1..d3``, on ``[0, 1]`` coordinates) are
kept for the hypergrid notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

GridReward = Callable[[torch.Tensor], torch.Tensor]
"""``LongTensor[B, 2]`` grid points -> ``log R``: ``[B]``."""

GRID_REWARD_FLOOR = 1e-3
"""Reward outside the older shapes; small enough that the shapes hold most of the mass."""

_EDGE_SHARPNESS = 30.0
"""Steepness of the sigmoid edges of the older shapes, in units of the ``[0, 1]`` coordinate."""

DIAG_SIGMOID_FLOOR = 1e-5
"""The paper's floor for ``diag_sigmoid``; ``σ`` is at least ``σ(-10) ≈ 4.5e-5`` on the grid."""

SHUBERT_FLOOR = 1e-3
"""The paper's floor for ``symmetric_shubert``, whose normalised ``r`` reaches 0."""

SHUBERT_TEMPERATURE = 0.5
"""The paper trains ``symmetric_shubert`` at temperature ½ (``log R`` doubled): sharper bumps."""

SHUBERT_WIDTH = 2.3
"""``w``: the paper maps ``u ∈ [-1, 1]`` onto a window of this width of Shubert's argument."""

SHUBERT_END = -7.15
"""Upper end of that window (``u = 1``); it starts at ``-7.15 - w`` (``u = -1``)."""

SHUBERT_PRODUCT_RANGE = (-186.6157949555621, 210.27662470796076)
"""Minimum and maximum of ``S(v₁) S(v₂)`` (the paper's constants): ``r`` is rescaled by
them to ``[0, 1]``."""

CIRCLE_FLOOR = 1e-8
"""The paper's floor for the circles, below their outside value 0.1: it only guards ``log``."""

CIRCLE_RADIUS = 0.6
"""Radius of each disk."""

CIRCLE_OFFSET = 0.3
"""Distance of each disk's centre from the origin (the paper's ``h``)."""

CIRCLE_OUTSIDE = 0.1
"""``r`` outside a disk: 1/65 to 1/105 of the plateau inside."""


class CircleTask(NamedTuple):
    """One of the paper's circle rewards: ``r = a · g(u) + b`` inside its disk.

    ``g`` is the equal-weight mixture of isotropic Gaussian densities of standard
    deviation ``std`` centred at ``center + offset`` for each of ``offsets``.
    """

    center: tuple[float, float]
    offsets: tuple[tuple[float, float], ...]
    std: float
    a: float
    b: float


_ROOT3_2 = math.sqrt(3) / 2
_SPREAD = 0.32
"""Distance of the Gaussian bumps from their disk's centre (circles 2 and 3)."""

CIRCLES = {
    "circle1": CircleTask((-CIRCLE_OFFSET, 0.0), ((0.0, 0.0),), std=0.3, a=2.5, b=6.5),
    "circle2": CircleTask(
        (CIRCLE_OFFSET / 2, CIRCLE_OFFSET * _ROOT3_2),
        ((-_SPREAD * _ROOT3_2, _SPREAD / 2), (_SPREAD * _ROOT3_2, -_SPREAD / 2)),
        std=0.21,
        a=3.5,
        b=10.5,
    ),
    # a and b as in the paper's published code (gflownet/grid/rewards.py), not 3.5 and 10.5
    "circle3": CircleTask(
        (CIRCLE_OFFSET / 2, -CIRCLE_OFFSET * _ROOT3_2),
        ((-_SPREAD, 0.0), (_SPREAD / 2, _SPREAD * _ROOT3_2), (_SPREAD / 2, -_SPREAD * _ROOT3_2)),
        std=0.18,
        a=2.5,
        b=5.5,
    ),
}
"""The three circle tasks: disks centred at angles 180°, 60° and -60° around the origin."""


def signed_unit(points: torch.Tensor, horizon: int) -> torch.Tensor:
    """Points ``[B, 2]`` -> ``u = 2 s / (horizon - 1) - 1 ∈ [-1, 1]``: ``float64 [B, 2]``."""
    return 2.0 * points.double() / (horizon - 1) - 1.0


def diag_sigmoid(points: torch.Tensor, horizon: int) -> torch.Tensor:
    """``log(σ(5 (u₁ + u₂)) + 1e-5)``: ``[B]``."""
    u = signed_unit(points, horizon)
    return torch.log(torch.sigmoid(5.0 * u.sum(1)) + DIAG_SIGMOID_FLOOR).float()


def shubert_sum(v: torch.Tensor) -> torch.Tensor:
    """Shubert's one-dimensional sum ``S(v) = Σ_{i=1..5} i cos((i + 1) v + i)``, elementwise."""
    return sum(i * torch.cos((i + 1) * v + i) for i in range(1, 6))


def symmetric_shubert(points: torch.Tensor, horizon: int) -> torch.Tensor:
    """``2 log(r + 1e-3)`` with ``r = (S(v₁) S(v₂) - min) / (max - min)``: ``[B]``.

    ``v_j = (-7.15 - w) + (|u_j| / 2 + 1/2) w``: the paper maps ``u`` onto the window of
    width ``w``, here through ``|u|``, so the reward is mirror-symmetric in each axis and
    only the upper half ``[-8.3, -7.15]`` of the window is used (the paper's symmetrised
    Shubert function).
    """
    half = signed_unit(points, horizon).abs() / 2 + 0.5
    v = (SHUBERT_END - SHUBERT_WIDTH) + half * SHUBERT_WIDTH
    s = shubert_sum(v)
    lowest, highest = SHUBERT_PRODUCT_RANGE
    r = (s[:, 0] * s[:, 1] - lowest) / (highest - lowest)
    return (torch.log(r + SHUBERT_FLOOR) / SHUBERT_TEMPERATURE).float()


def circle(points: torch.Tensor, horizon: int, task: CircleTask) -> torch.Tensor:
    """``log(r + 1e-8)``, ``r = a · g(u) + b`` inside the disk of ``task``, 0.1 outside: ``[B]``."""
    u = signed_unit(points, horizon)
    center = torch.tensor(task.center, dtype=u.dtype, device=u.device)
    bumps = center + torch.tensor(task.offsets, dtype=u.dtype, device=u.device)
    squared = (u[:, None, :] - bumps[None]).pow(2).sum(2)
    density = torch.exp(-squared / (2 * task.std**2)) / (2 * math.pi * task.std**2)
    inside = (u - center).norm(dim=1) < CIRCLE_RADIUS
    r = torch.where(inside, task.a * density.mean(1) + task.b, CIRCLE_OUTSIDE)
    return torch.log(r + CIRCLE_FLOOR).float()


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


def paper_grid_rewards(horizon: int) -> dict[str, GridReward]:
    """The paper's tasks on a ``horizon × horizon`` grid: ``{name: log_reward(points) -> [B]}``.

    Names: ``diag_sigmoid``, ``symmetric_shubert``, ``circle1``, ``circle2``, ``circle3``.
    """
    rewards: dict[str, GridReward] = {
        "diag_sigmoid": lambda p: diag_sigmoid(p, horizon),
        "symmetric_shubert": lambda p: symmetric_shubert(p, horizon),
    }
    for name, task in CIRCLES.items():
        rewards[name] = lambda p, t=task: circle(p, horizon, t)
    return rewards


def grid_rewards(horizon: int, ndim: int = 2) -> dict[str, GridReward]:
    """The older shapes: ``band``, ``ring`` and disks ``d1..d3``.

    Returns ``{name: log_reward(points) -> [B]}``.
    """
    rewards: dict[str, GridReward] = {
        "band": lambda p: diagonal_band(p, horizon),
        "ring": lambda p: ring(p, horizon),
    }
    for k, center in enumerate(three_disk_centers(ndim)):
        rewards[f"d{k + 1}"] = lambda p, c=center: disk(p, horizon, c)
    return rewards
