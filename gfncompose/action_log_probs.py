"""A forward policy's ``log P_F`` at the allowed actions of ``B`` states, in two layouts.

The flat action spaces are wide and sparse (a state of the literature's fragment space allows
~1,900 of its ~12,000 actions), so policies never hand out a dense ``[B, A]`` block to learn
from or to draw from. :class:`AllowedLogProbs` lists every allowed (state, action) pair;
:class:`SlotLogProbs` keeps :class:`~gfncompose.envs.FragmentEnv`'s actions by attachment slot,
one row of stems per allowed slot, without a list of pairs. Both answer the two questions the
learning code asks: ``at`` (the ``log P_F`` of given pairs, for losses and classifier labels)
and ``draw`` (actions per state from the explored policy, for sampling).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .categorical import explore, inverse_cdf, sample_rows, uniform_targets
from .segments import positions_in_rows, row_starts, segment_logsumexp

MASKED = float("-inf")
"""Log-probability of a forbidden action: masked by ``-inf``, never by multiplying."""


class AllowedLogProbs(NamedTuple):
    """``log P_F`` at every allowed action of ``B`` states, as ragged rows.

    Attributes:
        rows: ``LongTensor[K]``, the state of each pair, ascending.
        actions: ``LongTensor[K]``, its allowed action, ascending within a state.
        log_probs: ``[K]``, ``log P_F(actions[k] | states[rows[k]])`` (``-inf`` where an
            allowed action has probability 0).
        num_actions: ``A``, the size of the flat action space.
    """

    rows: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    num_actions: int

    @property
    def num_states(self) -> int:
        """``B``: every state allows some action, so the last row is the last state."""
        return int(self.rows[-1]) + 1

    def at(self, rows: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``log P_F(actions[k] | states[rows[k]])``: ``[K']``, ``-inf`` for an action its
        state does not allow (as in the dense ``[B, A]``)."""
        keys = self.rows * self.num_actions + self.actions
        query = rows * self.num_actions + actions
        position = torch.searchsorted(keys, query).clamp_max(len(keys) - 1)
        return torch.where(keys[position] == query, self.log_probs[position], MASKED)

    def draw(
        self,
        epsilon: float = 0.0,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``samples`` independent actions per state from ``(1-ε) P_F + ε U`` (``U`` uniform
        over the state's allowed actions), drawn over the allowed actions only:
        ``LongTensor[B, samples]``."""
        n = self.num_states
        probs = explore(self.log_probs.double().exp(), self.rows, n, epsilon)
        return self.actions[sample_rows(probs, self.rows, n, samples, generator)]

    def index(self, states: torch.Tensor) -> AllowedLogProbs:
        """The rows of ``states`` (``LongTensor[B']``, any order, repeats allowed)."""
        rows, position = _gather_rows(self.rows, self.num_states, states)
        return AllowedLogProbs(
            rows, self.actions[position], self.log_probs[position], self.num_actions
        )

    def shifted(self, log_weights: torch.Tensor) -> AllowedLogProbs:
        """``log w_b + log P(a | s_b)`` for ``log_weights`` ``[B]``."""
        return self._replace(log_probs=self.log_probs + log_weights[self.rows])

    def logaddexp(self, other: AllowedLogProbs) -> AllowedLogProbs:
        """``log(P + P')`` of two on the same states (the same allowed pairs)."""
        return self._replace(log_probs=torch.logaddexp(self.log_probs, other.log_probs))


class SlotLogProbs(NamedTuple):
    """``log P_F`` at the allowed actions of ``B`` states in
    :class:`~gfncompose.envs.FragmentEnv`'s layout (place one of ``F`` fragments | attach one
    of ``K`` stems at one of ``S`` slots | stop), kept by slot.

    A slot that allows attaching allows every stem, so its ``K`` log-probabilities are one
    row and the ~1,900 allowed pairs of a literature state are never listed: drawing picks a
    row of ``graph`` or a slot, then a stem.

    Attributes:
        graph: ``[B, F + 1]``, ``log P_F`` of placing each fragment (columns ``< F``) and of
            stopping (column ``F``); ``-inf`` exactly where the action is not allowed.
        rows: ``LongTensor[P]``, the state of each allowed slot, ascending.
        slots: ``LongTensor[P]``, the slot, ascending within a state.
        attach: ``[P, K]``, ``log P_F`` of attaching each stem at that slot.
        num_actions: ``A = F + S·K + 1``.
    """

    graph: torch.Tensor
    rows: torch.Tensor
    slots: torch.Tensor
    attach: torch.Tensor
    num_actions: int

    @property
    def num_fragments(self) -> int:
        return self.graph.shape[1] - 1

    @property
    def num_stems(self) -> int:
        return self.attach.shape[1]

    @property
    def num_slots(self) -> int:
        return (self.num_actions - 1 - self.num_fragments) // self.num_stems

    def at(self, rows: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``log P_F(actions[k] | states[rows[k]])``: ``[K']``, ``-inf`` for an action its
        state does not allow."""
        f, k, stop = self.num_fragments, self.num_stems, self.num_actions - 1
        is_attach = (actions >= f) & (actions < stop)
        # the row of each (state, slot) in ``attach``; an extra row of -inf for the rest
        row_of = torch.full((len(self.graph), self.num_slots), len(self.rows), device=rows.device)
        row_of[self.rows, self.slots] = torch.arange(len(self.rows), device=rows.device)
        padded = torch.cat([self.attach, self.attach.new_full((1, k), MASKED)])
        offset = (actions - f).clamp(0, self.num_slots * k - 1)
        attach = padded[row_of[rows, offset // k], offset % k]
        graph = self.graph[rows, torch.where(actions < f, actions, f)]
        return torch.where(is_attach, attach, graph)

    def draw(
        self,
        epsilon: float = 0.0,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``samples`` independent actions per state from ``(1-ε) P_F + ε U`` (``U`` uniform
        over the state's allowed actions): ``LongTensor[B, samples]``.

        The inverse CDF of the flat row, in two searches: over ``[place | each allowed slot's
        total | stop]`` (the flat order), then, for a slot, over its stems, with what is left
        of the same target. One random number per action, as a draw over the flat row takes,
        so it draws the same actions from the same stream.
        """
        n, f, k = len(self.graph), self.num_fragments, self.num_stems
        graph, attach = self.graph.double().exp(), self.attach.double().exp()
        slots_per_state, first = row_starts(self.rows, n)
        if epsilon:
            is_allowed = self.graph > MASKED
            uniform = epsilon / (is_allowed.sum(1) + k * slots_per_state)
            graph = (1.0 - epsilon) * graph + uniform[:, None] * is_allowed
            attach = (1.0 - epsilon) * attach + uniform[self.rows, None]
        stem_cumulative = attach.cumsum(dim=1)
        column = positions_in_rows(self.rows, first)
        choice = graph.new_zeros(n, f + int(slots_per_state.max()) + 1)
        choice[:, :f], choice[:, -1] = graph[:, :f], graph[:, f]
        choice[self.rows, f + column] = stem_cumulative[:, -1]
        cumulative = choice.cumsum(dim=1)
        picked, left = inverse_cdf(cumulative, uniform_targets(cumulative, samples, generator))
        actions = torch.where(picked < f, picked, self.num_actions - 1)
        state, sample = ((picked >= f) & (picked < choice.shape[1] - 1)).nonzero(as_tuple=True)
        slot_row = first[state] + picked[state, sample] - f
        stem, _ = inverse_cdf(stem_cumulative[slot_row], left[state, sample, None])
        # what is left can round up to the slot's total: stay on its last stem of weight > 0
        last = k - 1 - (attach[slot_row] > 0).flip(1).to(torch.uint8).argmax(dim=1)
        actions[state, sample] = f + self.slots[slot_row] * k + torch.minimum(stem[:, 0], last)
        return actions

    def index(self, states: torch.Tensor) -> SlotLogProbs:
        """The rows of ``states`` (``LongTensor[B']``, any order, repeats allowed)."""
        rows, position = _gather_rows(self.rows, len(self.graph), states)
        return SlotLogProbs(
            self.graph[states], rows, self.slots[position], self.attach[position], self.num_actions
        )

    def shifted(self, log_weights: torch.Tensor) -> SlotLogProbs:
        """``log w_b + log P(a | s_b)`` for ``log_weights`` ``[B]``."""
        return self._replace(
            graph=self.graph + log_weights[:, None],
            attach=self.attach + log_weights[self.rows, None],
        )

    def logaddexp(self, other: SlotLogProbs) -> SlotLogProbs:
        """``log(P + P')`` of two on the same states (the same allowed slots)."""
        return self._replace(
            graph=torch.logaddexp(self.graph, other.graph),
            attach=torch.logaddexp(self.attach, other.attach),
        )


def _gather_rows(
    rows: torch.Tensor, n: int, states: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For ragged values tagged with ``rows`` (ascending, in ``0..n-1``), the values of each of
    ``states`` in turn: their new rows (``0..B'-1``) and their positions among the old values."""
    counts, starts = row_starts(rows, n)
    new_rows = torch.repeat_interleave(
        torch.arange(len(states), device=rows.device), counts[states]
    )
    _, new_starts = row_starts(new_rows, len(states))
    return new_rows, starts[states][new_rows] + positions_in_rows(new_rows, new_starts)


def mixture(
    parts: Sequence[AllowedLogProbs] | Sequence[SlotLogProbs], log_weights: torch.Tensor
) -> AllowedLogProbs | SlotLogProbs:
    """``log Σ_i w_i P_i(a | s)`` of ``m`` policies' log-probabilities on the same ``B`` states
    (one layout, :class:`AllowedLogProbs` or :class:`SlotLogProbs`), ``log_weights``
    ``[B, m]``: the same layout."""
    if len({type(part) for part in parts}) > 1:
        layouts = ", ".join(type(part).__name__ for part in parts)
        raise TypeError(
            f"policies to mix give their log-probabilities in different layouts: {layouts}"
        )
    total = parts[0].shifted(log_weights[:, 0])
    for i in range(1, len(parts)):
        total = total.logaddexp(parts[i].shifted(log_weights[:, i]))
    return total


def slot_log_softmax(
    graph: torch.Tensor,
    empty: torch.Tensor,
    rows: torch.Tensor,
    slots: torch.Tensor,
    attach: torch.Tensor,
    num_actions: int,
) -> SlotLogProbs:
    """The log-softmax of a fragment policy's logits over each state's allowed actions.

    Args:
        graph: ``[B, F + 1]``, logits of placing each fragment and of stopping.
        empty: ``BoolTensor[B]``, the state is empty: placing allowed, stopping not (the other
            way round otherwise).
        rows, slots: ``LongTensor[P]``, the allowed slots (state ascending, then slot).
        attach: ``[P, K]``, logits of attaching each stem at each allowed slot.
        num_actions: ``A``.

    Each state's normaliser is ``log Σ`` over its allowed ``graph`` entries and every row of
    its slots (one ``logsumexp`` per slot, then per state).
    """
    f = graph.shape[1] - 1
    is_allowed = torch.cat([empty[:, None].expand(-1, f), ~empty[:, None]], dim=1)
    graph = graph.masked_fill(~is_allowed, MASKED)
    slot_total = segment_logsumexp(attach.logsumexp(dim=1), rows, len(graph))
    log_normaliser = torch.logaddexp(graph.logsumexp(dim=1), slot_total)
    return SlotLogProbs(
        graph - log_normaliser[:, None],
        rows,
        slots,
        attach - log_normaliser[rows, None],
        num_actions,
    )


def transition_log_probs(
    log_pf: AllowedLogProbs | SlotLogProbs, transitions: tuple[torch.Tensor, torch.Tensor], n: int
) -> torch.Tensor:
    """``log P_F(s' | s)`` of ``n`` steps: the log-sum of ``log_pf`` over the actions that make
    each step's child, ``transitions`` (``env.transition_actions``: rows into the steps and
    their actions, ``LongTensor[K]`` each), ``[n]``."""
    rows, actions = transitions
    return segment_logsumexp(log_pf.at(rows, actions), rows, n)
