"""Coverage metrics on sets small enough to check by hand.

The Tanimoto similarities below are counted by hand from Morgan features (radius 2;
RDKit drops an environment that covers the same bonds as one already counted, and
these few features do not collide in 2048 bits):

- methane ``C``: {CH4}
- ethane ``CC``: {CH3, CH3-CH3}
- propane ``CCC``: {CH3, CH2, CH3 with its CH2, CH2 with its two CH3}
- methanol ``CO``: {CH3, OH, CH3-OH}

so s(ethane, propane) = 1/5 (CH3 shared; 2 + 4 - 1 features in the union),
s(ethane, methanol) = 1/4, s(propane, methanol) = 1/6 and methane shares nothing.
"""

import math
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem, DataStructs

from gfncompose.metrics import (
    ACYCLIC,
    MAX_TANIMOTO_DISTANCE,
    N_BITS,
    MoleculeSet,
    cell_name,
    earth_movers_distance,
    internal_diversity,
    novelty,
    number_of_modes,
    number_of_scaffolds,
    reward_cells,
    scaffold_counts,
    scaffold_entropy,
    summarize,
    tanimoto_ground_distance,
    tanimoto_matrix,
    top_k_diversity,
    top_k_mean_reward,
    transport_cost,
    uniqueness,
    validity,
)
from gfncompose.rewards.fingerprints import morgan_bits

METHANE, ETHANE, PROPANE, METHANOL = "C", "CC", "CCC", "CO"
EXACT = 1e-12
"""Tolerance for values that are exact fractions up to float rounding."""


def test_hand_counted_tanimoto_similarities():
    molecules = MoleculeSet([ETHANE, PROPANE, METHANOL, METHANE])
    expected = [
        [1, 1 / 5, 1 / 4, 0],
        [1 / 5, 1, 1 / 6, 0],
        [1 / 4, 1 / 6, 1, 0],
        [0, 0, 0, 1],
    ]
    fingerprints = molecules.fingerprints
    np.testing.assert_allclose(tanimoto_matrix(fingerprints, fingerprints), expected, atol=EXACT)


def test_a_molecule_set_keeps_one_fingerprint_per_distinct_molecule():
    molecules = MoleculeSet([ETHANE, "C(C)", "not smiles", PROPANE])
    assert molecules.valid.tolist() == [True, True, False, True]
    assert molecules.unique == [ETHANE, PROPANE]
    assert molecules.unique_index.tolist() == [0, 0, 1] and molecules.counts.tolist() == [2, 1]
    assert len(molecules.fingerprints) == 2 and len(molecules.scaffolds) == 2
    assert molecules.scaffolds is molecules.scaffolds  # computed once, then kept


def test_validity_counts_smiles_that_parse_and_sanitize():
    # unclosed ring, empty string and a pentavalent carbon are invalid
    molecules = MoleculeSet(["CCO", "C1CC", "", "C(C)(C)(C)(C)C", "c1ccccc1"])
    assert validity(molecules) == 2 / 5


def test_uniqueness_compares_canonical_smiles_of_valid_samples():
    molecules = MoleculeSet(["CCO", "OCC", "c1ccccc1", "C1=CC=CC=C1", "CCN", "C1CC"])
    assert uniqueness(molecules) == 3 / 5


def test_novelty_is_the_fraction_of_distinct_molecules_outside_the_reference():
    molecules = MoleculeSet(["CCO", "OCC", "CCN", "C1CC"])
    reference = MoleculeSet(["C(O)C", "not smiles"])
    assert novelty(molecules, reference) == 1 / 2  # CCN is new, ethanol (twice) is not


def test_internal_diversity_is_the_mean_distance_over_pairs_of_samples():
    # pairs: ethane-propane 1 - 1/5, ethane-methane 1, propane-methane 1
    assert internal_diversity(MoleculeSet([ETHANE, PROPANE, METHANE])) == pytest.approx(
        (4 / 5 + 1 + 1) / 3, abs=EXACT
    )
    # a repeat is a pair at distance 0: (0 + 4/5 + 4/5) / 3
    assert internal_diversity(MoleculeSet([ETHANE, ETHANE, PROPANE])) == pytest.approx(
        8 / 15, abs=EXACT
    )
    assert internal_diversity(MoleculeSet([ETHANE] * 5)) == 0.0
    assert math.isnan(internal_diversity(MoleculeSet([ETHANE, "C1CC"])))


