"""The one training loop: checkpoints by steps or seconds, explicit random streams."""

import torch

from gfncompose import GFlowNet
from gfncompose.checkpoint import load_checkpoint
from gfncompose.envs import HyperGrid
from gfncompose.training import Checkpointer, TrainConfig, seeded, train_gflownet


def log_reward(x):
    return -(x.float() - 2).pow(2).sum(1)


def fresh_gfn(env):
    with seeded(11):
        return GFlowNet(env, 32, 2)


def test_checkpoint_is_due_after_n_steps_or_t_seconds_whichever_first(tmp_path, monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr("gfncompose.training.time.monotonic", lambda: clock["now"])
    checkpointer = Checkpointer(tmp_path / "c.pt", every_steps=10, every_seconds=60.0)
    assert not checkpointer.due(9)
    assert checkpointer.due(10)
    clock["now"] += 59.0
    assert not checkpointer.due(3)
    clock["now"] += 1.0
    assert checkpointer.due(3)
    checkpointer.save(3, {"step": 3})
    assert not checkpointer.due(12)  # counts from the last save, in steps and in seconds
    assert checkpointer.due(13)


def test_a_slow_run_is_checkpointed_by_time_long_before_its_step_interval(tmp_path, monkeypatch):
    env = HyperGrid(ndim=2, horizon=4)
    config = TrainConfig(steps=6, batch_size=2, checkpoint_every=1000, checkpoint_seconds=0.0)
    path = tmp_path / "base.pt"
    saved = []
    original = Checkpointer.save

    def spy(self, step, state):
        saved.append(step)
        original(self, step, state)

    monkeypatch.setattr(Checkpointer, "save", spy)
    train_gflownet(fresh_gfn(env), log_reward, config, path, progress=False)
    assert saved == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(path)["step"] == 6


def test_training_leaves_the_global_random_state_untouched():
    env = HyperGrid(ndim=2, horizon=4)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    model = fresh_gfn(env)
    train_gflownet(model, log_reward, TrainConfig(steps=3, batch_size=4), progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_seeded_run_reproduces_itself_exactly_whatever_the_global_seed():
    env = HyperGrid(ndim=2, horizon=5)
    config = TrainConfig(steps=15, batch_size=8, epsilon=0.1, seed=4)
    runs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        model, history = train_gflownet(fresh_gfn(env), log_reward, config, progress=False)
        runs.append((model.state_dict(), history))
    (a, history_a), (b, history_b) = runs
    assert history_a == history_b
    for x, y in zip(a.values(), b.values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
