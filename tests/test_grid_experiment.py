"""The paper's grid experiment (``grid_experiment.run``, ``gfncompose grid-demo``) at a tiny size.

Its accuracy figures come from ``benchmarks/hypergrid_composition.py``; here: every figure
is reported, a seeded run reproduces itself, and the caller's random stream is left alone.
"""

from __future__ import annotations

import json

import pytest
import torch

from gfncompose.cli import main
from gfncompose.grid_experiment import GridExperiment, run

TINY = dict(
    horizon=6, base_steps=15, classifier_steps=15, hidden=16, classifier_hidden=16, circles=True
)


@pytest.fixture(scope="module")
def result():
    return run(GridExperiment(**TINY), progress=False)


def test_every_composition_has_its_figures_in_both_modes(result):
    labels = set(result["compositions"])
    # shubert/diag_sigmoid: harmonic means and contrasts both ways at 3 alphas; circles: 3
    assert len(labels) == 12
    for label, figures in result["compositions"].items():
        for kind in ("to_learned", "to_true"):
            assert set(figures[kind]) == {"successors", "action_head"}, label
            assert all(0.0 <= v <= 2.0 for v in figures[kind].values()), label
        assert 0.0 <= figures["learned_to_true"] <= 2.0
    assert set(result["base_l1"]) == {
        "symmetric_shubert", "diag_sigmoid", "circle1", "circle2", "circle3"
    }  # fmt: skip


def test_a_seeded_run_reproduces_itself_and_leaves_the_global_stream_alone(result):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    again = run(GridExperiment(**TINY), progress=False)
    assert torch.equal(torch.rand(3), expected_next)
    assert again["compositions"] == result["compositions"]
    assert again["base_l1"] == result["base_l1"]


def test_grid_demo_writes_its_figure_and_summary(tmp_path):
    args = ["grid-demo", "--horizon", "5", "--base-steps", "5", "--classifier-steps", "5"]
    assert main([*args, "-o", str(tmp_path)]) == 0
    assert (tmp_path / "grid_demo.png").stat().st_size > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == {"base_l1", "compositions", "seconds"}
