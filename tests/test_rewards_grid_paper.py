"""The 2-D grid tasks of Garipov et al. (2023), checked against their formulas.

Coordinates map to ``u = 2 s / (H - 1) - 1``; odd horizons put grid points at
``u = 0`` and at the disk centres used below. Tolerances are float32 rounding of
``log R`` (values of order 1-10).
"""

import math

import pytest
import torch

from gfncompose.rewards.grid import paper_grid_rewards

TOL = 1e-5


def at(name: str, horizon: int, *points: tuple[int, int]) -> torch.Tensor:
    """``log R`` of task ``name`` at grid points: ``[len(points)]``."""
    return paper_grid_rewards(horizon)[name](torch.tensor(points)).double()


def every_point(horizon: int) -> torch.Tensor:
    return torch.cartesian_prod(torch.arange(horizon), torch.arange(horizon))


def shubert_r(u1: float, u2: float) -> float:
    """``r`` of symmetric_shubert written out from the task's definition."""

    def s(u: float) -> float:
        v = (-7.15 - 2.3) + (abs(u) / 2 + 0.5) * 2.3
        return sum(i * math.cos((i + 1) * v + i) for i in range(1, 6))

    low, high = -186.6157949555621, 210.27662470796076
    return (s(u1) * s(u2) - low) / (high - low)


def test_diag_sigmoid_at_the_corners_and_on_the_antidiagonal():
    # u = (-1, -1), (1, 1), (-1, 1): r = σ(-10), σ(10), σ(0) = 1/2, plus the floor 1e-5
    values = at("diag_sigmoid", 32, (0, 0), (31, 31), (0, 31))
    expected = [1 / (1 + math.exp(10)) + 1e-5, 1 / (1 + math.exp(-10)) + 1e-5, 0.5 + 1e-5]
    assert torch.allclose(values, torch.tensor(expected).log().double(), atol=TOL)


def test_diag_sigmoid_depends_on_the_coordinate_sum_only():
    points = every_point(9)
    values = paper_grid_rewards(9)["diag_sigmoid"](points)
    for total in range(17):
        on_line = values[points.sum(1) == total]
        assert (on_line - on_line[0]).abs().max() < TOL


def test_symmetric_shubert_at_the_centre_and_the_corners_at_temperature_half():
    # u = 0 uses v = -8.3 on both axes, the corners v = -7.15; log R = log(r + 1e-3) / 0.5
    values = at("symmetric_shubert", 5, (2, 2), (0, 0), (4, 0), (2, 4))
    expected = [shubert_r(0, 0), shubert_r(-1, -1), shubert_r(1, -1), shubert_r(0, 1)]
    expected = [2 * math.log(r + 1e-3) for r in expected]
    assert torch.allclose(values, torch.tensor(expected).double(), atol=TOL)


def test_symmetric_shubert_is_mirror_symmetric_in_each_axis_and_in_the_diagonal():
    horizon = 32
    grid = paper_grid_rewards(horizon)["symmetric_shubert"](every_point(horizon))
    grid = grid.view(horizon, horizon)
    assert torch.allclose(grid, grid.flip(0), atol=TOL)
    assert torch.allclose(grid, grid.flip(1), atol=TOL)
    assert torch.allclose(grid, grid.T, atol=TOL)


def test_symmetric_shubert_is_normalised_to_the_unit_interval_above_its_floor():
    # r in [0, 1] by the paper's min/max constants; the floor keeps log R finite at r = 0
    values = paper_grid_rewards(64)["symmetric_shubert"](every_point(64)).double()
    assert values.min() >= 2 * math.log(1e-3) - TOL
    assert values.max() <= 2 * math.log(1 + 1e-3) + TOL
    # the window holds modes near both ends: the grid spans most of [0, 1]
    assert values.max() > 2 * math.log(0.9) and values.min() < 2 * math.log(0.05)


@pytest.mark.parametrize(
    "name, point, r",
    [
        # horizon 21: u = s / 10 - 1; circle1's centre (-0.3, 0) is the point (7, 10)
        ("circle1", (7, 10), 2.5 / (2 * math.pi * 0.3**2) + 6.5),
        # circle3's centre (0.15, -0.3 √3/2) is off the grid; its nearest point (12, 7) is
        # u = (0.2, -0.3), at squared distances from the three bumps written out below
        (
            "circle3",
            (12, 7),
            2.5
            * sum(
                math.exp(-d2 / (2 * 0.18**2)) / (2 * math.pi * 0.18**2) / 3
                for d2 in (
                    (0.2 - (0.15 - 0.32)) ** 2 + (-0.3 + 0.3 * math.sqrt(3) / 2) ** 2,
                    (0.2 - 0.31) ** 2 + (-0.3 - (-0.3 + 0.32) * math.sqrt(3) / 2) ** 2,
                    (0.2 - 0.31) ** 2 + (-0.3 - (-0.3 - 0.32) * math.sqrt(3) / 2) ** 2,
                )
            )
            + 5.5,
        ),
        # outside every disk (corners): r = 0.1
        ("circle1", (0, 0), 0.1),
        ("circle2", (20, 0), 0.1),
        ("circle3", (0, 20), 0.1),
    ],
)
def test_circle_values_by_hand(name, point, r):
    assert at(name, 21, point).item() == pytest.approx(math.log(r + 1e-8), abs=TOL)


def test_circle2_and_circle3_disks_mirror_each_other_and_all_have_radius_0_6():
    horizon = 61
    points = every_point(horizon)
    u = 2 * points.double() / (horizon - 1) - 1
    rewards = paper_grid_rewards(horizon)
    inside = {n: rewards[n](points).view(horizon, horizon) > math.log(0.1 + 1e-6) for n in rewards}
    assert torch.equal(inside["circle3"], inside["circle2"].flip(1))
    centres = {
        "circle1": (-0.3, 0.0),
        "circle2": (0.15, 0.3 * math.sqrt(3) / 2),
        "circle3": (0.15, -0.3 * math.sqrt(3) / 2),
    }
    for name, centre in centres.items():
        distance = (u - torch.tensor(centre, dtype=torch.float64)).norm(dim=1)
        assert torch.equal(inside[name].flatten(), distance < 0.6), name


def test_every_task_is_finite_on_the_paper_grid():
    rewards = paper_grid_rewards(32)
    assert sorted(rewards) == [
        "circle1",
        "circle2",
        "circle3",
        "diag_sigmoid",
        "symmetric_shubert",
    ]
    for name, log_reward in rewards.items():
        values = log_reward(every_point(32))
        assert values.shape == (1024,) and values.dtype == torch.float32, name
        assert torch.isfinite(values).all(), name
