"""The training loop's learning-rate schedule: constant, then a cosine down to 0."""

import pytest
import torch

from gfncompose.training import ClassifierConfig, TrainingLoop, lr_factor


def learning_rate(config, step):
    return config.lr * lr_factor(step, config.steps, config.decay)


def test_rate_is_constant_then_decays_to_zero_over_the_last_fraction():
    config = ClassifierConfig(steps=1000, lr=1e-3, decay=0.4)
    rates = [learning_rate(config, step) for step in range(config.steps)]
    assert rates[:600] == [1e-3] * 600
    assert all(a >= b for a, b in zip(rates[600:], rates[601:], strict=False))
    assert rates[800] == pytest.approx(0.5e-3)
    assert rates[-1] < 1e-7


def test_no_decay_keeps_the_rate():
    config = ClassifierConfig(steps=100, lr=3e-4, decay=0.0)
    assert {learning_rate(config, step) for step in range(100)} == {3e-4}


def test_loop_scales_every_parameter_group_by_the_schedule():
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(
        [{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 0.1}]
    )
    config = ClassifierConfig(steps=10, decay=0.5)
    seen = []
    loop = TrainingLoop(model, optimizer, config, progress=False)
    for _ in loop:
        seen.append([group["lr"] for group in optimizer.param_groups])
        model(torch.ones(1, 2)).sum().backward()
        loop.step(loss=0.0)
    for step, (weight_lr, bias_lr) in enumerate(seen):
        factor = lr_factor(step, 10, 0.5)
        assert weight_lr == pytest.approx(factor) and bias_lr == pytest.approx(0.1 * factor)
