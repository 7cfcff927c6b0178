"""A fragment policy's log-probabilities kept by slot: looked up, normalised and drawn exactly
as the dense ``[B, A]`` row they stand for (the network-level equality is in
``test_sparse_log_probs.py``)."""

from __future__ import annotations

import math

import pytest
import torch

from gfncompose.action_log_probs import MASKED, SlotLogProbs, mixture, slot_log_softmax
from gfncompose.policy import allowed_of, masked_log_softmax

# F = 2 fragments, S = 2 slots, K = 3 stems: actions 0-1 place, 2 + 3·slot + stem attach, 8 stop
F, S, K = 2, 2, 3
A = F + S * K + 1
PROBS = torch.tensor(
    [
        [0.25, 0.75, 0, 0, 0, 0, 0, 0, 0],  # the empty state: place only
        [0, 0, 0.2, 0.0, 0.1, 0.3, 0.2, 0.1, 0.1],  # slots 0 and 1 (one stem of probability 0)
        [0, 0, 0, 0, 0, 0, 0, 0, 1.0],  # may not grow: stop only
        [0, 0, 0, 0, 0, 0.25, 0.25, 0.0, 0.5],  # slot 1 only
    ],
    dtype=torch.float64,
)
ALLOWED = torch.tensor(
    [
        [1, 1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1, 1, 1, 1],
    ],
    dtype=torch.bool,
)


def _slot_log_probs(probs: torch.Tensor = PROBS) -> SlotLogProbs:
    """``probs`` ``[4, A]`` (allowed where ``ALLOWED``) kept by slot."""
    log_p = probs.log().masked_fill(~ALLOWED, MASKED)
    rows, slots = torch.tensor([1, 1, 3]), torch.tensor([0, 1, 1])
    attach = log_p[:, F : F + S * K].view(-1, S, K)[rows, slots]
    graph = torch.cat([log_p[:, :F], log_p[:, -1:]], dim=1)
    return SlotLogProbs(graph, rows, slots, attach, A)


def test_looking_up_any_pair_gives_the_dense_row_and_minus_infinity_where_forbidden():
    rows = torch.arange(4).repeat_interleave(A)
    actions = torch.arange(A).repeat(4)
    looked_up = _slot_log_probs().at(rows, actions).view(4, A)
    expected = PROBS.log().masked_fill(~ALLOWED, MASKED)
    torch.testing.assert_close(looked_up, expected)


def test_drawn_actions_follow_the_explored_policy_over_every_allowed_action():
    """``(1-ε) P_F + ε U`` with ``U`` uniform over each state's allowed actions (2, 7, 1 and 4
    of them): chi-squared over the allowed cells of each state (16 degrees of freedom in all;
    39.3 is the 0.999 quantile); an action of probability 0 is drawn only by exploring."""
    n, epsilon = 50_000, 0.3
    generator = torch.Generator().manual_seed(0)
    drawn = _slot_log_probs().draw(epsilon, n, generator)
    counts = torch.stack([torch.bincount(row, minlength=A) for row in drawn]).double()
    uniform = ALLOWED / ALLOWED.sum(dim=1, keepdim=True)
    expected = n * ((1 - epsilon) * PROBS + epsilon * uniform)
    assert counts[~ALLOWED].sum() == 0
    chi2 = ((counts[ALLOWED] - expected[ALLOWED]) ** 2 / expected[ALLOWED]).sum()
    assert chi2 < 39.3
    plain = _slot_log_probs().draw(0.0, n, generator)
    assert (plain[1] != 3).all() and (plain[3] != 7).all()  # the stems of probability 0


def test_it_draws_the_actions_of_the_flat_draw_from_the_same_random_stream():
    """One random number per action, searched over the flat order (place, slots and their
    stems, stop): the same actions as the draw over every allowed pair, exploring or not."""
    flat = allowed_of(PROBS.log().masked_fill(~ALLOWED, MASKED), ALLOWED)
    for epsilon in (0.0, 0.3):
        by_slot = _slot_log_probs().draw(epsilon, 5_000, torch.Generator().manual_seed(1))
        by_pair = flat.draw(epsilon, 5_000, torch.Generator().manual_seed(1))
        assert torch.equal(by_slot, by_pair)


def test_the_slot_log_softmax_is_the_masked_log_softmax_of_the_dense_logits():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, A, generator=generator, dtype=torch.float64)
    rows, slots = torch.tensor([1, 1, 3]), torch.tensor([0, 1, 1])
    empty = torch.tensor([True, False, False, False])
    allowed = slot_log_softmax(
        torch.cat([logits[:, :F], logits[:, -1:]], dim=1),
        empty,
        rows,
        slots,
        logits[:, F : F + S * K].view(-1, S, K)[rows, slots],
        A,
    )
    every = allowed.at(torch.arange(4).repeat_interleave(A), torch.arange(A).repeat(4))
    torch.testing.assert_close(every.view(4, A), masked_log_softmax(logits, ALLOWED))
    assert math.isclose(float(every.exp().sum()), 4.0, rel_tol=1e-12)


def _every_entry(allowed, n: int) -> torch.Tensor:
    """The dense ``[n, A]`` of log-probabilities of ``n`` states, read pair by pair."""
    return allowed.at(torch.arange(n).repeat_interleave(A), torch.arange(A).repeat(n)).view(n, A)


def test_picking_states_and_mixing_keep_both_layouts_equal_to_the_dense_rows():
    """``index`` (any order, repeats) picks each state's row; ``mixture`` of two policies with
    per-state weights is ``log Σ_i w_i P_i`` of the dense rows, kept by slot or by pair."""
    generator = torch.Generator().manual_seed(0)
    other = masked_log_softmax(torch.randn(4, A, generator=generator), ALLOWED).double().exp()
    log_w = torch.log_softmax(torch.randn(4, 2, generator=generator, dtype=torch.float64), 1)
    expected = torch.logsumexp(
        torch.stack([log_w[:, 0, None] + PROBS.log(), log_w[:, 1, None] + other.log()]), 0
    ).masked_fill(~ALLOWED, MASKED)
    picked = torch.tensor([3, 0, 3, 2, 1])
    by_pair = [allowed_of(p.log().masked_fill(~ALLOWED, MASKED), ALLOWED) for p in (PROBS, other)]
    for parts in ([_slot_log_probs(), _slot_log_probs(other)], by_pair):
        mixed = mixture(parts, log_w)
        torch.testing.assert_close(_every_entry(mixed, 4), expected)
        torch.testing.assert_close(_every_entry(mixed.index(picked), 5), expected[picked])
    with pytest.raises(TypeError, match="different layouts: SlotLogProbs, AllowedLogProbs"):
        mixture([_slot_log_probs(), by_pair[1]], log_w)
