"""The process pool gives exactly the serial scores; every reward survives pickling."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from rdkit import Chem

from gfncompose.rewards import REWARD_FLOOR, REWARDS, base, make_reward
from gfncompose.rewards.parallel import available_workers

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "example_molecules.csv"
SEH_WEIGHTS = SHARED_DATA / "seh_proxy_bengio2021.pkl.gz"
PARAMS = {
    "similarity": {"references": ["c1ccccc1O"]},
    "smarts": {"forbid": ["[OH]"]},
    "seh": {"path": str(SEH_WEIGHTS)},
}


@pytest.fixture(scope="module")
def mols():
    return [Chem.MolFromSmiles(s) for s in pd.read_csv(EXAMPLES)["smiles"]]


@pytest.mark.parametrize("name", sorted(set(REWARDS) - {"proxy"}))  # proxy: in test_rewards_proxy
def test_pickled_reward_scores_like_the_original(name, mols):
    if name == "seh" and not SEH_WEIGHTS.is_file():
        pytest.skip(f"{SEH_WEIGHTS} is absent: the published sEH proxy is shared test data")
    reward = make_reward(name, **PARAMS.get(name, {}))
    copy = pickle.loads(pickle.dumps(reward))
    np.testing.assert_array_equal(copy.score(mols), reward.score(mols))


@pytest.mark.skipif(available_workers() < 2, reason="a process pool needs at least 2 CPUs")
# seh never scores in a pool (a batched float32 network: its sums round with the batch's
# composition, so pooled chunks differ from one batch in the last bits)
@pytest.mark.parametrize("name", sorted(set(REWARDS) - {"proxy", "seh"}))
def test_pool_scores_equal_serial_scores(name, mols):
    serial = make_reward(name, **PARAMS.get(name, {}))
    serial.parallel_min_batch = None
    pooled = make_reward(name, **PARAMS.get(name, {}))
    pooled.parallel_min_batch = 1
    batch = [*mols, None, Chem.MolFromSmiles("CC(C)(C)(C)(C)C", sanitize=False)]
    values = pooled.score(batch)
    assert pooled._pool is not None
    np.testing.assert_array_equal(values, serial.score(batch))
    assert values[-2:].tolist() == [REWARD_FLOOR, REWARD_FLOOR]


def test_no_pool_on_a_single_cpu(monkeypatch, mols):
    monkeypatch.setattr(base, "available_workers", lambda: 1)
    reward = make_reward("qed")
    reward.parallel_min_batch = 1
    reward.score(mols)
    assert reward._pool is None
