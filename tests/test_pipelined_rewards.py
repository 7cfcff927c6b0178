"""Rewards computed while the learner samples: one step late, same target, exact resume."""

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from conftest import qed_sa_campaign, write_campaign

from gfncompose import GFlowNet, exact
from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign import runner as runner_module
from gfncompose.campaign.layout import read_json
from gfncompose.checkpoint import load_checkpoint
from gfncompose.envs import HyperGrid
from gfncompose.rewards.druglikeness import QEDReward
from gfncompose.rewards.parallel import FunctionProcess
from gfncompose.sampler import sample_trajectories
from gfncompose.training import PipelinedLogReward, TrainConfig, train_gflownet
from gfncompose.trajectory_balance import trajectory_balance_loss

ENV = HyperGrid(ndim=2, horizon=6)
LOG_R = torch.randn(36, generator=torch.Generator().manual_seed(3))
TARGET = torch.softmax(LOG_R.double(), 0)


def log_reward(x: torch.Tensor) -> torch.Tensor:
    return LOG_R[torch.tensor(ENV.state_keys(x))]


def pipelined(worker: "Worker | None" = None) -> PipelinedLogReward:
    """``log_reward`` computed by a worker thread (the process boundary is tested below)."""
    return PipelinedLogReward(worker or Worker(), lambda x: x.clone())


class Worker:
    """A worker that runs ``log_reward`` in a thread and counts its calls."""

    def __init__(self, calls: int | None = None):
        self.executor, self.calls, self.limit = ThreadPoolExecutor(1), 0, calls

    def submit(self, x):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise Interrupted
        return self.executor.submit(log_reward, x)


class Interrupted(Exception):
    pass


def l1(p, q) -> float:
    return (p - q).abs().sum().item()


def fresh_gfn() -> GFlowNet:
    torch.manual_seed(11)
    return GFlowNet(ENV, 64, 2)


def test_a_batch_drawn_by_another_policy_has_the_same_minimiser():
    # The off-policy argument, exactly: at the balanced policy and the true log Z the loss
    # vanishes on trajectories of *any* policy, e.g. an untrained one exploring.
    optimal = exact.optimal_policy(ENV, LOG_R)
    gfn = fresh_gfn()
    gfn.allowed_log_probs = optimal.allowed_log_probs
    with torch.no_grad():
        gfn.log_Z.fill_(torch.logsumexp(LOG_R, 0))
    stale = sample_trajectories(fresh_gfn(), 256, epsilon=0.3)
    assert trajectory_balance_loss(gfn, stale, log_reward).item() < 1e-8


def test_pipelined_training_learns_the_same_target_as_synchronous_training():
    config = TrainConfig(steps=800, batch_size=32, epsilon=0.05, seed=0)
    synchronous, _ = train_gflownet(fresh_gfn(), log_reward, config, progress=False)
    late, history = train_gflownet(fresh_gfn(), pipelined(), config, progress=False)
    assert len(history) == 800
    # measured: L1 ≈ 0.05 for both at this budget; an untrained policy is at ≈ 0.6
    for model in (synchronous, late):
        assert l1(exact.terminal_distribution(ENV, model), TARGET) < 0.12
        assert abs(model.log_Z.item() - torch.logsumexp(LOG_R, 0).item()) < 0.15
    # ... and it is not the synchronous run under another name: the batches differ
    assert not torch.equal(synchronous.log_Z, late.log_Z)


def test_a_resumed_pipelined_run_equals_an_uninterrupted_one(tmp_path):
    config = TrainConfig(steps=40, batch_size=8, epsilon=0.1, checkpoint_every=10, seed=3)
    straight, _ = train_gflownet(fresh_gfn(), pipelined(Worker()), config, progress=False)
    path = tmp_path / "base.pt"
    with pytest.raises(Interrupted):  # killed while drawing batch 27; last checkpoint: step 20
        train_gflownet(fresh_gfn(), pipelined(Worker(calls=26)), config, path, progress=False)
    assert load_checkpoint(path)["step"] == 20
    resumed, history = train_gflownet(fresh_gfn(), pipelined(Worker()), config, path, False)
    assert len(history) == 40
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_function_process_answers_as_the_function_does_and_reports_its_errors():
    process = FunctionProcess(sum)
    try:
        assert process.submit([1, 2, 3]).result(timeout=60) == 6
        with pytest.raises(TypeError):
            process.submit(["a", 1]).result(timeout=60)
    finally:
        process.close()


def test_a_campaign_trains_on_a_slow_reward_in_a_process_of_its_own(tmp_path, monkeypatch):
    body = """
[training]
steps = 6
batch_size = 8
hidden = 16
num_layers = 1
[compositions.both]
expr = "harmonic_mean(qed, sa)"
"""
    path = write_campaign(tmp_path, qed_sa_campaign(body, environment="max_fragments = 2"))

    batches = []

    class Recorded(FunctionProcess):
        def submit(self, smiles):
            batches.append(len(smiles))
            return super().submit(smiles)

    monkeypatch.setattr(runner_module, "FunctionProcess", Recorded)

    def train(output: str, pipelined: bool) -> dict:
        monkeypatch.setattr(QEDReward, "pipelined", pipelined)  # as a docking reward declares
        runner = CampaignRunner(load_campaign(path, output=tmp_path / output), progress=False)
        weights = runner.train_base("qed").state_dict()
        result = read_json(runner.layout.result(runner.layout.base_dir("qed")))
        assert result["steps"] == 6 and math.isfinite(result["final_loss"])
        return weights

    train("synchronous", False)
    assert batches == []
    first, again = train("a", True), train("b", True)
    assert batches == [8] * 7 * 2  # each step's batch, and one in flight when training ends
    for a, b in zip(first.values(), again.values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # a process boundary, yet exact
