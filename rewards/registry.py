"""Rewards by name, with parameters from a config (plain dicts, as TOML gives them).

A config section such as::

    [rewards.qed]

    [rewards.logp_window]
    lo = 1.0
    hi = 3.0

    [rewards.like_aspirin]
    kind = "similarity"
    references = ["CC(=O)Oc1ccccc1C(=O)O"]

maps each label to its parameters; ``kind`` names the reward type and defaults to
the label, so two rewards of one type can live side by side under different labels.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from ..errors import UserError
from .base import CachedReward
from .druglikeness import QEDReward, SAReward
from .proxy import ProxyReward
from .seh import SEHReward
from .similarity import TanimotoSimilarity
from .substructure import SmartsReward, StructuralAlerts
from .windows import PROPERTY_WINDOWS

REWARDS: dict[str, type[CachedReward]] = {
    reward.kind: reward
    for reward in (
        QEDReward,
        SAReward,
        *PROPERTY_WINDOWS,
        TanimotoSimilarity,
        SmartsReward,
        StructuralAlerts,
        ProxyReward,
        SEHReward,
    )
}


def _build(label: str, kind: str, params: Mapping[str, object]) -> CachedReward:
    where = f"reward {label!r}" if label == kind else f"reward {label!r} (kind {kind!r})"
    if kind not in REWARDS:
        raise UserError(f"{where}: unknown reward {kind!r}; known rewards: {', '.join(REWARDS)}")
    signature = inspect.signature(REWARDS[kind].__init__)
    accepted = [name for name in signature.parameters if name != "self"]
    valid = ", ".join(accepted) or "none"
    for name in params:
        if name not in accepted:
            raise UserError(f"{where}: unknown parameter {name!r}; valid parameters: {valid}")
    for name in accepted:
        if signature.parameters[name].default is inspect.Parameter.empty and name not in params:
            raise UserError(f"{where}: missing required parameter {name!r}")
    try:
        reward = REWARDS[kind](**params)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    reward.name = label
    return reward


def make_reward(name: str, **params: object) -> CachedReward:
    """The reward registered as ``name`` (see ``REWARDS``), built with ``params``.

    Raises ``UserError`` naming an unknown reward, an unknown or missing parameter
    (with the valid ones), or an invalid value.
    """
    return _build(name, name, params)


def make_rewards(spec: Mapping[str, Mapping[str, object]]) -> dict[str, CachedReward]:
    """Rewards of a config section: ``{label: {"kind": ..., **params}}`` to ``{label: reward}``.

    ``kind`` defaults to the label. Errors name the label.
    """
    rewards = {}
    for label, params in spec.items():
        if not isinstance(params, Mapping):
            raise UserError(f"reward {label!r}: expected a table of parameters, got {params!r}")
        params = dict(params)
        kind = params.pop("kind", label)
        if not isinstance(kind, str):
            raise UserError(f"reward {label!r}: 'kind' must be a reward name, got {kind!r}")
        rewards[label] = _build(label, kind, params)
    return rewards
