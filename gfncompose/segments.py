"""Reductions over ragged rows: ``K`` values, each tagged with the row ``rows[k]`` it belongs to.

The flat action spaces are wide and sparse (the literature's fragment space has ~12,000
actions, of which a state allows a few hundred), so the learning code works on the allowed
``(row, action)`` pairs instead of dense ``[B, A]`` tensors where it can.
"""

from __future__ import annotations

import math

import torch


def segment_logsumexp(values: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    """``log Σ_{k: rows[k] = b} exp(values[k])`` for each row ``b < n``: ``[n]`` (``-inf`` for a
    row without values).

    Args:
        values: ``[K]``; rows: ``LongTensor[K]`` in ``0..n-1``, in any order.
    """
    shift = torch.full((n,), -math.inf, dtype=values.dtype, device=values.device)
    # shifted by each row's max; the sum does not depend on the shift, so no gradient
    shift = shift.scatter_reduce(0, rows, values.detach(), "amax")
    finite = torch.where(shift.isfinite(), shift, torch.zeros_like(shift))
    total = torch.zeros_like(shift).index_add(0, rows, (values - finite[rows]).exp())
    return finite + total.log()


def row_starts(rows: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For ``rows`` sorted ascending (``LongTensor[K]`` in ``0..n-1``): each row's count and the
    position of its first value, ``LongTensor[n]`` each."""
    counts = torch.bincount(rows, minlength=n)
    return counts, counts.cumsum(0) - counts


def positions_in_rows(rows: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Each value's position within its row, ``LongTensor[K]``: for ``rows`` sorted ascending
    (``LongTensor[K]``) and ``starts``, each row's first position (from :func:`row_starts`)."""
    return torch.arange(len(rows), device=rows.device) - starts[rows]


def unique_indices(values: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(values, return_inverse=True)`` for ``values`` (``LongTensor[K]``, any
    order) in ``0..size-1``: the distinct values ascending, ``[U]``, and each value's position
    among them, ``[K]``.

    Flags the values in a table of ``size``: ``O(K + size)``, where torch's unique sorts on
    the CPU. A step of the literature's fragment space scores ~150,000 allowed pairs, whose
    sort took 4 ms of each policy forward; use it where ``size`` is about ``K`` or less.
    """
    present = torch.zeros(size, dtype=torch.bool, device=values.device)
    present[values] = True
    position = present.cumsum(0) - 1
    return present.nonzero().squeeze(1), position[values]
