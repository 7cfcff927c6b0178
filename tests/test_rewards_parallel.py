"""The process pool gives exactly the serial scores; every reward survives pickling."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from conftest import SHARED_DATA
from rdkit import Chem

from gfncompose.rewards import REWARD_FLOOR, REWARDS, base, make_reward, parallel
from gfncompose.rewards.parallel import available_workers

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "example_molecules.csv"
SEH_WEIGHTS = SHARED_DATA / "seh_proxy_bengio2021.pkl.gz"
PARAMS = {
    "similarity": {"references": ["c1ccccc1O"]},
    "smarts": {"forbid": ["[OH]"]},
    "seh": {"path": str(SEH_WEIGHTS)},
}

POOL_OWNER = """
import time
from rdkit import Chem
from gfncompose.rewards import make_reward
if __name__ == "__main__":
    reward = make_reward("qed")
    reward.parallel_min_batch = 1
    reward.score([Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1", "CCN", "CCCl")])
    print(*reward._pool._executor._processes, flush=True)
    time.sleep(600)
"""


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


@pytest.mark.skipif(available_workers() < 2, reason="a process pool needs at least 2 CPUs")
def test_pool_workers_end_with_the_process_that_owns_them():
    owner = subprocess.Popen([sys.executable, "-c", POOL_OWNER], stdout=subprocess.PIPE, text=True)
    workers = [psutil.Process(int(pid)) for pid in owner.stdout.readline().split()]
    assert len(workers) >= 2
    owner.kill()  # no shutdown: as a Ray worker or a crashed run ends
    owner.wait()
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == [], f"pool workers {alive} outlived their owner"


def test_a_worker_limit_caps_the_pool(monkeypatch):
    monkeypatch.setattr(parallel, "_cpu_limit", None)
    parallel.limit_workers(1)
    assert available_workers() == 1
    parallel.limit_workers(None)
    assert available_workers() == len(os.sched_getaffinity(0))


def test_no_pool_on_a_single_cpu(monkeypatch, mols):
    monkeypatch.setattr(base, "available_workers", lambda: 1)
    reward = make_reward("qed")
    reward.parallel_min_batch = 1
    reward.score(mols)
    assert reward._pool is None
