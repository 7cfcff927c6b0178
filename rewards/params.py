"""Checks for reward parameters as they arrive from a TOML config (plain Python values).

Each check returns the value in its canonical Python type or raises ``UserError``
naming the parameter; the registry adds which reward it belongs to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import UserError


def as_float(name: str, value: object, *, positive: bool = False, finite: bool = True) -> float:
    """``value`` as a float; ``positive`` requires ``> 0``, ``finite`` forbids ``±inf``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"parameter '{name}' must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise UserError(f"parameter '{name}' must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise UserError(f"parameter '{name}' must be > 0, got {value!r}")
    return value


def as_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (a float such as ``2.0`` is refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"parameter '{name}' must be an integer, got {value!r}")
    if value < minimum:
        raise UserError(f"parameter '{name}' must be >= {minimum}, got {value!r}")
    return value


def as_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise UserError(f"parameter '{name}' must be one of {', '.join(choices)}; got {value!r}")
    return value


def as_str_list(name: str, value: object) -> list[str]:
    """``value`` as a list of strings (a single string is refused: it is usually a typo)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise UserError(f"parameter '{name}' must be a list of strings, got {value!r}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise UserError(f"parameter '{name}'[{index}] must be a string, got {item!r}")
    return list(value)


def as_fraction(name: str, value: object) -> float:
    """``value`` as a float in ``[0, 1]``."""
    value = as_float(name, value)
    if not 0.0 <= value <= 1.0:
        raise UserError(f"parameter '{name}' must be in [0, 1], got {value!r}")
    return value
