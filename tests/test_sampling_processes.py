"""Training batches sampled in processes of their own, for a base and for the classifier: the
same loss as here, the same target, reproducible, exact resume, and clear errors."""

import pytest
import torch
from conftest import qed_sa_campaign, tiny_models, write_campaign

from gfncompose import GFlowNet, GuidedPolicy, exact, harmonic_mean, training
from gfncompose.campaign import CampaignRunner, load_campaign
from gfncompose.campaign.layout import read_json
from gfncompose.checkpoint import load_checkpoint
from gfncompose.classifier import Classifier
from gfncompose.classifier_training import classifier_loss
from gfncompose.composition import composition_distribution
from gfncompose.envs import FragmentEnv, HyperGrid
from gfncompose.errors import UserError
from gfncompose.sampler import sample_trajectories
from gfncompose.sampling_processes import ClassifierBatchDrawer, start_sampling_processes
from gfncompose.training import ClassifierConfig, TrainConfig, train_classifier, train_gflownet
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
    with pytest.raises(UserError, match="needs rewards and models that can be sent"):
        train_gflownet(fresh_gfn(), lambda x: log_reward(x), config, progress=False)


@pytest.mark.parametrize("table", ["training", "classifier"])
def test_a_campaign_trains_with_sampling_processes(tmp_path, table):
    campaigns = [
        load_campaign(
            write_campaign(
                tmp_path / str(k),
                qed_sa_campaign(
                    tiny_models(**{table: f"sampling_processes = {k}" if k is not None else ""})
                    + '[compositions.both]\nexpr = "harmonic_mean(qed, sa)"\n',
                    environment="max_fragments = 2",
                ),
            ),
            output=tmp_path / "out",
        )
        for k in (None, 0, 2)
    ]
    artifact = "base:qed" if table == "training" else "classifier"
    plain, explicit, processes = (c.fingerprint(artifact) for c in campaigns)
    # 0 is what every folder before the key was trained with: its models stay reusable
    assert plain == explicit != processes
    runner = CampaignRunner(campaigns[-1], progress=False)
    if table == "training":
        runner.train_base("qed")
        result = read_json(runner.layout.result(runner.layout.base_dir("qed")))
        assert result["steps"] == 4 and result["final_loss"] > 0
    else:
        assert runner.train_classifier().base_names == ("qed", "sa")


# -- the classifier ------------------------------------------------------------------------
GRID = HyperGrid(ndim=2, horizon=8)
BASES = {
    n: exact.optimal_policy(GRID, torch.randn(64, generator=torch.Generator().manual_seed(s)))
    for n, s in (("a", 5), ("b", 6))
}


def fresh_classifier(env=GRID, bases=BASES, hidden=32) -> Classifier:
    torch.manual_seed(0)
    return Classifier(env, list(bases), n_observations=2, hidden=hidden, num_layers=2)


def test_a_classifier_batch_drawn_in_a_process_is_the_one_drawn_here():
    # the drawer ships what the classifier's loss reads (features, actions, the bases'
    # posteriors): from another process, the same loss to the last bit as drawn here
    env = FragmentEnv(max_fragments=3)
    torch.manual_seed(2)
    bases = {n: GFlowNet(env, 32, 2) for n in "ab"}
    drawer = ClassifierBatchDrawer(list(bases.values()), 8)
    (process,) = start_sampling_processes(drawer, 1)
    try:
        shipped = process.submit(17).result()
    finally:
        process.close()
    here = drawer(17)
    classifier = fresh_classifier(env, bases)
    losses = [
        classifier_loss(classifier, classifier, batch, 0.5, torch.Generator().manual_seed(1))
        for batch in (shipped, here)
    ]
    torch.testing.assert_close(losses[0][0], losses[1][0], rtol=0, atol=0)
    assert losses[0][1] == losses[1][1]


def test_a_classifier_trained_with_sampling_processes_guides_close_to_exact():
    classifier = fresh_classifier(hidden=128)  # the size trained here in test_learning_hypergrid
    config = ClassifierConfig(steps=800, batch_size=32, sampling_processes=2)
    train_classifier(classifier, BASES, config, progress=False)
    guided = GuidedPolicy(BASES, classifier, harmonic_mean("a", "b"), "action_head")
    dists = {n: exact.terminal_distribution(GRID, p) for n, p in BASES.items()}
    expected = composition_distribution(dists, harmonic_mean("a", "b"))
    mixture = (dists["a"] + dists["b"]) / 2
    got = exact.terminal_distribution(GRID, guided)
    # the same tolerance as trained here (tests/test_learning_hypergrid.py); the plain
    # mixture is at L1 0.43 from the target
    assert l1(got, expected) < 0.08
    assert l1(got, expected) < 0.2 * l1(mixture, expected)


def test_classifier_sampling_processes_are_reproducible_and_resume_exactly(tmp_path, monkeypatch):
    config = ClassifierConfig(
        steps=12, batch_size=4, seed=1, sampling_processes=2, checkpoint_every=4
    )
    straight, again = fresh_classifier(), fresh_classifier()
    history = train_classifier(straight, BASES, config, progress=False)
    assert train_classifier(again, BASES, config, progress=False) == history
    # a run killed at step 7 resumes from its checkpoint at step 4, whose carry holds the
    # seeds of batches 4 and 5, requested before the kill
    path = tmp_path / "classifier.pt"
    calls = {"n": 0}

    def killed_at_step_7(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return classifier_loss(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(training, "classifier_loss", killed_at_step_7)
        with pytest.raises(KeyboardInterrupt):
            train_classifier(fresh_classifier(), BASES, config, path, progress=False)
    assert load_checkpoint(path)["step"] == 4
    resumed = fresh_classifier()
    assert train_classifier(resumed, BASES, config, path, progress=False) == history
    for model in (again, resumed):
        for a, b in zip(straight.state_dict().values(), model.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
