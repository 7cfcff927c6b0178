"""Networks of :class:`~gfncompose.envs.FragmentEnv`: the GINE trunk and a stem-level readout.

Attach actions are scored bilinearly: an attachment slot's node features (with
graph context and ``cond``) go through an MLP to ``channels`` vectors, each
dotted with a learned embedding of the (fragment, stem) pair to attach. Only
slots that exist are computed (a molecule has far fewer attachment points than
the layout's ``S`` slots); the rest of the ``[B, S, K, channels]`` block is zero
and masked by the policy anyway. Placing the first fragment and stopping are
graph-level heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.data import Batch

from ..envs.fragments import FragmentEnv
from .base import ActionReadout, build_action_readout, build_trunk
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


class FragmentReadout(GraphActionReadout):
    """``[place first fragment (F) | attach (S·K) | stop]``, each with ``channels`` numbers."""

    def __init__(self, env: FragmentEnv, hidden: int, channels: int):
        super().__init__(hidden, channels)
        self.num_fragments = env.num_fragments
        self.num_slots = env.num_slots
        self.graph_head = self.head(env.num_fragments + 1)
        self.slot_head = self.head(hidden)
        self.stem_embedding = nn.Embedding(env.num_stems, hidden)

    def forward(self, encoding: FragmentEncoding, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, A, channels]`` in ``FragmentEnv``'s flat action layout."""
        batch_size, c = len(encoding.graph), self.channels
        graph, node = self.features(encoding, cond)
        graph_out = self.graph_head(graph).view(batch_size, -1, c)
        rows, slots = (encoding.slot_node >= 0).nonzero(as_tuple=True)
        slot = self.slot_head(node[encoding.slot_node[rows, slots]]).view(-1, c, self.hidden)
        scores = torch.einsum("nch,kh->nkc", slot, self.stem_embedding.weight)
        attach = graph.new_zeros(batch_size, self.num_slots, *scores.shape[1:])
        attach[rows, slots] = scores
        return torch.cat(
            [graph_out[:, :-1], attach.view(batch_size, -1, c), graph_out[:, -1:]], dim=1
        )


@build_trunk.register
def _(env: FragmentEnv, hidden: int, num_layers: int) -> nn.Module:
    featurizer = env.featurizer
    return FragmentTrunk(
        featurizer.num_atom_features, featurizer.num_bond_features, hidden, num_layers
    )


@build_action_readout.register
def _(env: FragmentEnv, hidden: int, channels: int) -> ActionReadout:
    return FragmentReadout(env, hidden, channels)
