"""Training batches sampled in processes of their own: the same loss as here, the same target,
reproducible, exact resume, and clear errors."""

import pytest
import torch
from conftest import qed_sa_campaign, write_campaign

from gfncompose import GFlowNet, exact
from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign.layout import read_json
from gfncompose.envs import FragmentEnv, HyperGrid
from gfncompose.errors import UserError
from gfncompose.sampler import sample_trajectories
from gfncompose.training import TrainConfig, train_gflownet
from gfncompose.trajectory_balance import (
    batch_trajectory_balance_loss,
    training_batch,
    trajectory_balance_loss,
)

ENV = HyperGrid(ndim=2, horizon=6)
LOG_R = torch.randn(36, generator=torch.Generator().manual_seed(3))
TARGET = torch.softmax(LOG_R.double(), 0)


def log_reward(x: torch.Tensor) -> torch.Tensor:
    """Module-level, so that sampling processes can import it."""
    return LOG_R[torch.tensor(ENV.state_keys(x))]


def fresh_gfn() -> GFlowNet:
    torch.manual_seed(11)
    return GFlowNet(ENV, 64, 2)


def l1(p, q) -> float:
    return (p - q).abs().sum().item()


def gradients(gfn: GFlowNet, loss: torch.Tensor) -> list[torch.Tensor]:
    gfn.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in gfn.parameters()]


@pytest.mark.parametrize("env", [ENV, FragmentEnv(max_fragments=3)], ids=["grid", "fragments"])
def test_a_training_batch_gives_the_loss_and_gradients_of_its_trajectories(env):
    # What a sampling process ships (tensors only) is all the loss needs: the learner's
    # loss and gradients equal those computed from the states themselves, exactly.
    torch.manual_seed(5)
    gfn = GFlowNet(env, 32, 2)
    trajectories = sample_trajectories(gfn, 16, epsilon=0.2)
    rewards = torch.rand(16, generator=torch.Generator().manual_seed(1)).log()

    def fixed(_):
        return rewards

    direct = trajectory_balance_loss(gfn, trajectories, fixed, beta=2.0)
    shipped = batch_trajectory_balance_loss(gfn, training_batch(env, trajectories, fixed), 2.0)
    torch.testing.assert_close(shipped, direct, rtol=0, atol=0)
    for a, b in zip(gradients(gfn, shipped), gradients(gfn, direct), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_training_with_sampling_processes_learns_the_target():
    config = TrainConfig(steps=800, batch_size=32, epsilon=0.05, seed=0, sampling_processes=2)
    model, history = train_gflownet(fresh_gfn(), log_reward, config, progress=False)
    assert len(history) == 800
    # measured: L1 ≈ 0.06 at this budget (synchronous training: ≈ 0.05); untrained: ≈ 0.6
    assert l1(exact.terminal_distribution(ENV, model), TARGET) < 0.12
    assert abs(model.log_Z.item() - torch.logsumexp(LOG_R, 0).item()) < 0.15


def test_sampling_processes_are_reproducible_and_resume_exactly(tmp_path):
    config = TrainConfig(steps=30, batch_size=8, epsilon=0.1, seed=3, sampling_processes=2)
    straight, history = train_gflownet(fresh_gfn(), log_reward, config, progress=False)
    again, _ = train_gflownet(fresh_gfn(), log_reward, config, progress=False)
    # 15 steps, then the same run extended to 30: the batches in flight at step 15 (drawn
    # with earlier parameters) come back from the checkpoint's carry
    path = tmp_path / "base.pt"
    half = TrainConfig(**{**config.__dict__, "steps": 15})
    train_gflownet(fresh_gfn(), log_reward, half, path, progress=False)
    resumed, resumed_history = train_gflownet(fresh_gfn(), log_reward, config, path, False)
    assert resumed_history == history
    for model in (again, resumed):
        for a, b in zip(straight.state_dict().values(), model.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_first_batches_are_drawn_with_the_initial_parameters():
    # batch t is drawn with the parameters of step t - K: the first K with the initial ones,
    # from the same seeds whatever K, so one and two processes start alike, then differ
    one, two = (
        train_gflownet(
            fresh_gfn(),
            log_reward,
            TrainConfig(steps=4, batch_size=8, seed=1, sampling_processes=k),
            progress=False,
        )[1]
        for k in (1, 2)
    )
    assert one[:2] == two[:2] and one[2:] != two[2:]


def test_a_reward_that_cannot_reach_another_process_is_one_clear_error():
    config = TrainConfig(steps=2, batch_size=4, sampling_processes=1)
    with pytest.raises(UserError, match="sampling_processes needs a reward that can be sent"):
        train_gflownet(fresh_gfn(), lambda x: log_reward(x), config, progress=False)


def test_a_campaign_trains_a_base_with_sampling_processes(tmp_path):
    body = """
[training]
steps = 4
batch_size = 8
hidden = 16
num_layers = 1
{extra}
[compositions.both]
expr = "harmonic_mean(qed, sa)"
"""
    env = "max_fragments = 2"
    plain = load_campaign(
        write_campaign(tmp_path / "a", qed_sa_campaign(body.format(extra=""), environment=env))
    )
    explicit = load_campaign(
        write_campaign(
            tmp_path / "b",
            qed_sa_campaign(body.format(extra="sampling_processes = 0"), environment=env),
        )
    )
    path = write_campaign(
        tmp_path / "c",
        qed_sa_campaign(body.format(extra="sampling_processes = 2"), environment=env),
    )
    processes = load_campaign(path, output=tmp_path / "out")
    # 0 is what every folder before the key was trained with: its bases stay reusable
    assert plain.fingerprint("base:qed") == explicit.fingerprint("base:qed")
    assert plain.fingerprint("base:qed") != processes.fingerprint("base:qed")
    runner = CampaignRunner(processes, progress=False)
    runner.train_base("qed")
    result = read_json(runner.layout.result(runner.layout.base_dir("qed")))
    assert result["steps"] == 4 and result["final_loss"] > 0