def test_internal_diversity_of_a_large_set_is_an_unbiased_subsample_estimate():
    molecules = MoleculeSet([ETHANE, PROPANE, METHANE])
    # 3 distinct molecules > sample size 2: each seed gives the distance of one pair
    estimates = [internal_diversity(molecules, sample_size=2, seed=seed) for seed in range(300)]
    assert set(np.round(estimates, 12)) == {0.8, 1.0}
    # the mean of 300 draws of {0.8, 1, 1} has standard error 0.0054; allow 5 of them
    assert np.mean(estimates) == pytest.approx(14 / 15, abs=0.027)


def test_scaffold_counts_and_entropy():
    molecules = MoleculeSet(["c1ccccc1", "Cc1ccccc1", "Cc1ccncc1", "CCO"])
    assert scaffold_counts(molecules) == {"c1ccccc1": 2, "c1ccncc1": 1, ACYCLIC: 1}
    assert number_of_scaffolds(molecules) == 3
    # frequencies 1/2, 1/4, 1/4: H = 1/2 ln 2 + 2 * 1/4 ln 4 = 3/2 ln 2 nats
    assert scaffold_entropy(molecules) == pytest.approx(1.5 * math.log(2), abs=EXACT)
    assert scaffold_entropy(MoleculeSet(["c1ccccc1", "Oc1ccccc1"])) == 0.0


# Samples and rewards for the reward metrics; the invalid row's reward is ignored.
SAMPLES = [ETHANE, PROPANE, METHANE, ETHANE, METHANOL, "C1CC"]
REWARDS = np.array([0.8, 0.9, 0.3, 0.8, 0.6, 5.0])


# RDKit path fingerprints (bond paths of 1-7 bonds, 2 bits each) of the n-alkanes:
# ethane {C-C}, propane {C-C, C-C-C}, butane {C-C, C-C-C, C-C-C-C}, so s(ethane, propane)
# = 2/4, s(propane, butane) = 4/6 and s(ethane, butane) = 2/6; methanol {C-O} shares
# nothing with them and methane has no bond at all (an empty fingerprint).
BUTANE = "CCCC"
ALKANES = [ETHANE, PROPANE, BUTANE]


def test_mode_fingerprints_are_rdkit_path_fingerprints():
    molecules = MoleculeSet([*ALKANES, METHANOL, METHANE])
    fingerprints = molecules.path_fingerprints(np.arange(5))
    assert [fp.GetNumOnBits() for fp in fingerprints] == [2, 4, 6, 2, 0]
    np.testing.assert_allclose(
        tanimoto_matrix(fingerprints[:3], fingerprints[:3]),
        [[1, 1 / 2, 1 / 3], [1 / 2, 1, 2 / 3], [1 / 3, 2 / 3, 1]],
        atol=EXACT,
    )


@pytest.mark.parametrize(
    ("samples", "rewards", "modes"),
    [
        # ethane is the first mode; propane (s = 1/2) is too close; butane is 1/3 from
        # ethane: a mode, although propane, the best, is close to both
        (ALKANES, [0.6, 0.9, 0.7], 2),
        # propane first: it covers both ethane and butane
        ([PROPANE, ETHANE, BUTANE], [0.9, 0.6, 0.7], 1),
        # a repeat and a molecule below the reward threshold are never modes
        ([ETHANE, ETHANE, METHANOL, PROPANE], [0.6, 0.6, 0.2, 0.9], 1),
    ],
)
def test_modes_are_kept_greedily_in_sampling_order(samples, rewards, modes):
    assert number_of_modes(MoleculeSet(samples), np.array(rewards), 0.5, 0.4) == modes


def test_a_reward_at_the_threshold_is_a_mode_and_a_similarity_at_it_is_not():
    molecules = MoleculeSet(ALKANES)
    rewards = np.array([0.6, 0.9, 0.7])
    assert number_of_modes(molecules, rewards, 0.9, 0.4) == 1
    assert number_of_modes(molecules, rewards, 0.91, 0.4) == 0
    # s(ethane, propane) = 1/2 is not below 1/2; butane is 1/3 from ethane
    assert number_of_modes(molecules, rewards, 0.5, 0.5) == 2
    assert number_of_modes(molecules, rewards, 0.5, 0.7) == 3


