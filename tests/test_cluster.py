"""Campaigns on a Ray cluster: the same artifacts as on one machine, faults retried, clear errors.

Every test runs on a local Ray instance started here (two CPUs, no dashboard), never any other
address. Torch uses one thread in this process, as in Ray's one-CPU workers, so that floating
point sums agree bit for bit between the serial path and the cluster.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import ray
import torch
from conftest import qed_sa_campaign, tiny_models, write_campaign

from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign.cluster import RayCluster
from gfncompose.campaign.config import ClusterSpec, Resources
from gfncompose.errors import UserError
from gfncompose.rewards.parallel import available_workers

CAMPAIGN = qed_sa_campaign(
    tiny_models()
    + """
[sampling]
batch_size = 8
base_samples = 8
[compositions.both]
expr = "harmonic_mean(qed, sa)"
samples = 20
""",
    seed=5,
    environment="max_fragments = 2",
)


@pytest.fixture(scope="module")
def local_ray():
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def campaign_file(tmp_path):
    return write_campaign(tmp_path, CAMPAIGN)


def trained_serially(campaign_file, output):
    runner = CampaignRunner(load_campaign(campaign_file, output=output), progress=False)
    runner.train_bases()
    runner.train_classifier()
    return runner


def test_a_set_sampled_on_the_cluster_equals_the_serial_one(local_ray, campaign_file, tmp_path):
    serial = trained_serially(campaign_file, tmp_path / "serial")
    expected = pd.read_csv(serial.sample("both"), keep_default_na=False)
    shutil.copytree(tmp_path / "serial", tmp_path / "cluster")
    shutil.rmtree(tmp_path / "cluster" / "samples")
    campaign = load_campaign(campaign_file, output=tmp_path / "cluster", ray="local")
    runner = CampaignRunner(campaign, progress=False, cluster=RayCluster(campaign.cluster))
    got = pd.read_csv(runner.sample("both"), keep_default_na=False)
    assert len(got) == 20
    pd.testing.assert_frame_equal(got, expected)
    assert not (tmp_path / "cluster" / "samples" / "both.chunks").exists()


def test_bases_trained_on_the_cluster_are_reused_without_it(local_ray, campaign_file, tmp_path):
    campaign = load_campaign(campaign_file, output=tmp_path / "out", ray="local")
    runner = CampaignRunner(campaign, progress=False, cluster=RayCluster(campaign.cluster))
    runner.train_classifier()
    serial = CampaignRunner(load_campaign(campaign_file, output=tmp_path / "out"), progress=False)
    layout = serial.layout
    results = [layout.result(layout.base_dir(n)) for n in ("qed", "sa")]
    results.append(layout.result(layout.classifier_dir()))
    stamps = [path.stat().st_mtime_ns for path in results]
    serial.train_classifier()
    assert [path.stat().st_mtime_ns for path in results] == stamps  # loaded, not retrained
    reference = trained_serially(campaign_file, tmp_path / "reference")
    for name in ("qed", "sa"):
        for a, b in zip(
            serial.train_bases()[name].state_dict().values(),
            reference.train_bases()[name].state_dict().values(),
            strict=True,
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def kill_first_chunk_worker(killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set() and not killed:
        for process in psutil.process_iter(["pid", "cmdline"]):
            if any("ray::_sample_chunk" in part for part in process.info["cmdline"] or []):
                process.kill()
                killed.append(process.info["pid"])
                return
        time.sleep(0.005)


def test_a_killed_worker_is_retried_and_no_chunk_is_lost_or_duplicated(
    local_ray, campaign_file, tmp_path
):
    serial = trained_serially(campaign_file, tmp_path / "serial")
    expected = pd.read_csv(serial.sample("both"), keep_default_na=False)
    campaign = load_campaign(campaign_file, output=tmp_path / "serial", ray="local")
    cluster = RayCluster(campaign.cluster)
    chunks = [(0, 8, 101), (1, 8, 102), (2, 4, 103)]
    seen: list[int] = []
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_first_chunk_worker, args=(killed, stop))
    killer.start()
    try:
        tables = {}

        def done(index, chunk):
            seen.append(index)
            tables[index] = chunk.table

        cluster.sample_chunks(campaign, "both", "harmonic_mean", chunks, done)
    finally:
        stop.set()
        killer.join()
    assert killed, "no chunk worker was running to be killed"
    assert sorted(seen) == [0, 1, 2]
    assert [len(tables[i]) for i in range(3)] == [8, 8, 4]
    assert expected.columns.tolist() == tables[0].columns.tolist()


def test_resources_that_no_node_has_are_refused_before_any_work(local_ray):
    spec = ClusterSpec("local", base=Resources(cpus=1, gpus=1))
    message = r"\[cluster.base\] asks cpus=1, gpus=1 per task, which no node"
    with pytest.raises(UserError, match=message):
        RayCluster(spec)


def test_reward_pools_in_a_task_use_only_the_task_s_cpus(local_ray):
    cluster = RayCluster(ClusterSpec("local"))
    pool_workers = lambda _: available_workers()  # noqa: E731 (a lambda travels by value)
    assert cluster.map(pool_workers, [0, 1], Resources(cpus=1)) == [1, 1]
    assert cluster.map(pool_workers, [0], Resources(cpus=2)) == [2]


def test_an_unreachable_cluster_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    start = time.perf_counter()
    with pytest.raises(UserError, match="cannot reach the Ray cluster at '127.0.0.1:9'"):
        RayCluster(ClusterSpec("127.0.0.1:9"))
    assert time.perf_counter() - start < 30  # not Ray's minutes of retries


def test_a_missing_ray_package_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match=r"pip install 'gfncompose\[ray\]'"):
        RayCluster(ClusterSpec("local"))


def test_the_cluster_table_is_read_and_checked(campaign_file):
    text = campaign_file.read_text()
    campaign_file.write_text(text + '[cluster]\naddress = "auto"\n[cluster.base]\ngpus = 1\n')
    spec = load_campaign(campaign_file).cluster
    assert spec == ClusterSpec("auto", base=Resources(cpus=1.0, gpus=1.0))
    assert load_campaign(campaign_file, ray="10.0.0.1:6379").cluster.address == "10.0.0.1:6379"
    campaign_file.write_text(text + "[cluster]\naddress = 'auto'\n[cluster.sampling]\ncpus = 0\n")
    with pytest.raises(UserError, match=r"\[cluster.sampling\]: a task needs some CPUs or GPUs"):
        load_campaign(campaign_file)


def test_without_a_cluster_nothing_imports_ray(campaign_file, tmp_path):
    import subprocess

    code = (
        "import sys; from gfncompose.cli import main; "
        f"main(['train-base', {str(campaign_file)!r}, '-o', {str(tmp_path / 'o')!r}, "
        "'--base', 'qed', '--quiet']); assert 'ray' not in sys.modules, 'ray was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


def test_scoring_on_the_cluster_equals_serial_scoring(local_ray, tmp_path):
    from gfncompose.cli import main

    examples = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "example_molecules.csv")
    source = tmp_path / "in.csv"
    examples[["smiles"]].head(40).to_csv(source, index=False)
    serial, remote = tmp_path / "serial.csv", tmp_path / "remote.csv"
    assert main(["score", str(source), "--rewards", "qed,sa", "-o", str(serial)]) == 0
    argv = ["score", str(source), "--rewards", "qed,sa", "-o", str(remote), "--ray", "local"]
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(remote), pd.read_csv(serial))
