"""The `seh` reward: the published sEH proxy of Bengio et al. (2021), clip(proxy / 8, 1e-4, 100).

Reference outputs are the literature's loader run on the published weights; the
proxy must reproduce them to 1e-4 (float32 sums in another order differ by ~1e-5).
"""

import gzip
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_DATA
from rdkit import Chem

from gfncompose.envs import FragmentEnv, read_blocks_json
from gfncompose.errors import UserError
from gfncompose.policy import UniformPolicy
from gfncompose.rewards import REWARD_FLOOR, make_reward, make_rewards
from gfncompose.rewards import seh as seh_module
from gfncompose.rewards.seh import REWARD_MIN, WEIGHT_SHAPES, load_seh_weights
from gfncompose.rewards.seh_features import EDGE_FEATURES, SELF_LOOP, featurize
from gfncompose.sampler import sample_terminal

WEIGHTS = SHARED_DATA / "seh_proxy_bengio2021.pkl.gz"
needs_weights = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason="../shared/data (the published sEH weights) is absent"
)
PUBLISHED_FILE_PROTOCOL = 3
"""Pickle protocol of the published weights file; test files are written the same way."""

REFERENCE = {  # SMILES: (raw proxy output, reward)
    "CC(=O)Oc1ccccc1C(=O)O": (2.48992, 0.311240),
    "CC(=O)Nc1ccc(O)cc1": (2.43621, 0.304527),
    "O=C(NC12CC3CC(CC(C3)C1)C2)N[C@H]1CC[C@H](OCc2c(F)cccc2F)CC1": (3.50698, 0.438373),
    "O=C(NC1CCc2ccccc2CC1)N1CCC(c2nc(-c3ccccn3)no2)CC1": (7.62644, 0.953305),
    "NC(=O)C1=CC([SH](=O)=O)CCC1": (1.72149, 0.215186),
}
RAW_TOLERANCE = 1e-4
REWARD_TOLERANCE = RAW_TOLERANCE / 8 + 5e-7  # the raw tolerance through /8, plus rounding
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def mols(*smiles):
    return [Chem.MolFromSmiles(s) for s in smiles]


@pytest.fixture(scope="module")
def seh():
    return make_reward("seh", path=str(WEIGHTS))


def write_pickle(path, content):
    with gzip.open(path, "wb") as file:
        pickle.dump(content, file, protocol=PUBLISHED_FILE_PROTOCOL)
    return path


def zero_weights():
    return [np.zeros(shape, dtype=np.float32) for shape in WEIGHT_SHAPES]


# -- the published numbers ------------------------------------------------------------------


@needs_weights
@pytest.mark.parametrize(("smiles", "expected"), REFERENCE.items(), ids=range(len(REFERENCE)))
def test_reference_molecules_match_the_published_proxy(seh, smiles, expected):
    raw, reward = expected
    assert seh.predict(mols(smiles))[0] == pytest.approx(raw, abs=RAW_TOLERANCE)
    seh.clear_cache()
    assert seh.score(mols(smiles))[0] == pytest.approx(reward, abs=REWARD_TOLERANCE)


@needs_weights
def test_reward_is_the_proxy_over_eight_clipped(seh):
    batch = mols(*REFERENCE, "C", "O", "[Na+].[Cl-]")
    seh.clear_cache()
    expected = np.clip(seh.predict(batch) / 8, 1e-4, 100)
    np.testing.assert_allclose(seh.score(batch), expected, rtol=1e-12)
    assert seh.score(mols("C"))[0] == REWARD_MIN  # methane's raw output is negative