@pytest.mark.parametrize("similarity_threshold", [0.3, 0.5, 0.7])
def test_modes_agree_with_the_greedy_loop_on_drugs(similarity_threshold):
    smiles = pd.read_csv(files("gfncompose.data") / "drugs.csv")["smiles"].tolist()[:300]
    rewards = np.random.default_rng(0).uniform(size=len(smiles))
    modes = []
    for text, reward in zip(smiles, rewards, strict=True):
        mol = Chem.MolFromSmiles(text)
        if mol is None or reward < 0.3:
            continue
        fingerprint = Chem.RDKFingerprint(mol)
        if all(
            DataStructs.TanimotoSimilarity(fingerprint, mode) < similarity_threshold
            for mode in modes
        ):
            modes.append(fingerprint)
    assert number_of_modes(MoleculeSet(smiles), rewards, 0.3, similarity_threshold) == len(modes)


def test_top_k_counts_each_distinct_molecule_once():
    molecules = MoleculeSet(SAMPLES)
    # top 2 distinct: propane 0.9 and ethane 0.8 (not ethane twice)
    assert top_k_mean_reward(molecules, REWARDS, k=2) == pytest.approx(0.85, abs=EXACT)
    assert top_k_diversity(molecules, REWARDS, k=2) == pytest.approx(1 - 1 / 5, abs=EXACT)
    # k beyond the 4 distinct molecules takes them all
    assert top_k_mean_reward(molecules, REWARDS, k=10) == pytest.approx(0.65, abs=EXACT)


def test_rewards_must_match_the_samples():
    with pytest.raises(ValueError, match="expected 6 rewards"):
        top_k_mean_reward(MoleculeSet(SAMPLES), REWARDS[:3])
    with pytest.raises(ValueError, match="not a finite number"):
        number_of_modes(MoleculeSet(SAMPLES), np.where(REWARDS > 0.85, np.nan, REWARDS), 0.5)


def test_reward_cells_split_samples_at_each_threshold():
    qed = np.array([0.9, 0.2, 0.6, 0.1, 0.5])
    sa = np.array([0.8, 0.9, 0.1, 0.2, 0.7])
    assert reward_cells({"qed": qed, "sa": sa}, {"qed": 0.5, "sa": 0.5}) == {
        "qed=high,sa=high": 2 / 5,  # rows 0 and 4 (qed = 0.5 is high: at the threshold)
        "qed=high,sa=low": 1 / 5,
        "qed=low,sa=high": 1 / 5,
        "qed=low,sa=low": 1 / 5,
    }


def test_reward_cells_are_the_joint_cells_of_all_thresholded_rewards():
    rng = np.random.default_rng(0)
    rewards = {name: rng.uniform(size=50) for name in ("seh", "sa", "qed", "unused")}
    thresholds = {"seh": 0.5, "sa": 0.6, "qed": 0.25}
    cells = reward_cells(rewards, thresholds)
    assert list(cells)[:2] == ["seh=high,sa=high,qed=high", "seh=high,sa=high,qed=low"]
    assert len(cells) == 8 and list(cells)[-1] == "seh=low,sa=low,qed=low"
    assert sum(cells.values()) == pytest.approx(1.0, abs=EXACT)
    high = {name: rewards[name] >= t for name, t in thresholds.items()}
    in_cell = high["seh"] & ~high["sa"] & high["qed"]
    assert cells[cell_name({"seh": "high", "sa": "low", "qed": "high"})] == in_cell.mean()


def test_weighted_reward_cells_are_shares_of_the_weight():
    qed = np.array([0.9, 0.2, 0.6])
    cells = reward_cells({"qed": qed}, {"qed": 0.5}, weights=np.array([1.0, 2.0, 5.0]))
    assert cells == {"qed=high": pytest.approx(6 / 8), "qed=low": pytest.approx(2 / 8)}
    assert reward_cells({"qed": qed}, {}) == {}


def test_tanimoto_ground_distance_is_one_over_s_minus_one_clipped():
    similarity = np.array([1.0, 0.5, 0.2, 0.01, 0.0])
    expected = [0.0, 1.0, 4.0, 99.0, MAX_TANIMOTO_DISTANCE]
    np.testing.assert_allclose(tanimoto_ground_distance(similarity), expected, atol=1e-9)


def test_earth_movers_distance_matches_by_hand():
    # ethane -> propane (d = 5 - 1 = 4) and methane -> methane (0); the other matching
    # pairs methane with a molecule it shares nothing with (100 each)
    a, b = MoleculeSet([ETHANE, METHANE]), MoleculeSet([PROPANE, METHANE])
    assert earth_movers_distance(a, b) == pytest.approx(4 / 2, abs=EXACT)
    assert earth_movers_distance(b, a) == pytest.approx(4 / 2, abs=EXACT)
    assert earth_movers_distance(a, MoleculeSet([METHANE, "C(C)"])) == 0.0
    # a repeat is one more sample: ethane -> ethane (0), ethane -> propane (4)
    repeated = MoleculeSet([ETHANE, ETHANE])
    assert earth_movers_distance(repeated, MoleculeSet([PROPANE, ETHANE])) == pytest.approx(2.0)


