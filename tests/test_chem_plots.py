"""Each figure is written as a non-empty PNG; bad score columns are named in a UserError."""

from importlib.resources import files

import pandas as pd
import pytest

from gfncompose.chem_plots import (
    chemical_space_map,
    reward_density,
    reward_scatter,
    scaffold_bars,
    top_molecules_grid,
)
from gfncompose.errors import UserError
from gfncompose.metrics import MoleculeSet

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DRUGS = pd.read_csv(files("gfncompose.data") / "drugs.csv")["smiles"].tolist()


@pytest.fixture(scope="module")
def tables():
    """Two sets of 20 drugs with two made-up scores."""
    return {
        label: pd.DataFrame(
            {
                "smiles": DRUGS[start : start + 20],
                "qed": [(i % 7) / 7 for i in range(20)],
                "sa": [(i % 5) / 5 for i in range(20)],
            }
        )
        for label, start in (("base", 0), ("composition", 10))
    }


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG_SIGNATURE


def test_structure_figures_are_written(tmp_path, tables):
    sets = {label: MoleculeSet(table["smiles"]) for label, table in tables.items()}
    assert _is_png(chemical_space_map(sets, tmp_path / "map.png"))
    assert _is_png(scaffold_bars(sets, tmp_path / "nested" / "scaffolds.png", top_n=5))


def test_score_figures_are_written(tmp_path, tables):
    path = reward_scatter(tables, "qed", "sa", tmp_path / "scatter.png", {"qed": 0.5})
    assert _is_png(path)
    assert _is_png(top_molecules_grid(tables, ["qed", "sa"], tmp_path / "top.png", per_set=4))


def test_the_density_figure_is_written_for_sets_of_any_size(tmp_path, tables):
    # a density needs 3 points not on one line: three sets get points, one gets nothing
    small = {
        "two": pd.DataFrame({"qed": [0.2, 0.8], "sa": [0.5, 0.9]}),
        # two points whose covariance rounds to non-singular: a density of zeros, not a crash
        "two_close": pd.DataFrame(
            {"qed": [0.19594597, 0.24300244], "sa": [0.57786853, 0.65906906]}
        ),
        "none": pd.DataFrame({"qed": [], "sa": []}),
    }
    path = reward_density(
        {**tables, **small}, "qed", "sa", tmp_path / "density.png", {"qed": 0.5, "sa": 0.6}
    )
    assert _is_png(path)
    assert _is_png(reward_density(small, "qed", "sa", tmp_path / "small.png"))


def test_a_map_needs_a_few_molecules(tmp_path):
    with pytest.raises(UserError, match="at least 5 valid molecules; the sets have 2"):
        chemical_space_map({"tiny": MoleculeSet(["CCO", "CCN"])}, tmp_path / "map.png")


@pytest.mark.parametrize(
    ("qed", "message"),
    [
        (None, "set 'base': no column 'qed'; the columns are 'smiles', 'sa'"),
        (["high", 0.1], "set 'base': column 'qed' must hold finite numbers; row 0 holds 'high'"),
        (
            [0.5, float("nan")],
            "set 'base': column 'qed' must hold finite numbers; row 1 holds 'nan'",
        ),
    ],
)
def test_bad_score_columns_are_named(tmp_path, qed, message):
    table = pd.DataFrame({"smiles": ["CCO", "CCN"], "sa": [0.1, 0.2]})
    if qed is not None:
        table["qed"] = qed
    with pytest.raises(UserError, match=message):
        reward_scatter({"base": table}, "qed", "sa", tmp_path / "scatter.png")
    with pytest.raises(UserError, match=message):
        reward_density({"base": table}, "qed", "sa", tmp_path / "density.png")
    with pytest.raises(UserError, match=message):
        top_molecules_grid({"base": table}, ["qed"], tmp_path / "top.png")


def test_top_molecules_need_a_smiles_column(tmp_path):
    table = pd.DataFrame({"SMILES": ["CCO"], "qed": [0.5]})
    with pytest.raises(UserError, match="set 'base': no column 'smiles'"):
        top_molecules_grid({"base": table}, ["qed"], tmp_path / "top.png")
