"""Rewards built from rewards: a product (the monolithic baseline) and a clip.

The reward exponent β is not a transform here: the learning code applies it to
``log R`` (``β · log R``), so scores stay comparable across runs with different β.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rdkit import Chem

from ..errors import UserError
from .base import REWARD_FLOOR, Reward


class ProductReward(Reward):
    """``R(x) = Π_k R_k(x)``: one reward asking for everything at once.

    This is the monolithic baseline that composition is compared with: a single
    GFlowNet trained on the product targets ``Π_k R_k^β``, the reward analogue of
    the product of the base distributions. Each factor is at least ``REWARD_FLOOR``,
    so the product is strictly positive; range ``[Π lo_k, Π hi_k]``.
    """

    def __init__(self, rewards: Sequence[Reward], name: str | None = None) -> None:
        if not rewards:
            raise UserError("a product of rewards needs at least one reward")
        self.rewards = list(rewards)
        self.name = name or "*".join(reward.name for reward in self.rewards)
        self.value_range = (
            math.prod(reward.value_range[0] for reward in self.rewards),
            math.prod(reward.value_range[1] for reward in self.rewards),
        )

    @property
    def pipelined(self) -> bool:  # type: ignore[override]
        return any(reward.pipelined for reward in self.rewards)

    def score(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        return np.prod([reward.score(mols) for reward in self.rewards], axis=0)


class ClippedReward(Reward):
    """``R(x)`` clipped to ``[lo, hi]``.

    ``lo`` is a floor above ``REWARD_FLOOR`` when the learning code should not see
    very small rewards (``β · log R`` of a floored molecule is ``-13.8 β``);
    ``hi`` caps a reward so that a few outliers do not dominate ``R^β``.
    """

    def __init__(self, reward: Reward, lo: float = REWARD_FLOOR, hi: float = math.inf) -> None:
        if not REWARD_FLOOR <= lo <= hi:
            raise UserError(f"clip bounds must satisfy {REWARD_FLOOR} <= lo <= hi, got {lo}, {hi}")
        self.reward = reward
        self.lo, self.hi = lo, hi
        self.name = reward.name
        self.value_range = (
            min(max(reward.value_range[0], lo), hi),
            min(max(reward.value_range[1], lo), hi),
        )

    def score(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        return np.clip(self.reward.score(mols), self.lo, self.hi)
