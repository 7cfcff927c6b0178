"""QED and SA equal RDKit's own computation; the cache and the floor behave as documented."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import QED
from rdkit.Contrib.SA_Score import sascorer

from gfncompose.errors import UserError
from gfncompose.rewards import REWARD_FLOOR, QEDReward, SAReward, make_reward, score_smiles

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "example_molecules.csv"
SMILES = pd.read_csv(EXAMPLES)["smiles"].tolist()
TOLERANCE = 1e-9  # both sides are the same float64 computation; any gap is a bug


@pytest.fixture(scope="module")
def mols():
    return [Chem.MolFromSmiles(smiles) for smiles in SMILES]


def test_qed_equals_rdkit(mols):
    expected = np.array([QED.qed(mol) for mol in mols])
    np.testing.assert_allclose(QEDReward().score(mols), expected, rtol=0, atol=TOLERANCE)


def test_sa_equals_rdkit_rescaled(mols):
    expected = np.array([(10.0 - sascorer.calculateScore(mol)) / 9.0 for mol in mols])
    np.testing.assert_allclose(SAReward().score(mols), expected, rtol=0, atol=TOLERANCE)


def test_call_returns_float32_tensor_of_score(mols):
    reward = QEDReward()
    values = reward(mols)
    assert values.dtype == torch.float32 and values.shape == (len(mols),)
    assert torch.equal(values, torch.tensor(reward.score(mols), dtype=torch.float32))


@pytest.mark.parametrize("name", ["qed", "sa"])
def test_unscorable_molecules_get_the_floor(name):
    pentavalent = Chem.MolFromSmiles("CC(C)(C)(C)(C)C", sanitize=False)
    values = make_reward(name).score([None, Chem.Mol(), pentavalent])
    assert values.tolist() == [REWARD_FLOOR] * 3


def test_unsanitized_valid_molecule_scores_like_sanitized():
    raw = Chem.MolFromSmiles("c1ccccc1O", sanitize=False)
    reward = QEDReward()
    assert reward.score([raw])[0] == QED.qed(Chem.MolFromSmiles("c1ccccc1O"))
    assert raw.NeedsUpdatePropertyCache()  # the caller's molecule was not sanitized in place


def test_cache_is_keyed_by_canonical_smiles(monkeypatch):
    reward = QEDReward()
    calls = []
    original = reward.score_mol
    monkeypatch.setattr(reward, "score_mol", lambda mol: calls.append(1) or original(mol))
    # Three spellings of phenol and one of ethanol: two computations.
    batch = [Chem.MolFromSmiles(s) for s in ["Oc1ccccc1", "c1ccccc1O", "c1cc(O)ccc1", "OCC"]]
    values = reward.score(batch)
    assert len(calls) == 2
    assert values[0] == values[1] == values[2] != values[3]
    reward.score(batch)
    assert len(calls) == 2


def test_cache_forgets_least_recently_used():
    reward = QEDReward()
    reward._cache.maxsize = 2
    reward.score([Chem.MolFromSmiles(s) for s in ["C", "CC", "CCC"]])
    assert len(reward._cache) == 2
    assert reward._cache.peek("C") is None and reward._cache.peek("CCC") is not None


def test_score_smiles_matches_molecules_and_names_bad_entry():
    reward = QEDReward()
    assert score_smiles(reward, ["CCO"])[0] == QED.qed(Chem.MolFromSmiles("CCO"))
    with pytest.raises(UserError, match=r"index 1: 'C1CC'"):
        score_smiles(reward, ["CCO", "C1CC"])


def test_sa_stays_within_documented_range(mols):
    values = SAReward().score(mols)
    assert np.all(values >= REWARD_FLOOR) and np.all(values <= 1.0)
    assert not any(math.isnan(v) for v in values)
