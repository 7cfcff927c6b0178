"""Rewards by name: every registered reward honours the interface; config errors are named."""

import math

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from rdkit import Chem
from rdkit.Chem import Crippen

from gfncompose.errors import UserError
from gfncompose.rewards import (
    REWARD_FLOOR,
    REWARDS,
    AssayData,
    AssayReport,
    ClippedReward,
    ProductReward,
    make_reward,
    make_rewards,
    train_proxy,
)

TRAINING = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "Cc1ccccc1", "CCc1ccccc1", "OCCO", "NCCN",
            "CC(=O)O", "CCCCCCCC", "c1ccc2ccccc2c1", "OC(=O)c1ccccc1"]  # fmt: skip
WEIRD = [
    None,
    Chem.Mol(),
    Chem.MolFromSmiles("CC(C)(C)(C)(C)C", sanitize=False),  # pentavalent carbon
    Chem.MolFromSmiles("[Na+].[Cl-]"),
    Chem.MolFromSmiles("[CH3]"),
    Chem.MolFromSmiles("[H][H]"),
    Chem.MolFromSmiles("C" * 200),
]


@pytest.fixture(scope="module")
def proxy_path(tmp_path_factory):
    mols = [Chem.MolFromSmiles(s) for s in TRAINING]
    targets = np.array([Crippen.MolLogP(m) for m in mols])
    data = AssayData(TRAINING, targets, AssayReport(rows=len(mols)), "test", "smiles", "logp")
    path = tmp_path_factory.mktemp("proxy") / "logp.joblib"
    train_proxy(data, n_bits=256, n_trees=10, threshold=1.0, scale=1.0).save(path)
    return path


SEH_WEIGHTS = SHARED_DATA / "seh_proxy_bengio2021.pkl.gz"


def _defaults(name, proxy_path):
    if name == "seh" and not SEH_WEIGHTS.is_file():
        pytest.skip(f"{SEH_WEIGHTS} is absent: the published sEH proxy is shared test data")
    required = {
        "similarity": {"references": ["c1ccccc1O"]},
        "smarts": {"forbid": ["[OH]"]},
        "proxy": {"path": str(proxy_path)},
        "seh": {"path": str(SEH_WEIGHTS)},
    }
    return required.get(name, {})


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_every_reward_is_positive_finite_and_in_range_even_on_weird_input(name, proxy_path):
    reward = make_reward(name, **_defaults(name, proxy_path))
    batch = WEIRD + [Chem.MolFromSmiles(s) for s in TRAINING]
    values = reward(batch)
    assert values.dtype == torch.float32 and values.shape == (len(batch),)
    assert torch.isfinite(values).all() and (values > 0).all()
    lo, hi = reward.value_range
    scores = reward.score(batch)
    assert np.all(scores >= lo) and np.all(scores <= hi)
    assert scores[:3].tolist() == [REWARD_FLOOR] * 3  # None, empty, unsanitizable
    assert reward.name == name


def test_unknown_reward_lists_known_ones():
    with pytest.raises(UserError, match=r"unknown reward 'qde'; known rewards: qed, sa, "):
        make_reward("qde")


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(UserError, match=r"reward 'logp_window': unknown parameter 'low'; "
                       r"valid parameters: lo, hi, width"):  # fmt: skip
        make_reward("logp_window", low=1.0)


def test_missing_required_parameter_is_named():
    with pytest.raises(UserError, match=r"reward 'similarity': missing required parameter "
                       r"'references'"):  # fmt: skip
        make_reward("similarity")


def test_make_rewards_uses_labels_and_kinds():
    rewards = make_rewards(
        {
            "qed": {},
            "like_phenol": {"kind": "similarity", "references": ["c1ccccc1O"]},
            "like_aniline": {"kind": "similarity", "references": ["c1ccccc1N"]},
        }
    )
    assert list(rewards) == ["qed", "like_phenol", "like_aniline"]
    assert rewards["like_phenol"].name == "like_phenol"
    values = [rewards[k].score([Chem.MolFromSmiles("c1ccccc1O")])[0] for k in list(rewards)[1:]]
    assert values[0] == 1.0 and values[1] < 1.0


def test_make_rewards_error_names_label_and_kind():
    with pytest.raises(UserError, match=r"reward 'potent' \(kind 'proxy'\): .*no such proxy file"):
        make_rewards({"potent": {"kind": "proxy", "path": "/nonexistent/p.joblib"}})
    with pytest.raises(UserError, match=r"reward 'x': expected a table of parameters"):
        make_rewards({"x": 3})


def test_product_is_the_product_of_its_factors():
    mols = [Chem.MolFromSmiles(s) for s in TRAINING]
    qed, sa = make_reward("qed"), make_reward("sa")
    both = ProductReward([qed, sa])
    assert both.name == "qed*sa"
    np.testing.assert_array_equal(both.score(mols), qed.score(mols) * sa.score(mols))
    assert both.value_range == (REWARD_FLOOR**2, 1.0)
    assert both.score([None])[0] == REWARD_FLOOR**2 > 0


def test_clip_at_its_edges():
    mols = [Chem.MolFromSmiles(s) for s in TRAINING]
    raw = make_reward("qed").score(mols)
    lo, hi = float(np.quantile(raw, 0.25)), float(np.quantile(raw, 0.75))
    clipped = ClippedReward(make_reward("qed"), lo=lo, hi=hi)
    values = clipped.score(mols)
    np.testing.assert_array_equal(values, np.minimum(np.maximum(raw, lo), hi))
    assert values.min() == lo and values.max() == hi
    assert clipped.value_range == (lo, hi)
    assert ClippedReward(make_reward("qed"), lo=0.01).score([None])[0] == 0.01


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (0.5, 0.4), (-1.0, math.inf)])
def test_clip_rejects_bounds_that_could_give_nonpositive_rewards(lo, hi):
    with pytest.raises(UserError, match="clip bounds"):
        ClippedReward(make_reward("qed"), lo=lo, hi=hi)
