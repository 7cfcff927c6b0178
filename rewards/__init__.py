"""Rewards for molecular design (installed as ``gfncompose.rewards``).

A reward maps a batch of RDKit molecules to strictly positive, higher-is-better
scores (``torch.float32 [B]`` when called, float64 NumPy from ``score``), cached by
canonical SMILES. Look rewards up by name with ``make_reward`` / ``make_rewards``.
"""

from .assay import AssayData, AssayReport, read_assay
from .base import REWARD_FLOOR, CachedReward, Reward, canonical_smiles, score_smiles
from .druglikeness import QEDReward, SAReward
from .proxy import Proxy, ProxyReward, train_proxy
from .registry import REWARDS, make_reward, make_rewards
from .similarity import TanimotoSimilarity
from .substructure import SmartsReward, StructuralAlerts
from .transforms import ClippedReward, ProductReward
from .windows import PropertyWindow, window

__all__ = [
    "REWARDS",
    "REWARD_FLOOR",
    "AssayData",
    "AssayReport",
    "CachedReward",
    "ClippedReward",
    "ProductReward",
    "PropertyWindow",
    "Proxy",
    "ProxyReward",
    "QEDReward",
    "Reward",
    "SAReward",
    "SmartsReward",
    "StructuralAlerts",
    "TanimotoSimilarity",
    "canonical_smiles",
    "make_reward",
    "make_rewards",
    "read_assay",
    "score_smiles",
    "train_proxy",
    "window",
]
