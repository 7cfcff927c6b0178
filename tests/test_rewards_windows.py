"""Desirability windows: exact values at and around their edges, and their parameters."""

import math

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors

from gfncompose.errors import UserError
from gfncompose.rewards import REWARD_FLOOR, make_reward, window


@pytest.mark.parametrize("x", [2.0, 2.5, 3.0])
def test_window_is_one_inside_and_on_both_edges(x):
    assert window(x, 2.0, 3.0, 0.5) == 1.0


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (1.5, math.exp(-0.5)),  # one width below lo
        (1.0, math.exp(-2.0)),  # two widths below lo
        (3.5, math.exp(-0.5)),  # one width above hi
        (4.5, math.exp(-4.5)),  # three widths above hi
    ],
)
def test_window_decays_as_a_gaussian_of_the_distance(x, expected):
    assert window(x, 2.0, 3.0, 0.5) == pytest.approx(expected, rel=1e-15)


def test_window_is_continuous_and_flat_at_the_edge():
    eps = 1e-6  # zero slope at the edges: the drop is eps² / (2 width²) = 2e-12
    assert window(2.0 - eps, 2.0, 3.0, 0.5) == pytest.approx(1.0, abs=1e-11)
    assert window(3.0 + eps, 2.0, 3.0, 0.5) == pytest.approx(1.0, abs=1e-11)


def test_one_sided_window():
    assert window(-1e9, -math.inf, 5.0, 1.0) == 1.0
    assert window(6.0, -math.inf, 5.0, 1.0) == pytest.approx(math.exp(-0.5), rel=1e-15)


@pytest.mark.parametrize(
    ("name", "descriptor"),
    [
        ("mw_window", Descriptors.MolWt),
        ("logp_window", Crippen.MolLogP),
        ("tpsa_window", rdMolDescriptors.CalcTPSA),
        ("hbd_window", rdMolDescriptors.CalcNumHBD),
        ("hba_window", rdMolDescriptors.CalcNumHBA),
        ("rotatable_bonds_window", rdMolDescriptors.CalcNumRotatableBonds),
        ("ring_count_window", rdMolDescriptors.CalcNumRings),
    ],
)
def test_property_window_applies_window_to_the_rdkit_descriptor(name, descriptor):
    mols = [Chem.MolFromSmiles(s) for s in ["CCO", "CC(=O)Oc1ccccc1C(=O)O", "C" * 40 + "O"]]
    reward = make_reward(name, lo=1.0, hi=2.0, width=0.7)
    expected = [max(window(float(descriptor(m)), 1.0, 2.0, 0.7), REWARD_FLOOR) for m in mols]
    np.testing.assert_allclose(reward.score(mols), expected, rtol=1e-15, atol=0)


def test_far_outside_window_is_floored_not_zero():
    mol = Chem.MolFromSmiles("C" * 60)
    assert make_reward("mw_window", lo=100, hi=200, width=1.0).score([mol])[0] == REWARD_FLOOR


def test_integer_window_bounds_from_toml_and_infinite_hi():
    reward = make_reward("hbd_window", lo=0, hi=math.inf, width=1)
    assert reward.score([Chem.MolFromSmiles("NCCN")])[0] == 1.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lo": 5.0, "hi": 1.0}, r"'lo' \(5.0\) must be <= 'hi' \(1.0\)"),
        ({"width": 0.0}, r"'width' must be > 0"),
        ({"width": math.inf}, r"'width' must be a finite number"),
        ({"lo": "low"}, r"'lo' must be a number, got 'low'"),
        ({"hi": True}, r"'hi' must be a number"),
    ],
)
def test_invalid_window_parameters_are_named(params, message):
    with pytest.raises(UserError, match=r"reward 'logp_window': .*" + message):
        make_reward("logp_window", **params)
