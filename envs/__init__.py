"""Environments: DAGs of states that GFlowNets walk (installed as ``gfncompose.envs``)."""

from .atoms import AtomEnv
from .base import Environment, States
from .fragments import FragmentEnv
from .hypergrid import HyperGrid
from .molecule import MolState
from .vocabulary import Fragment, Vocabulary, default_vocabulary, read_blocks_json, read_vocabulary

__all__ = [
    "AtomEnv",
    "Environment",
    "Fragment",
    "FragmentEnv",
    "HyperGrid",
    "MolState",
    "States",
    "Vocabulary",
    "default_vocabulary",
    "read_blocks_json",
    "read_vocabulary",
]
