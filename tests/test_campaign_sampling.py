"""Sample sets are chunks with seeds of their own: a rerun after a crash samples only the
missing chunks, and the set does not depend on where, in how many processes or in which order
chunks ran."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from conftest import qed_sa_campaign, write_campaign

import gfncompose.campaign.runner as runner_module
from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign.sampling import chunk_seed, chunk_sizes, sample_chunks_in_processes
from gfncompose.errors import UserError

CAMPAIGN = qed_sa_campaign(
    """
[training]
steps = 3
batch_size = 4
hidden = 16
num_layers = 1
[classifier]
steps = 3
batch_size = 4
hidden = 16
num_layers = 1
[sampling]
batch_size = 5
base_samples = 5
[compositions.both]
expr = "harmonic_mean(qed, sa)"
samples = 13
""",
    seed=2,
    environment="max_fragments = 2",
)


class Crash(Exception):
    pass


def test_chunks_cover_the_set_and_have_distinct_stable_seeds():
    assert chunk_sizes(13, 5) == [5, 5, 3]
    assert chunk_sizes(10, 5) == [5, 5]
    seeds = {chunk_seed(0, name, i) for name in ("a", "b") for i in range(50)}
    assert len(seeds) == 100
    assert chunk_seed(3, "both", 7) == chunk_seed(3, "both", 7)
    assert chunk_seed(3, "both", 7) != chunk_seed(4, "both", 7)


def test_a_rerun_after_a_crash_samples_only_the_missing_chunks(tmp_path, monkeypatch):
    path = write_campaign(tmp_path, CAMPAIGN)
    straight = CampaignRunner(load_campaign(path, output=tmp_path / "straight"), progress=False)
    expected = pd.read_csv(straight.sample("both"), keep_default_na=False)

    calls = []
    original = runner_module.sample_chunk

    def crashing_after_two(*args):
        if len(calls) == 2:
            raise Crash
        calls.append(args[-1])  # the chunk's seed
        return original(*args)

    campaign = load_campaign(path, output=tmp_path / "resumed")
    CampaignRunner(campaign, progress=False).train_classifier()
    monkeypatch.setattr(runner_module, "sample_chunk", crashing_after_two)
    with pytest.raises(Crash):
        CampaignRunner(campaign, progress=False).sample("both")
    assert len(list((tmp_path / "resumed" / "samples" / "both.chunks").iterdir())) == 2

    calls.clear()
    got = pd.read_csv(
        CampaignRunner(campaign, progress=False).sample("both"), keep_default_na=False
    )
    assert calls == [chunk_seed(2, "both", 2)]  # the third chunk only
    pd.testing.assert_frame_equal(got, expected)
    assert not (tmp_path / "resumed" / "samples" / "both.chunks").exists()


def test_a_set_sampled_in_processes_is_the_set_sampled_here(tmp_path, monkeypatch):
    """``[sampling] processes = 2``: the chunks of a guided set and of a base's are drawn in two
    processes of their own with the same seeds, so every molecule and score is the one drawn
    here."""
    eight = CAMPAIGN.replace("base_samples = 5", "base_samples = 8")  # two chunks
    path = write_campaign(tmp_path, eight)
    here = CampaignRunner(load_campaign(path, output=tmp_path / "run"), progress=False)
    expected = {
        name: pd.read_csv(here.sample(name), keep_default_na=False) for name in ("both", "qed")
    }
    shutil.rmtree(tmp_path / "run" / "samples")  # the bases and the classifier stay

    text = eight.replace("[sampling]", "[sampling]\nprocesses = 2")
    campaign = load_campaign(write_campaign(tmp_path / "k2", text), output=tmp_path / "run")
    assert campaign.sampling_processes == 2

    def not_here(*args):
        raise AssertionError("a chunk was sampled in this process")

    monkeypatch.setattr(runner_module, "sample_chunk", not_here)
    runner = CampaignRunner(campaign, progress=False)
    for name, table in expected.items():
        pd.testing.assert_frame_equal(
            pd.read_csv(runner.sample(name), keep_default_na=False), table
        )


class DiesWhenCalled:
    """A chunk sampler whose process ends at once (as the kernel's out-of-memory killer ends
    one)."""

    def __call__(self, chunk):
        os._exit(9)


def test_a_sampling_process_that_dies_is_one_clear_error():
    with pytest.raises(UserError, match="a sampling process ended before it answered"):
        sample_chunks_in_processes(DiesWhenCalled(), [(0, 5, 1), (1, 5, 2)], print, 2)
