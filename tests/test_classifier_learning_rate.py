"""The classifier's learning-rate schedule: constant, then a cosine down to 0."""

import pytest

from gfncompose.classifier_training import ClassifierConfig, learning_rate


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
