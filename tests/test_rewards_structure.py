"""Similarity, SMARTS and structural-alert rewards against direct RDKit computations."""

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from gfncompose.errors import UserError
from gfncompose.rewards import REWARD_FLOOR, make_reward, window

REFERENCES = ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1"]
QUERIES = ["CC(=O)Oc1ccccc1C(=O)O", "OC(=O)c1ccccc1O", "CCCCCC", "c1ccc(O)cc1"]


def _tanimoto(query, reference, radius=2, n_bits=2048):
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    a, b = (generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in (query, reference))
    return DataStructs.TanimotoSimilarity(a, b)


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_similarity_aggregates_tanimoto_over_references(aggregate):
    reward = make_reward("similarity", references=REFERENCES, aggregate=aggregate)
    table = np.array([[_tanimoto(q, r) for r in REFERENCES] for q in QUERIES])
    expected = table.max(axis=1) if aggregate == "max" else table.mean(axis=1)
    values = reward.score([Chem.MolFromSmiles(q) for q in QUERIES])
    np.testing.assert_allclose(values, np.maximum(expected, REWARD_FLOOR), rtol=1e-15)
    assert values[0] == (1.0 if aggregate == "max" else pytest.approx(table[0].mean()))


def test_similarity_target_window():
    reward = make_reward("similarity", references=REFERENCES[:1], target=[0.3, 0.6], width=0.1)
    values = reward.score([Chem.MolFromSmiles(q) for q in QUERIES])
    expected = [window(_tanimoto(q, REFERENCES[0]), 0.3, 0.6, 0.1) for q in QUERIES]
    np.testing.assert_allclose(values, np.maximum(expected, REWARD_FLOOR), rtol=1e-15)
    # The reference itself has similarity 1.0, which is 0.4 above the window.
    assert values[0] == pytest.approx(np.exp(-0.5 * (0.4 / 0.1) ** 2))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"references": []}, "at least one SMILES"),
        ({"references": "CCO"}, "must be a list of strings"),
        ({"references": ["CCO", "C1CC"]}, r"'references'\[1\] is not a valid SMILES: 'C1CC'"),
        ({"references": ["CCO"], "aggregate": "min"}, "must be one of max, mean"),
        ({"references": ["CCO"], "target": [0.8, 0.2]}, "lo <= hi"),
        ({"references": ["CCO"], "target": [0.2, 1.5]}, r"'target\[1\]' must be in \[0, 1\]"),
        ({"references": ["CCO"], "n_bits": 0}, "'n_bits' must be >= 1"),
    ],
)
def test_similarity_parameter_errors(params, message):
    with pytest.raises(UserError, match=message):
        make_reward("similarity", **params)


def test_smarts_counts_violations_and_applies_penalty():
    reward = make_reward("smarts", require=["c1ccccc1", "[NX3]"], forbid=["[OH]"], penalty=0.5)
    mols = [Chem.MolFromSmiles(s) for s in ["Nc1ccccc1", "Oc1ccccc1", "OCCO"]]
    # aniline: none; phenol: no amine + hydroxyl; ethylene glycol: no ring, no amine, hydroxyl.
    assert [reward.violations(m) for m in mols] == [0, 2, 3]
    assert reward.score(mols).tolist() == [1.0, 0.25, 0.125]


def test_smarts_hard_filter_gives_the_floor():
    reward = make_reward("smarts", forbid=["[N+](=O)[O-]"])
    values = reward.score([Chem.MolFromSmiles(s) for s in ["c1ccccc1", "O=[N+]([O-])c1ccccc1"]])
    assert values.tolist() == [1.0, REWARD_FLOOR]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "at least one SMARTS"),
        ({"forbid": ["[C"]}, r"'forbid'\[0\] is not a valid SMARTS"),
        ({"forbid": ["C"], "penalty": 1.0}, r"'penalty' must be in \[0, 1\)"),
    ],
)
def test_smarts_parameter_errors(params, message):
    with pytest.raises(UserError, match=message):
        make_reward("smarts", **params)


def test_structural_alerts_flag_pains_and_brenk():
    quinone_azo = Chem.MolFromSmiles("O=C1C=CC(=O)C=C1N=Nc1ccccc1")
    clean = Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")  # ibuprofen
    hard = make_reward("structural_alerts")
    soft = make_reward("structural_alerts", catalogs=["PAINS"], penalty=0.5)
    assert len(hard.alerts(quinone_azo)) >= 2 and hard.alerts(clean) == []
    assert hard.score([quinone_azo, clean]).tolist() == [REWARD_FLOOR, 1.0]
    assert soft.score([quinone_azo])[0] == 0.5 ** len(soft.alerts(quinone_azo))


def test_structural_alerts_unknown_catalog_lists_valid_ones():
    with pytest.raises(UserError, match=r"'catalogs\[0\]' must be one of .*PAINS.*BRENK"):
        make_reward("structural_alerts", catalogs=["PAINZ"])
