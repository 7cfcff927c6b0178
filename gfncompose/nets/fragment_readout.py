"""Networks of :class:`~gfncompose.envs.FragmentEnv`: the GINE trunk and a stem-level readout.

Attach actions are scored bilinearly: an attachment slot's node features (with
graph context and ``cond``) go through an MLP to ``channels`` vectors, each
dotted with a learned embedding of the (fragment, stem) pair to attach. Only
slots that exist are computed (a molecule has far fewer attachment points than
the layout's ``S`` slots); the rest of the dense ``[B, S, K, channels]`` block is
zero and masked by the policy anyway. Scoring selected pairs computes only the
slots and stems they name (see :meth:`FragmentReadout.attach_scores`). Placing
the first fragment and stopping are graph-level heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.data import Batch

from ..action_log_probs import SlotLogProbs, slot_log_softmax
from ..envs.base import States
from ..envs.fragments import FragmentEnv, SlotMask
from ..segments import positions_in_rows, row_starts, unique_indices
from .base import ActionReadout, Pairs, allowed_actions, build_action_readout, build_trunk
from .gnn import GraphActionReadout, GraphEncoding, GraphTrunk


@dataclass
class FragmentEncoding(GraphEncoding):
    """:class:`GraphEncoding` plus ``slot_node``: ``LongTensor[B, S]``, the node of each
    attachment slot (``-1`` where the molecule has fewer attachment points)."""

    slot_node: torch.Tensor | None = None


class FragmentTrunk(GraphTrunk):
    """:class:`GraphTrunk` that passes the batch's attachment slots on to the readout."""

    def forward(self, data: Batch) -> FragmentEncoding:
        encoding = super().forward(data)
        return FragmentEncoding(**vars(encoding), slot_node=data.slot_node)


ALL_STEMS_FILL = 2
"""Score every stem of the slots that pairs name when that is at most this many scores per
pair asked: one matmul against the shared stem table, where the batched matmul copies an
embedding per (slot, stem) and pads: all 167,214 allowed actions of 485 states of the
literature's space (163 stems, hidden 128, one channel) took 16 ms instead of 85 ms (measured
against the batched matmul per state that the one per slot replaced)."""


def _positions(group: torch.Tensor, num_groups: int, item: torch.Tensor, num_items: int):
    """Distinct ``(group, item)`` pairs laid out as a ragged ``[G, width]`` table.

    Args:
        group: ``LongTensor[K]`` in ``0..num_groups-1``; item: ``LongTensor[K]`` in
            ``0..num_items-1``.

    Returns:
        ``(group_of, item_of, column_of, inverse, width)``: for each distinct pair its
        group, item and column in the table; for each input its distinct pair; and the
        table width (the most distinct items of one group).
    """
    unique, inverse = unique_indices(group * num_items + item, num_groups * num_items)
    group_of, item_of = unique // num_items, unique % num_items
    counts, first = row_starts(group_of, num_groups)  # group_of ascends, as unique does
    return group_of, item_of, positions_in_rows(group_of, first), inverse, int(counts.max())