@needs_weights
def test_batch_size_does_not_change_a_score(seh, monkeypatch):
    chembl = pd.read_csv(SHARED_DATA / "seh_chembl.csv", sep=";")["Smiles"].dropna().unique()
    batch = mols(*REFERENCE, "C", "[Na+].[Cl-]", *chembl[:60])
    seh.clear_cache()
    together = seh.score(batch)
    one_by_one = []
    for mol in batch:
        seh.clear_cache()
        one_by_one.append(seh.score([mol])[0])
    monkeypatch.setattr(seh_module, "MOLECULES_PER_FORWARD", 7)  # forwards split mid-batch
    seh.clear_cache()
    in_chunks = seh.score(batch)
    np.testing.assert_allclose(together, one_by_one, rtol=0, atol=1e-5)
    np.testing.assert_allclose(together, in_chunks, rtol=0, atol=1e-5)


@needs_weights
def test_chembl_inhibitors_score_higher_than_random_fragment_molecules(seh):
    chembl = pd.read_csv(SHARED_DATA / "seh_chembl.csv", sep=";")["Smiles"].dropna().unique()
    inhibitors = mols(*np.random.default_rng(0).choice(chembl, 256, replace=False))
    env = FragmentEnv(read_blocks_json(SHARED_DATA / "blocks_PDB_105.json"))
    torch.manual_seed(0)
    random_mols = env.to_mols(sample_terminal(UniformPolicy(env), 256))
    inhibitor_mean, random_mean = seh.score(inhibitors).mean(), seh.score(random_mols).mean()
    # Measured: 0.53 vs 0.38; a proxy of sEH binding must rank real inhibitors higher.
    assert inhibitor_mean > random_mean, (inhibitor_mean, random_mean)


# -- molecules the proxy cannot read ---------------------------------------------------------


@needs_weights
def test_unreadable_molecule_gets_the_lowest_reward_without_spoiling_the_batch(seh):
    aspirin = seh.score(mols(ASPIRIN))[0]
    seh.clear_cache()
    # platinum (Z = 78 > 56), a dummy atom (Z = 0), a dative bond: no input for any.
    batch = mols("[Pt]", ASPIRIN, "C[Hg]C", "*CC", "C[NH2]->[Cu]")
    assert all(mol is not None for mol in batch)
    scores = seh.score(batch)
    assert scores.tolist() == [REWARD_MIN, aspirin, REWARD_MIN, REWARD_MIN, REWARD_MIN]
    assert seh.score([None, Chem.Mol()]).tolist() == [REWARD_FLOOR, REWARD_FLOOR]


@needs_weights
def test_explicit_hydrogen_atoms_count_as_implicit_ones(seh):
    plain, with_hydrogens = seh.predict([Chem.MolFromSmiles(ASPIRIN), Chem.AddHs(mols(ASPIRIN)[0])])
    assert with_hydrogens == pytest.approx(plain, abs=1e-6)


# -- featurisation ----------------------------------------------------------------------------


def test_atom_features_follow_the_published_layout():
    graph, readable = featurize(mols("C#N", "c1ccccc1", "[Ba]", "CS(C)(=O)=O"))
    assert readable == [0, 1, 2, 3]
    x = graph.x
    assert x.shape == (2 + 6 + 1 + 5, 71)
    carbon, nitrogen, benzene_carbon, barium, sulfur = x[0], x[1], x[2], x[8], x[10]

    def ones(row):
        return torch.nonzero(row).flatten().tolist()

    # element one-hot (0-5), aromatic (9), hybridisation (10-12), H count (13), 13 + Z
    assert ones(carbon) == [1, 10, 13, 19] and carbon[13] == 1
    assert ones(nitrogen) == [2, 10, 20]
    assert ones(benzene_carbon) == [1, 9, 11, 13, 19] and benzene_carbon[13] == 1
    assert barium[[5, 69]].tolist() == [1, 1] and barium[[*range(5), 13]].sum() == 0  # Z = 56
    assert ones(sulfur) == [5, 12, 29]  # sulfone: sp3, no hydrogens
    assert x[:, [6, 7, 8, 70]].abs().sum() == 0
    assert graph.batch.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3]


def test_bonds_are_two_sorted_directed_edges_with_one_hot_types():
    graph, _ = featurize(mols("OC=O", "C#C"))
    assert graph.edge_index.tolist() == [[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]]
    assert graph.edge_type.tolist() == [0, 0, 1, 1, 2, 2]
    graph, _ = featurize(mols("c1ccccc1"))
    assert EDGE_FEATURES[graph.edge_type].tolist() == [[0.0, 0.0, 0.0, 1.0]] * 12


