"""Checkpoints are atomic and resumed runs reproduce uninterrupted ones."""

import pytest
import torch

from gfncompose import GFlowNet
from gfncompose.checkpoint import load_checkpoint, save_checkpoint
from gfncompose.classifier import Classifier
from gfncompose.envs import HyperGrid
from gfncompose.errors import UserError
from gfncompose.training import ClassifierConfig, TrainConfig, train_classifier, train_gflownet


def log_reward(x):
    return -(x.float() - 2).pow(2).sum(1)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        load_checkpoint(path)


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, {"step": 2, "bad": Unpicklable()})
    assert load_checkpoint(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary left behind


class Interrupted(Exception):
    pass


def interrupt_after(calls, fn):
    """``fn`` that raises ``Interrupted`` on call number ``calls + 1`` (a simulated kill)."""
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise Interrupted
        return fn(*args, **kwargs)

    return wrapped


def fresh_gfn(env):
    torch.manual_seed(11)
    return GFlowNet(env, 32, 2)


def test_resumed_training_equals_uninterrupted(tmp_path):
    env = HyperGrid(ndim=2, horizon=5)
    config = TrainConfig(steps=40, batch_size=8, epsilon=0.1, checkpoint_every=10, seed=3)
    straight, _ = train_gflownet(fresh_gfn(env), log_reward, config, progress=False)

    path = tmp_path / "base.pt"
    with pytest.raises(Interrupted):  # killed at step 25; the last checkpoint is step 20
        train_gflownet(
            fresh_gfn(env), interrupt_after(25, log_reward), config, path, progress=False
        )
    assert load_checkpoint(path)["step"] == 20
    resumed, history = train_gflownet(fresh_gfn(env), log_reward, config, path, progress=False)
    assert len(history) == 40
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    env = HyperGrid(ndim=2, horizon=4)
    path = tmp_path / "base.pt"
    train_gflownet(GFlowNet(env, 16, 1), log_reward, TrainConfig(steps=2), path, progress=False)
    with pytest.raises(UserError, match="differs in lr"):
        train_gflownet(
            GFlowNet(env, 16, 1), log_reward, TrainConfig(steps=4, lr=0.1), path, progress=False
        )


def test_classifier_resume_equals_uninterrupted(tmp_path):
    env = HyperGrid(ndim=2, horizon=4)
    torch.manual_seed(0)
    bases = {n: GFlowNet(env, 16, 1) for n in "ab"}
    config = ClassifierConfig(steps=12, batch_size=4, checkpoint_every=4, seed=1)

    def fresh():
        torch.manual_seed(7)
        return Classifier(env, ["a", "b"], hidden=32, num_layers=1)

    straight = fresh()
    train_classifier(straight, bases, config, progress=False)
    path = tmp_path / "clf.pt"
    flaky = dict(bases)
    flaky["b"] = GFlowNet(env, 16, 1)
    flaky["b"].load_state_dict(bases["b"].state_dict())
    # one allowed_log_probs call per sampling step; about 4 calls per training step here
    flaky["b"].allowed_log_probs = interrupt_after(30, bases["b"].allowed_log_probs)
    with pytest.raises(Interrupted):
        train_classifier(fresh(), flaky, config, path, progress=False)
    assert load_checkpoint(path)["step"] in (4, 8)
    resumed = fresh()
    train_classifier(resumed, bases, config, path, progress=False)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
