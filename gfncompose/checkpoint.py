"""Atomic files and checkpoints: a crash (even ``kill -9``) never leaves a half-written file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from .errors import UserError


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync, then rename it onto
    ``path``: readers see the old file or the complete new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with ``torch.save``, atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; a clear error if absent or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        message = f"checkpoint {path} cannot be read ({type(error).__name__}: {error})"
        raise UserError(message) from None


def rng_state() -> dict[str, Any]:
    """The global torch RNG state (CPU, and CUDA where present), for exact resumes."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from :func:`rng_state`."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_resumable(
    path: str | Path, saved: dict[str, Any], wanted: dict[str, Any], defaults: dict[str, Any]
) -> None:
    """A checkpoint resumes only the same run; a longer budget is the same run, extended.
    A key the checkpoint lacks (it was written before the key existed) counts as its value
    in ``defaults``, the behaviour of the code that wrote it."""
    extendable = {"steps", "checkpoint_every"}
    changed = sorted(
        k for k in wanted if k not in extendable and saved.get(k, defaults[k]) != wanted[k]
    )
    if changed:
        raise UserError(
            f"checkpoint {path} was written with a different training config "
            f"(differs in {', '.join(changed)}); delete it or use another path"
        )
