"""StatesMemo: a batch's encoding is computed once inside an ``active`` block, never kept
outside one (where weights may change between calls)."""

import torch

from gfncompose.memo import StatesMemo


def counting():
    calls = []

    def compute():
        calls.append(1)
        return torch.randn(3)

    return calls, compute


def test_inside_a_block_each_batch_is_computed_once():
    memo, states, other = StatesMemo(), torch.zeros(2, 2), torch.zeros(2, 2)
    calls, compute = counting()
    with memo.active():
        first = memo.get(states, compute)
        assert memo.get(states, compute) is first
        with memo.active():  # nested blocks share the outer one's values
            assert memo.get(states, compute) is first
        assert memo.get(other, compute) is not first  # equal values, another batch
    assert len(calls) == 2


def test_outside_a_block_nothing_is_kept():
    memo, states = StatesMemo(), torch.zeros(2, 2)
    calls, compute = counting()
    memo.get(states, compute)
    memo.get(states, compute)
    with memo.active():
        memo.get(states, compute)
    memo.get(states, compute)
    assert len(calls) == 4
