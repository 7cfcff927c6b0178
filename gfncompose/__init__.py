"""gfncompose: compositional molecular design with GFlowNets (Garipov et al., 2023).

The public API: environments live in :mod:`gfncompose.envs`, rewards in
:mod:`gfncompose.rewards`, metrics in :mod:`gfncompose.metrics`; everything else a user
needs to train bases, compose them and run campaigns is importable from here.
"""

from . import exact
from .campaign import CampaignRunner, load_campaign
from .classifier import Classifier
from .classifier_training import classifier_loss
from .composition import (
    Composition,
    compose,
    composition_distribution,
    contrast,
    harmonic_mean,
    mixture,
)
from .guided import GuidedPolicy
from .policy import GFlowNet, UniformPolicy
from .sampler import Trajectories, sample_terminal, sample_trajectories
from .training import (
    Checkpointer,
    ClassifierConfig,
    TrainConfig,
    TrainingLoop,
    train_classifier,
    train_gflownet,
)
from .trajectory_balance import trajectory_balance_loss

__all__ = [
    "CampaignRunner",
    "Checkpointer",
    "Classifier",
    "ClassifierConfig",
    "Composition",
    "GFlowNet",
    "GuidedPolicy",
    "TrainConfig",
    "Trajectories",
    "TrainingLoop",
    "UniformPolicy",
    "classifier_loss",
    "compose",
    "composition_distribution",
    "contrast",
    "exact",
    "harmonic_mean",
    "load_campaign",
    "mixture",
    "sample_terminal",
    "sample_trajectories",
    "train_classifier",
    "train_gflownet",
    "trajectory_balance_loss",
]
