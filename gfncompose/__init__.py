"""gfncompose: compositional molecular design with GFlowNets (Garipov et al., 2023)."""

from . import exact
from .composition import Composition, compose, contrast, harmonic_mean, mixture
from .guided import GuidedPolicy
from .policy import GFlowNet, UniformPolicy

__all__ = [
    "Composition",
    "GFlowNet",
    "GuidedPolicy",
    "UniformPolicy",
    "compose",
    "contrast",
    "exact",
    "harmonic_mean",
    "mixture",
]
