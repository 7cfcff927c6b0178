"""Reductions over ragged rows (gfncompose.segments)."""

import torch

from gfncompose.segments import positions_in_rows, row_starts, unique_indices


def test_unique_indices_is_torch_unique_with_inverse():
    generator = torch.Generator().manual_seed(0)
    for size, k in [(1, 5), (7, 3), (50, 400), (5000, 200)]:
        values = torch.randint(0, size, (k,), generator=generator)  # unsorted, repeated
        distinct, inverse = unique_indices(values, size)
        expected_distinct, expected_inverse = torch.unique(values, return_inverse=True)
        assert torch.equal(distinct, expected_distinct)
        assert torch.equal(inverse, expected_inverse)
        assert torch.equal(distinct[inverse], values)


def test_unique_indices_of_nothing():
    distinct, inverse = unique_indices(torch.zeros(0, dtype=torch.long), 4)
    assert distinct.shape == (0,) and inverse.shape == (0,)


def test_row_starts_and_positions_in_rows():
    rows = torch.tensor([0, 0, 0, 2, 3, 3])  # row 1 empty
    counts, starts = row_starts(rows, 5)
    assert counts.tolist() == [3, 0, 1, 2, 0]
    assert starts.tolist() == [0, 3, 3, 4, 6]
    assert positions_in_rows(rows, starts).tolist() == [0, 1, 2, 0, 0, 1]