def test_earth_movers_distance_draws_equally_many_samples_from_each_set():
    one, two = MoleculeSet([ETHANE]), MoleculeSet([ETHANE, PROPANE])
    # one sample of `two` is drawn: ethane (distance 0) or propane (distance 4)
    distances = [earth_movers_distance(one, two, seed=seed) for seed in range(20)]
    assert set(np.round(distances, 12)) == {0.0, 4.0}


def test_earth_movers_distance_uses_the_chosen_morgan_radius():
    # one sample each: the distance is the ground distance of the pair; radius 3 sees
    # larger environments of these drugs than radius 2, so they share a smaller fraction
    aspirin, paracetamol = "CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1"
    a, b = MoleculeSet([aspirin]), MoleculeSet([paracetamol])
    mols = [Chem.MolFromSmiles(aspirin), Chem.MolFromSmiles(paracetamol)]
    for radius in (2, 3):
        fps = [morgan_bits(mol, radius, N_BITS) for mol in mols]
        similarity = DataStructs.TanimotoSimilarity(*fps)
        expected = tanimoto_ground_distance(np.array(similarity))
        assert earth_movers_distance(a, b, radius=radius) == pytest.approx(expected, abs=EXACT)
    assert earth_movers_distance(a, b, radius=3) > earth_movers_distance(a, b, radius=2)


def test_transport_with_general_weights_agrees_with_the_assignment():
    rng = np.random.default_rng(0)
    cost = rng.uniform(0, 5, size=(6, 6))
    assignment = transport_cost(cost, np.ones(6), np.ones(6))
    # each target point split into two copies of half the mass: the same distributions,
    # now 6 x 12, so solved by the linear program
    split = transport_cost(np.repeat(cost, 2, axis=1), np.ones(6), np.ones(12))
    assert split == pytest.approx(assignment, abs=1e-9)
    # mass 1/2, 1/2 to 1/4, 3/4 at distance 1 across: a quarter moves
    assert transport_cost(np.array([[0, 1], [1, 0]]), [1, 1], [1, 3]) == pytest.approx(0.25)


def test_summarize_is_one_row_of_every_metric():
    molecules = MoleculeSet(SAMPLES)
    row = summarize(
        molecules,
        {"r": REWARDS, "s": 1 - REWARDS},
        {"r": 0.5, "s": 0.5},
        reference=MoleculeSet([ETHANE]),
        k=2,
    )
    assert list(row)[:10] == [
        "samples", "valid", "unique", "validity", "uniqueness", "novelty",
        "internal_diversity", "scaffolds", "scaffold_entropy", "mean_r",
    ]  # fmt: skip
    assert (row["samples"], row["valid"], row["unique"]) == (6, 5, 4)
    assert row["novelty"] == 3 / 4 and row["scaffolds"] == 1  # all acyclic
    assert row["mean_r"] == pytest.approx((0.8 + 0.9 + 0.3 + 0.8 + 0.6) / 5, abs=EXACT)
    assert row["top2_mean_r"] == pytest.approx(0.85, abs=EXACT)
    assert row["modes_r"] == number_of_modes(molecules, REWARDS, 0.5)
    # valid samples: r high and s low except methane (r = 0.3, s = 0.7)
    assert row[cell_name({"r": "high", "s": "low"})] == pytest.approx(4 / 5, abs=EXACT)
    assert row[cell_name({"r": "low", "s": "high"})] == pytest.approx(1 / 5, abs=EXACT)
    assert row["r=high,s=high"] == row["r=low,s=low"] == 0.0
    with pytest.raises(ValueError, match="not among the scores"):
        summarize(molecules, {"r": REWARDS}, {"qed": 0.5})


def test_modes_count_at_their_own_threshold():
    molecules = MoleculeSet(SAMPLES)
    scores, thresholds = {"r": REWARDS, "s": 1 - REWARDS}, {"r": 0.5}
    row = summarize(molecules, scores, thresholds, mode_thresholds={"r": 0.85, "s": 0.6})
    assert row["modes_r"] == number_of_modes(molecules, REWARDS, 0.85) == 1  # propane only
    assert row["modes_s"] == number_of_modes(molecules, 1 - REWARDS, 0.6) == 1  # methane
    # a mode threshold alone does not split a score into cells
    assert {"r=high", "r=low"} <= set(row) and "s=high" not in row
