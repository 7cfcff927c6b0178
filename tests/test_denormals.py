"""Float32 subnormals are flushed to zero while a learner trains, and only then."""

import pytest
import torch

from gfncompose import GFlowNet, training
from gfncompose.classifier import Classifier
from gfncompose.denormals import flushing, flushing_denormals
from gfncompose.envs import HyperGrid
from gfncompose.training import ClassifierConfig, TrainConfig

SUBNORMAL = torch.finfo(torch.float32).tiny / 4

# set_flush_denormal answers whether the CPU has the mode (x86 with SSE3, ARM)
pytestmark = pytest.mark.skipif(
    not torch.set_flush_denormal(False), reason="this CPU has no flush-to-zero mode"
)


def test_subnormals_are_zero_within_the_block_and_the_mode_is_restored_after():
    assert torch.tensor([SUBNORMAL]).mul(1.0).item() > 0
    with flushing_denormals():
        assert torch.tensor([SUBNORMAL]).mul(1.0).item() == 0
        with flushing_denormals():
            assert flushing()
        assert flushing()  # an inner block leaves the outer one's mode
    assert not flushing()
    torch.set_flush_denormal(True)  # a caller's own choice is kept too
    try:
        with flushing_denormals():
            pass
        assert flushing()
    finally:
        torch.set_flush_denormal(False)


def test_both_training_loops_flush_subnormals_at_every_step(monkeypatch):
    env = HyperGrid(ndim=2, horizon=4)
    torch.manual_seed(0)
    bases = {name: GFlowNet(env, 16, 1) for name in "ab"}
    modes = []

    def spying(loss):
        def spy(*args, **kwargs):
            modes.append(flushing())
            return loss(*args, **kwargs)

        return spy

    for name in ("batch_trajectory_balance_loss", "classifier_loss"):
        monkeypatch.setattr(training, name, spying(getattr(training, name)))
    training.train_gflownet(
        bases["a"], lambda x: -x.float().sum(1), TrainConfig(steps=3), progress=False
    )
    classifier = Classifier(env, list(bases), hidden=16, num_layers=1)
    training.train_classifier(
        classifier, bases, ClassifierConfig(steps=3, batch_size=4), progress=False
    )
    assert modes == [True] * 6
    assert not flushing()
