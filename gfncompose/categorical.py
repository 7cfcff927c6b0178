"""Exact draws from categorical distributions given as weights: dense rows, ragged rows, and
the exploration mixture ``(1-ε) P_F + ε U``."""

from __future__ import annotations

import torch

from .segments import positions_in_rows, row_starts


def explore(probs: torch.Tensor, rows: torch.Tensor, n: int, epsilon: float) -> torch.Tensor:
    """``(1-ε) P_F + ε U`` at the allowed pairs of ``n`` states: ``probs`` ``[K]`` of the pairs
    in ``rows`` (``LongTensor[K]``, ascending, every allowed action of each state), ``U``
    uniform over each state's allowed actions: ``[K]``."""
    if epsilon == 0.0:
        return probs
    counts, _ = row_starts(rows, n)
    return (1.0 - epsilon) * probs + epsilon / counts[rows].to(probs.dtype)


def sample_weighted(
    weights: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One index per row of ``weights`` ``[B, A]`` (float64, ``≥ 0``, some ``> 0`` per row),
    drawn with probability proportional to its weight: ``LongTensor[B]``.

    Inverse CDF: the first ``a`` whose running sum ``C_a`` exceeds ``u · C_A``, ``u ~ U[0, 1)``,
    found by binary search. A weight of 0 is a flat step of ``C`` and never the first to
    exceed anything. Exact, and it draws ``B`` random numbers where Gumbel-max drew ``B · A``
    (the literature's fragment space has ~12,000 actions: that noise was 17% of a training
    step). ``generator``: the random stream (``None``: torch's global one).
    """
    cumulative = weights.cumsum(dim=1)
    index, _ = inverse_cdf(cumulative, uniform_targets(cumulative, 1, generator))
    return index.squeeze(1)


def uniform_targets(
    cumulative: torch.Tensor, samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``u · C_A`` per row of running sums ``cumulative`` ``[B, A]`` and sample, ``u ~ U[0, 1)``
    (``samples`` random numbers per row from ``generator``): ``[B, samples]``, each below its
    row's total ``C_A``."""
    total = cumulative[:, -1:]
    # u ≤ 1 − 2⁻⁵³, so u · total < total after rounding: the search ends at a weight > 0
    u = torch.rand(len(total), samples, generator=generator, dtype=total.dtype, device=total.device)
    return u * total


def inverse_cdf(
    cumulative: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of running sums ``cumulative`` ``[B, A]``, the first ``a`` whose ``C_a``
    exceeds each of the row's ``targets`` ``[B, k]`` (``LongTensor[B, k]``), and how far past
    ``C_{a-1}`` the target lies (``[B, k]``, in ``[0, w_a)`` up to rounding): the target of a
    draw within ``a``'s own weights, which is again uniform there."""
    index = torch.searchsorted(cumulative, targets, right=True)
    before = cumulative.gather(1, (index - 1).clamp(0, cumulative.shape[1] - 1))
    return index, targets - torch.where(index > 0, before, 0.0)


def sample_rows(
    weights: torch.Tensor,
    rows: torch.Tensor,
    n: int,
    samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """For each of ``n`` rows, ``samples`` independent positions ``k`` among its values, each
    drawn with probability proportional to ``weights[k]``: ``LongTensor[n, samples]`` into
    ``[K]``.

    ``weights``: ``[K]`` float64, ``≥ 0``, some ``> 0`` in every row; ``rows``: ``LongTensor[K]``
    ascending. The rows are laid out as a zero-padded table as wide as the longest row and
    drawn by inverse CDF as in :func:`sample_weighted` (exact): on the literature's fragment
    space that table is a few hundred columns wide where the dense action space has ~12,000.
    """
    counts, starts = row_starts(rows, n)
    table = weights.new_zeros(n, int(counts.max()))
    table[rows, positions_in_rows(rows, starts)] = weights
    cumulative = table.cumsum(dim=1)
    index, _ = inverse_cdf(cumulative, uniform_targets(cumulative, samples, generator))
    return starts[:, None] + index


def sample_actions(
    log_probs: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One action per row of ``log_probs`` ``[B, A]`` (``-inf`` never drawn): ``LongTensor[B]``
    (:func:`sample_weighted` of ``exp(log p − max)``)."""
    return sample_weighted(
        (log_probs - log_probs.amax(dim=1, keepdim=True)).double().exp(), generator
    )