class FragmentReadout(GraphActionReadout):
    """``[place first fragment (F) | attach (S·K) | stop]``, each with ``channels`` numbers."""

    def __init__(self, env: FragmentEnv, hidden: int, channels: int):
        super().__init__(hidden, channels)
        self.num_fragments = env.num_fragments
        self.num_slots = env.num_slots
        self.num_stems = env.num_stems
        self.attach_offset = env.attach_offset
        self.stop_action = env.stop_action
        self.graph_head = self.head(env.num_fragments + 1)
        self.slot_head = self.head(hidden)
        self.stem_embedding = nn.Embedding(env.num_stems, hidden)

    def forward(
        self,
        encoding: FragmentEncoding,
        cond: torch.Tensor | None = None,
        pairs: Pairs | None = None,
    ) -> torch.Tensor:
        """``[B, A, channels]`` in ``FragmentEnv``'s flat action layout, or ``[K, channels]``
        for ``pairs``."""
        graph, node = self.features(encoding, cond)
        if pairs is None:
            return self._all_actions(encoding, graph, node)
        rows, actions = pairs
        out = graph.new_empty(len(rows), self.channels)
        is_attach = (actions >= self.attach_offset) & (actions < self.stop_action)
        k = (~is_attach).nonzero().squeeze(1)
        column = torch.where(actions[k] == self.stop_action, self.num_fragments, actions[k])
        out[k] = self.select(self.graph_head, graph, rows[k], column)
        k = is_attach.nonzero().squeeze(1)
        offset = actions[k] - self.attach_offset
        slot, stem = offset // self.num_stems, offset % self.num_stems
        out[k] = self.attach_scores(node, encoding.slot_node, rows[k], slot, stem)
        return out

    def log_softmax(
        self, encoding: FragmentEncoding, allowed: SlotMask, num_actions: int
    ) -> SlotLogProbs:
        """The one-channel log-softmax over each state's allowed actions, kept by slot: each
        allowed slot's features meet the whole stem table in one matmul (``[P, hidden] @
        [hidden, K]``), and no allowed pair is listed (:func:`slot_log_softmax`)."""
        graph, node = self.features(encoding, None)
        rows, slots = allowed.slots.nonzero(as_tuple=True)
        attach = self.stem_scores(self.slot_head(node[encoding.slot_node[rows, slots]]))[:, 0]
        return slot_log_softmax(
            self.graph_head(graph), allowed.empty, rows, slots, attach, num_actions
        )

    def stem_scores(self, slot_features: torch.Tensor) -> torch.Tensor:
        """The bilinear attach scores of ``P`` slots against every stem: their ``slot_head``
        features ``[P, channels·hidden]`` dotted with each stem's embedding, ``[P, channels,
        K]``."""
        view = slot_features.view(-1, self.channels, self.hidden)
        return view @ self.stem_embedding.weight.T

    def attach_scores(
        self,
        node: torch.Tensor,
        slot_node: torch.Tensor,
        rows: torch.Tensor,
        slots: torch.Tensor,
        stems: torch.Tensor,
    ) -> torch.Tensor:
        """Scores of attaching stem ``stems[k]`` at slot ``slots[k]`` of state ``rows[k]``:
        ``[K, channels]``.

        Each distinct slot the pairs name goes through ``slot_head`` once. When the pairs ask
        for most stems of those slots (every allowed action of a state, as guidance's dense
        fallback and a sparse log-softmax do), each is scored against the whole stem table in
        one matmul (``[P, channels, hidden] @ [hidden, stems]``). Otherwise (one attach per
        state in training, a few proposals per state in guidance) each slot meets the
        embeddings of its own stems in one batched matmul (``[P, channels, hidden] @ [P,
        hidden, width]``, zero padded to the slot asking for the most stems), which costs
        ``O(P·width·channels·hidden)``.
        """
        if not len(rows):
            return node.new_zeros(0, self.channels)
        named, slot_of_pair = unique_indices(rows * self.num_slots + slots, slot_node.numel())
        slot_features = self.slot_head(node[slot_node.view(-1)[named]])
        if len(named) * self.num_stems <= ALL_STEMS_FILL * len(rows):
            return self.stem_scores(slot_features)[slot_of_pair, :, stems]
        slot_of, stem_of, column_of, pair_of, width = _positions(
            slot_of_pair, len(named), stems, self.num_stems
        )
        right = node.new_zeros(len(named), width, self.hidden)
        right[slot_of, column_of] = self.stem_embedding(stem_of)
        view = slot_features.view(len(named), self.channels, self.hidden)
        scores = torch.bmm(view, right.transpose(1, 2))  # [P, channels, width]
        return scores[slot_of_pair, :, column_of[pair_of]]

    def _all_actions(self, encoding: FragmentEncoding, graph: torch.Tensor, node: torch.Tensor):
        batch_size, c = len(encoding.graph), self.channels
        graph_out = self.graph_head(graph).view(batch_size, -1, c)
        rows, slots = (encoding.slot_node >= 0).nonzero(as_tuple=True)
        slot_features = self.slot_head(node[encoding.slot_node[rows, slots]])
        scores = self.stem_scores(slot_features).transpose(1, 2)
        # written into one zeroed [B, A, c] block: the attach part is ~99% of the literature
        # space's ~12,000 actions and mostly absent slots, so no second dense copy (a cat)
        out = graph.new_zeros(batch_size, self.stop_action + 1, c)
        out[:, : self.num_fragments] = graph_out[:, :-1]
        out[:, self.stop_action] = graph_out[:, -1]
        first = self.attach_offset + slots * self.num_stems
        stems = torch.arange(self.num_stems, device=first.device)
        out[rows[:, None], first[:, None] + stems] = scores
        return out


@build_trunk.register
def _(env: FragmentEnv, hidden: int, num_layers: int) -> nn.Module:
    featurizer = env.featurizer
    return FragmentTrunk(
        featurizer.num_atom_features, featurizer.num_bond_features, hidden, num_layers
    )


@allowed_actions.register
def _(env: FragmentEnv, states: States) -> SlotMask:
    return env.slot_mask(states)


@build_action_readout.register
def _(env: FragmentEnv, hidden: int, channels: int) -> ActionReadout:
    return FragmentReadout(env, hidden, channels)
