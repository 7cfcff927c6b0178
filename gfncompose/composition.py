"""Compositions of base distributions (Compositional Sculpting, DESIGN §3).

A composition conditions the uniform mixture of its bases on observations
``y_1..y_n``, each naming a base and carrying its own weights ``ω^(k)``:

    p(y_k = i | x) = ω^(k)_i p_i(x) / Σ_j ω^(k)_j p_j(x)
    p̃(x | y) ∝ p_M(x) · Π_k p(y_k | x),   p_M = (1/m) Σ_i p_i

Bases are referred to by name. Here every function of the formula lives in one
place; the guided policy and the exact module only call these.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from .errors import UserError


@dataclass(frozen=True)
class Composition:
    """The mixture of ``bases`` conditioned on observations ``y``.

    Attributes:
        bases: the ``m`` base names of the mixture (uniform prior over them).
        y: ``n`` observed base names, each in ``bases``.
        weights: ``n`` weight vectors, each aligned with ``bases``, summing to 1.
        label: a readable name, e.g. ``"harmonic_mean(qed, sa, alpha=0.5)"``.
    """

    bases: tuple[str, ...]
    y: tuple[str, ...]
    weights: tuple[tuple[float, ...], ...]
    label: str

    @property
    def y_index(self) -> tuple[int, ...]:
        """Positions of the observed names in ``bases``."""
        return tuple(self.bases.index(name) for name in self.y)

    def log_weights(
        self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """``log ω``: ``[n, m]`` (``-inf`` where a weight is 0)."""
        return torch.tensor(self.weights, dtype=dtype, device=device).log()


def _check_names(names: Sequence[str], where: str) -> None:
    if len(set(names)) != len(names):
        raise UserError(f"{where}: bases must be distinct, got {list(names)}")
    if len(names) < 1:
        raise UserError(f"{where}: needs at least one base")


def _check_alpha(alpha: float, where: str) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise UserError(f"{where}: alpha must lie strictly between 0 and 1, got {alpha}")
    return alpha


def mixture(*bases: str) -> Composition:
    """The plain uniform mixture ``p_M = (1/m) Σ p_i`` (no observation)."""
    _check_names(bases, "mixture")
    return Composition(tuple(bases), (), (), f"mixture({', '.join(bases)})")


def harmonic_mean(a: str, b: str, alpha: float = 0.5) -> Composition:
    """``p̃ ∝ p_a p_b / (α p_a + (1-α) p_b)``: molecules both bases like.

    ``y = (a, b)`` with uniform ``ω^(1)`` and ``ω^(2) = (α, 1-α)``.
    """
    _check_names((a, b), "harmonic_mean")
    alpha = _check_alpha(alpha, "harmonic_mean")
    weights = ((0.5, 0.5), (alpha, 1.0 - alpha))
    return Composition((a, b), (a, b), weights, f"harmonic_mean({a}, {b}, alpha={alpha:g})")


def contrast(a: str, b: str, alpha: float = 0.5) -> Composition:
    """``p̃ ∝ p_a² / (α p_a + (1-α) p_b)``: what ``a`` likes and ``b`` does not.

    ``y = (a, a)`` with uniform ``ω^(1)`` and ``ω^(2) = (α, 1-α)``; the paper's
    ``p_a ◑_γ p_b`` has ``γ = 1 - α``.
    """
    _check_names((a, b), "contrast")
    alpha = _check_alpha(alpha, "contrast")
    weights = ((0.5, 0.5), (alpha, 1.0 - alpha))
    return Composition((a, b), (a, a), weights, f"contrast({a}, {b}, alpha={alpha:g})")


def compose(
    y: Sequence[str],
    weights: Sequence[Sequence[float] | Mapping[str, float]] | None = None,
    bases: Sequence[str] | None = None,
) -> Composition:
    """The general composition: the mixture of ``bases`` conditioned on ``y``.

    Args:
        y: observed base names, e.g. ``("a", "b", "c")`` gives ``p_a p_b p_c / (Σp)²``.
        weights: per observation, a weight vector aligned with ``bases`` or a
            ``{name: weight}`` mapping (missing names weigh 0); normalised to sum 1.
            Default: uniform for every observation.
        bases: the mixture's bases; default the distinct names of ``y`` in order.
            Bases not named in ``y`` are unobserved: they stay in the mixture and
            in every ``p(y_k | x)`` denominator.
    """
    y = tuple(y)
    bases = tuple(dict.fromkeys(y)) if bases is None else tuple(bases)
    _check_names(bases, "compose")
    for k, name in enumerate(y):
        if name not in bases:
            raise UserError(f"compose: y[{k}] = {name!r} is not one of the bases {list(bases)}")
    if weights is None:
        weights = [[1.0] * len(bases)] * len(y)
    if len(weights) != len(y):
        raise UserError(f"compose: {len(weights)} weight vectors for {len(y)} observations")
    rows = []
    for k, w in enumerate(weights):
        if isinstance(w, Mapping):
            unknown = set(w) - set(bases)
            if unknown:
                raise UserError(f"compose: weights[{k}] names unknown bases {sorted(unknown)}")
            w = [float(w.get(name, 0.0)) for name in bases]
        w = [float(v) for v in w]
        if len(w) != len(bases) or any(not math.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
            raise UserError(
                f"compose: weights[{k}] must be {len(bases)} non-negative numbers with a "
                f"positive sum, got {w}"
            )
        if w[bases.index(y[k])] == 0:
            raise UserError(f"compose: weights[{k}] gives the observed base {y[k]!r} weight 0")
        rows.append(tuple(v / sum(w) for v in w))
    label = f"compose(y=({', '.join(y)}), bases=({', '.join(bases)}))"
    return Composition(bases, y, tuple(rows), label)


def log_observation_probs(
    log_posterior: torch.Tensor, log_weights: torch.Tensor, dim: int = -1
) -> torch.Tensor:
    """The observation model ``log p(y_k = i | x) = log softmax(log p(i | x) + log ω^(k))_i``.

    Args:
        log_posterior: ``[..., m, ...]``, ``log p(i | x)`` up to a constant along ``dim`` (a
            classifier's terminal logits ``f(x)`` are one), the bases ``i`` along ``dim``
            (default: the last axis).
        log_weights: ``log ω^(k)``, its bases along the same axis; broadcast against
            ``log_posterior``.

    Returns:
        ``log_posterior``'s shape, normalised along ``dim``.
    """
    return torch.log_softmax(log_posterior + log_weights, dim=dim)


def log_observation_likelihood(
    log_posterior: torch.Tensor, composition: Composition
) -> torch.Tensor:
    """``log Π_k p(y_k | x)`` from the uniform-prior posterior over the bases.

    Args:
        log_posterior: ``[B, m]``, ``log p(i | x) ∝ log p_i(x)`` up to a per-row
            constant (any normalisation), columns aligned with ``composition.bases``.

    Returns:
        ``[B]``: ``Σ_k log softmax(log_posterior + log ω^(k))[y_k]``.
    """
    log_w = composition.log_weights(log_posterior.device, log_posterior.dtype)
    total = torch.zeros(log_posterior.shape[0], device=log_posterior.device)
    for k, i in enumerate(composition.y_index):
        total = total + log_observation_probs(log_posterior, log_w[k])[:, i]
    return total


def composition_distribution(
    distributions: Mapping[str, torch.Tensor], composition: Composition
) -> torch.Tensor:
    """The exact composed distribution ``p̃`` from the bases' terminal distributions.

    Args:
        distributions: ``{name: p_i}``, each ``[X]`` over the same terminal objects.

    Returns:
        ``[X]``, normalised: ``p̃ ∝ p_M · Π_k p(y_k | x)``.
    """
    p = torch.stack([distributions[name].double() for name in composition.bases], dim=1)
    log_p_mix = torch.log(p.mean(1))
    log_lik = log_observation_likelihood(p.log(), composition) if composition.y else 0.0
    log_joint = torch.nan_to_num(log_p_mix + log_lik, nan=float("-inf"))
    return torch.softmax(log_joint, dim=0)


def observation_cells(m: int, n: int) -> torch.Tensor:
    """All ``m**n`` observation tuples in row-major order: ``LongTensor[m**n, n]``."""
    return torch.tensor(list(itertools.product(range(m), repeat=n)), dtype=torch.long).view(-1, n)


def log_likelihood_bound(composition: Composition, starts: int = 64, steps: int = 300) -> float:
    """``log sup_p Π_k p(y_k | x)`` over every terminal posterior ``p(· | x)`` in the simplex.

    ``Q(y | s)`` of any classifier, exact or learned (each atom of the joint head is a
    posterior too), and ``Q_term`` are averages of this product, so this bounds them;
    guided sampling accepts a proposal with probability ``Q / bound`` (the harmonic
    mean's is ``1/4``, ``compose(y=(a, b, c))``'s ``1/27``, a contrast's ``1``). The
    supremum is found by gradient ascent from the uniform posterior and ``starts``
    random ones (float64), compared with every vertex, and raised by 1% so that an
    optimum approached only at the boundary is still covered. Returns ``≤ 0``.
    """
    m = len(composition.bases)
    generator = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.zeros(1, m), 3 * torch.randn(starts, m, generator=generator)])
    logits = logits.double().requires_grad_()
    optimizer = torch.optim.Adam([logits], lr=0.1)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            log_p = torch.log_softmax(logits, dim=1)
            (-log_observation_likelihood(log_p, composition).sum()).backward()
            optimizer.step()
    with torch.no_grad():
        interior = log_observation_likelihood(torch.log_softmax(logits, dim=1), composition)
        vertices = torch.full((m, m), -torch.inf, dtype=torch.float64).fill_diagonal_(0.0)
        corner = log_observation_likelihood(vertices, composition).nan_to_num(nan=-torch.inf)
        best = float(torch.cat([interior, corner]).max())
    return min(0.0, best + math.log(1.01))
