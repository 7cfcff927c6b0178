"""The environment a campaign's ``[environment]`` table describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..envs import AtomEnv, Environment, FragmentEnv, read_vocabulary


def make_environment(params: Mapping[str, Any], device: torch.device) -> Environment:
    """``FragmentEnv`` or ``AtomEnv`` from a checked ``[environment]`` table (``kind`` and the
    environment's keyword arguments; a vocabulary is a path, already resolved)."""
    params = dict(params)
    kind = params.pop("kind")
    if kind == "fragments":
        if "vocabulary" in params:
            params["vocabulary"] = read_vocabulary(params["vocabulary"])
        return FragmentEnv(**params, device=device)
    if "ring_sizes" in params:
        params["ring_sizes"] = tuple(params["ring_sizes"])
    return AtomEnv(**params, device=device)
