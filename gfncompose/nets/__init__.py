"""Policy and classifier networks: trunks and readouts chosen by environment type."""

from . import fragment_readout, gnn, mlp  # noqa: F401  (register the networks of each env)
from .base import ActionReadout, Encoding, build_action_readout, build_trunk

__all__ = ["ActionReadout", "Encoding", "build_action_readout", "build_trunk"]
