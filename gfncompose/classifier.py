"""The classifier over partial trajectories (DESIGN §3): one trunk, four heads.

For ``m`` bases:

- terminal head ``f(x)``: ``[B, m]`` logits, ``p(i | x) = softmax(f(x))_i``; weights
  enter analytically, ``p(y_k = i | x) = softmax(f(x) + log ω^(k))_i``;
- generator head: ``[B, m]`` logits of ``G(i | s)``, the posterior of the base given the
  state;
- joint head: for each generator ``i``, the law of the terminal posterior logits
  ``f(x)``, ``x ~ p_i(· | s)``, as a mixture of ``R`` atoms ``(π_r, φ_r)``. Then, for
  any observations and weights,
  ``Q_i(y | s) = Σ_r π_r Π_k softmax(φ_r + log ω^(k))[y_k]``: each base's own
  h-function, a law over the cells for each ``i`` (the loss weighs base ``i``'s
  cross-entropy by ``P(i | τ)``, and ``E[P(i | τ) f(x) | path to s] = P(i | path)
  E_{x~p_i(·|s)} f(x)``, so its minimiser is ``Q_i`` for any bases). The weights enter
  analytically, so one classifier serves every α, every number of observations and
  every sub-mixture of its bases (zero weight outside it);
- action head: the generator and joint heads at the child ``step(s, a)`` from one pass
  on ``s``, ``m + m·R·(1+m)`` numbers per action, computed only for the
  (state, action) pairs asked for: the taken actions in training, the proposed or
  allowed ones in guidance (all actions of a fragment batch would be
  ``[B, 20033, 99]``).

Guidance never reads ``G``: it weighs the bases by their exact posterior given the path
it followed (see :mod:`~gfncompose.guided`). The generator heads are trained all the same
(DESIGN §3's ``L_gen``, at the state and at the child): their labels are dense and
low-noise, and they shape the trunk and the action readout that ``Q_i`` is read from.
Without them the action head's guidance is 17–26 % further from the exact composition on
the enumerable fragment space (L1 0.031 against 0.025 for the harmonic mean, 3 seeds;
``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import torch
from torch import nn

from .composition import (
    Composition,
    log_observation_likelihood,
    log_observation_probs,
    observation_cells,
)
from .envs.base import Environment, States
from .errors import UserError
from .memo import StatesMemo
from .nets import build_action_readout, build_trunk
from .nets.mlp import mlp

LAYOUT = 2
"""Version of the classifier's parameter layout, part of a campaign's classifier fingerprint,
so that a folder trained under another layout is retrained rather than loaded; raised
whenever the parameters change shape or meaning (2: generator logits in the action head)."""


class Classifier(nn.Module):
    """Learned classifier for the bases ``base_names``.

    ``n_observations``: observations per training label (the joint head is fitted to
    the law of that many observations; compositions may use any number).
    ``num_atoms``: ``R``, atoms of the joint head's mixture.
    """

    def __init__(
        self,
        env: Environment,
        base_names: Sequence[str],
        n_observations: int = 2,
        hidden: int = 256,
        num_layers: int = 2,
        num_atoms: int = 8,
    ):
        super().__init__()
        if len(set(base_names)) != len(base_names) or len(base_names) < 2:
            raise UserError(f"a classifier needs at least two distinct bases, got {base_names}")
        self.env = env
        self.base_names = tuple(base_names)
        self.n_observations = n_observations
        self.num_atoms = num_atoms
        m = len(base_names)
        self.config = {
            "n_observations": n_observations,
            "hidden": hidden,
            "num_layers": num_layers,
            "num_atoms": num_atoms,
        }
        self.trunk = build_trunk(env, hidden, num_layers)
        self.terminal_head = mlp([hidden, hidden, m])
        self.generator_head = mlp([hidden, hidden, m])
        self.joint_head = mlp([hidden, hidden, m * num_atoms * (1 + m)])
        self.action_head = build_action_readout(env, hidden, m + m * num_atoms * (1 + m))
        self.register_buffer("cells", observation_cells(m, n_observations), persistent=False)
        self._encodings: StatesMemo = StatesMemo()

    def encode(self, states: States):
        return self._encodings.get(states, lambda: self.trunk(self.env.to_data(states)))

    def reusing(self) -> AbstractContextManager:
        """Within the block, each batch of states is encoded once (weights must not change)."""
        return self._encodings.active()

    def _atoms(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = len(self.base_names)
        out = out.unflatten(-1, (m, self.num_atoms, 1 + m))
        return torch.log_softmax(out[..., 0], dim=-1), out[..., 1:]

    def joint_atoms(self, encoding) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint head at ``s``: ``log π`` ``[B, m, R]`` and ``φ`` ``[B, m, R, m]``."""
        return self._atoms(self.joint_head(encoding.graph))

    def action_atoms(
        self, encoding, rows: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Generator and joint heads at the child of ``actions[k]`` taken in state ``rows[k]``
        (``LongTensor[K]`` each, allowed non-stop actions): generator logits ``[K, m]``,
        ``log π`` ``[K, m, R]`` and ``φ`` ``[K, m, R, m]``."""
        m = len(self.base_names)
        out = self.action_head(encoding, pairs=(rows, actions))
        return (out[:, :m], *self._atoms(out[:, m:]))

    @staticmethod
    def log_likelihood(
        log_pi: torch.Tensor, phi: torch.Tensor, log_weights: torch.Tensor, cells: torch.Tensor
    ) -> torch.Tensor:
        """``log Σ_r π_r Π_k softmax(φ_r + log ω^(k))[y_k]`` for every tuple ``y`` in ``cells``.

        Args:
            log_pi: ``[..., R]``; phi: ``[..., R, m]``.
            log_weights: ``[..., n, m]`` or ``[n, m]``.
            cells: ``LongTensor[C, n]``, the observation tuples.

        Returns:
            ``[..., C]``.

        The rows (the leading ``...``, flattened to ``K``) are laid out last, so that every
        operation runs along them rather than along the few atoms, observations and bases:
        2.3–2.7x faster on 30,000 rows, 3.9x with the gradient (``benchmarks/RESULTS.md``).
        """
        lead, (num_atoms, m), n = log_pi.shape[:-1], phi.shape[-2:], cells.shape[1]
        log_pi = log_pi.reshape(-1, num_atoms).T  # [R, K]
        phi = phi.reshape(-1, num_atoms, m).permute(1, 2, 0)  # [R, m, K]
        log_weights = log_weights.expand(*lead, n, m).reshape(-1, n, m).permute(1, 2, 0)
        per_atom = sum(  # [R, C, K]
            log_observation_probs(phi, log_weights[k], dim=1)[:, cells[:, k]] for k in range(n)
        )
        log_q = torch.logsumexp(log_pi[:, None] + per_atom, dim=0)  # [C, K]
        return log_q.T.reshape(*lead, len(cells))

    def _columns(self, names: Sequence[str]) -> list[int]:
        unknown = [n for n in names if n not in self.base_names]
        if unknown:
            raise UserError(f"bases {unknown} are unknown to the classifier ({self.base_names})")
        return [self.base_names.index(n) for n in names]

    def _log_q_bases(self, log_pi, phi, composition: Composition) -> torch.Tensor:
        """``log Q_i(y)`` for each base ``i`` of the composition, from atoms
        ``[..., m_all, R]`` and ``[..., m_all, R, m_all]``: ``[..., m]``."""
        cols = self._columns(composition.bases)
        log_pi, phi = log_pi[..., cols, :], phi[..., cols, :, :][..., cols]
        y = torch.tensor([composition.y_index], dtype=torch.long, device=phi.device)
        return self.log_likelihood(log_pi, phi, composition.log_weights(phi.device), y)[..., 0]

    def log_terminal_posterior(self, states: States, names: tuple[str, ...]) -> torch.Tensor:
        logits = self.terminal_head(self.encode(states).graph)
        return torch.log_softmax(logits[:, self._columns(names)], dim=1)

    def log_Q_bases(self, states: States, composition: Composition) -> torch.Tensor:
        """``log Q_i(y | s)`` per base ``i`` of ``composition``, from the joint head: ``[B, m]``."""
        return self._log_q_bases(*self.joint_atoms(self.encode(states)), composition)

    def log_Q_terminal(self, states: States, composition: Composition) -> torch.Tensor:
        logits = self.terminal_head(self.encode(states).graph)
        return log_observation_likelihood(logits[:, self._columns(composition.bases)], composition)

    def log_Q_pairs(
        self, states: States, rows: torch.Tensor, actions: torch.Tensor, composition: Composition
    ) -> torch.Tensor:
        """``log Q_i(y | step(s_rows[k], actions[k]))`` per base ``i`` of ``composition`` (stop:
        ``log Q_term(y | x = s)`` in every column) for allowed pairs, ``LongTensor[K]`` each,
        from one trunk pass on ``states``: ``[K, m]``."""
        encoding = self.encode(states)
        out = encoding.graph.new_empty(len(rows), len(composition.bases))
        stop = actions == self.env.stop_action
        k = stop.nonzero().squeeze(1)
        term_logits = self.terminal_head(encoding.graph[rows[k]])
        cols = self._columns(composition.bases)
        out[k] = log_observation_likelihood(term_logits[:, cols], composition)[:, None]
        k = (~stop).nonzero().squeeze(1)
        _, log_pi, phi = self.action_atoms(encoding, rows[k], actions[k])
        out[k] = self._log_q_bases(log_pi, phi, composition)
        return out