def test_molecule_without_bonds_gets_one_self_loop_with_zero_features():
    graph, _ = featurize(mols("CC", "[Na+].[Cl-]"))
    assert graph.edge_index.tolist() == [[0, 1, 2], [1, 0, 2]]
    assert graph.edge_type[2] == SELF_LOOP
    assert EDGE_FEATURES[SELF_LOOP].tolist() == [0.0] * 4


# -- the weights file -------------------------------------------------------------------------


def test_missing_weights_file_says_where_the_literature_gets_it(tmp_path):
    missing = tmp_path / "best_params.pkl.gz"
    with pytest.raises(UserError, match=r"reward 'potency' \(kind 'seh'\): .*best_params") as info:
        make_rewards({"potency": {"kind": "seh", "path": str(missing)}})
    assert "GFNOrg/gflownet" in str(info.value)
    assert "mols/data/pretrained_proxy/best_params.pkl.gz" in str(info.value)


def test_pickle_calling_anything_but_numpy_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = write_pickle(tmp_path / "evil.pkl.gz", [Exploit()])
    with pytest.raises(UserError, match=r"evil\.pkl\.gz: refused to load: .*(os|posix)\.system"):
        load_seh_weights(path)
    assert not marker.exists()


def test_truncated_or_non_gzip_file_is_one_clear_error(tmp_path):
    whole = gzip.compress(pickle.dumps(zero_weights(), protocol=PUBLISHED_FILE_PROTOCOL))
    truncated = tmp_path / "truncated.pkl.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UserError, match=r"truncated\.pkl\.gz: not a gzipped pickle of NumPy"):
        load_seh_weights(truncated)
    text = tmp_path / "text.pkl.gz"
    text.write_text("not weights")
    with pytest.raises(UserError, match=r"text\.pkl\.gz: not a gzipped pickle of NumPy"):
        load_seh_weights(text)


def test_wrong_number_or_shape_of_arrays_is_named(tmp_path):
    weights = zero_weights()
    with pytest.raises(UserError, match=r"expected a list of 22 arrays .*found 21 items"):
        load_seh_weights(write_pickle(tmp_path / "short.pkl.gz", weights[:21]))
    with pytest.raises(UserError, match=r"expected a list of 22 arrays .*found a dict"):
        load_seh_weights(write_pickle(tmp_path / "dict.pkl.gz", {"weights": weights}))
    weights[0] = weights[0].T
    with pytest.raises(UserError, match=r"array 0 has shape \(71, 64\), expected \(64, 71\)"):
        load_seh_weights(write_pickle(tmp_path / "transposed.pkl.gz", weights))


def test_arrays_of_the_published_layout_load_as_float32(tmp_path):
    weights = load_seh_weights(write_pickle(tmp_path / "zeros.pkl.gz", zero_weights()))
    assert [tuple(w.shape) for w in weights] == list(WEIGHT_SHAPES)
    assert sum(w.numel() for w in weights) == 699_690
    assert all(w.dtype == torch.float32 for w in weights)


# -- device ----------------------------------------------------------------------------------


def test_unknown_device_is_refused(tmp_path):
    path = str(write_pickle(tmp_path / "zeros.pkl.gz", zero_weights()))
    with pytest.raises(UserError, match=r"parameter 'device' must be a torch device"):
        make_reward("seh", path=path, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"CUDA is not available"):
            make_reward("seh", path=path, device="cuda")


@needs_weights
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_scores_equal_cpu_scores(seh):
    on_gpu = make_reward("seh", path=str(WEIGHTS), device="cuda")
    batch = mols(*REFERENCE, "C", "[Na+].[Cl-]")
    np.testing.assert_allclose(on_gpu.predict(batch), seh.predict(batch), atol=RAW_TOLERANCE)
