"""Graph networks for the molecule environments: a GINE trunk and graph/node/pair heads.

The trunk embeds a torch-geometric ``Batch`` (atom features ``x``, bond features
``edge_attr``) into node embeddings and a pooled graph embedding. An action
readout scores actions at three levels and lays the scores into the
environment's flat action layout:

- graph-level actions (stop, place the first atom) from the graph embedding;
- node-level actions (add an atom to atom ``i``) from node embeddings, made dense
  per graph with ``to_dense_batch`` (padding rows are masked later anyway);
- pair-level actions (bond atoms ``i < j``) from a symmetric function of the two
  node embeddings plus an embedding of their graph distance (ring size).

The categorical over all of them is normalised jointly per graph by
:func:`gfncompose.policy.masked_log_softmax`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool
from torch_geometric.utils import to_dense_batch

from ..envs.atoms import ORDERS, AtomEnv
from ..segments import unique_indices
from .base import ActionReadout, Encoding, Pairs, build_action_readout, build_trunk
from .mlp import mlp

PAIR_WIDTH_DIVISOR = 4
"""The pair head is ``hidden / 4`` wide: it runs on ``N(N-1)/2`` pairs per graph (190 for
20 atoms, ~10x the atoms), where full width made it most of the policy's time."""


@dataclass
class GraphEncoding(Encoding):
    """A graph trunk's output.

    Attributes:
        graph: ``[B, hidden]`` pooled graph embeddings.
        node: ``[num_nodes, hidden]`` node embeddings.
        batch: ``LongTensor[num_nodes]``, the graph of each node.
        pair_distance: ``LongTensor[B, P]`` pair features the batch carries, or ``None``.
    """

    node: torch.Tensor
    batch: torch.Tensor
    pair_distance: torch.Tensor | None = None


class GraphTrunk(nn.Module):
    """GINE message passing with bond features, residual and layer norm, sum+mean pooling.

    ``forward(Batch) -> GraphEncoding``; an empty molecule (a graph without
    nodes) gets the embedding of an all-zero pooling.
    """

    def __init__(self, atom_features: int, bond_features: int, hidden: int, num_layers: int):
        super().__init__()
        self.atom_in = nn.Linear(atom_features, hidden)
        self.bond_in = nn.Linear(bond_features, hidden)
        self.convs = nn.ModuleList(
            GINEConv(mlp([hidden, hidden, hidden]), train_eps=True) for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers))
        self.pool = nn.Sequential(mlp([2 * hidden, hidden, hidden]), nn.LeakyReLU())

    def forward(self, data: Batch) -> GraphEncoding:
        num_graphs = len(data.ptr) - 1
        h = self.atom_in(data.x)
        edges = self.bond_in(data.edge_attr)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = h + nn.functional.leaky_relu(conv(norm(h), data.edge_index, edges))
        pooled = torch.cat(
            [
                global_add_pool(h, data.batch, size=num_graphs),
                global_mean_pool(h, data.batch, size=num_graphs),
            ],
            dim=1,
        )
        return GraphEncoding(
            graph=self.pool(pooled),
            node=h,
            batch=data.batch,
            pair_distance=getattr(data, "pair_distance", None),
        )


class GraphActionReadout(ActionReadout):
    """Base of the molecule readouts: conditioned graph, node and pair features.

    Subclasses build heads with :meth:`head` and assemble the dense
    ``[B, A, channels]`` or, for ``pairs``, pick the heads' outputs with
    :meth:`select`. ``cond`` (``[B, hidden]``) is added to the graph embedding and,
    broadcast by the batch vector, to every node embedding before any head reads them.
    """

    def __init__(self, hidden: int, channels: int):
        super().__init__()
        self.hidden = hidden
        self.channels = channels

    def head(self, outputs: int) -> nn.Sequential:
        """An MLP ``hidden -> hidden -> outputs * channels``."""
        return mlp([self.hidden, self.hidden, outputs * self.channels])

    def features(
        self, encoding: GraphEncoding, cond: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Graph features ``[B, hidden]`` and node features ``[num_nodes, hidden]``.

        Node features include their graph's embedding, so node heads see context.
        """
        graph = encoding.graph if cond is None else encoding.graph + cond
        return graph, encoding.node + graph[encoding.batch]

    def dense(self, values: torch.Tensor, encoding: GraphEncoding, max_nodes: int) -> torch.Tensor:
        """Per-node ``values [num_nodes, K]`` as ``[B, max_nodes, K]`` (zero padded)."""
        dense, _ = to_dense_batch(
            values, encoding.batch, batch_size=len(encoding.graph), max_num_nodes=max_nodes
        )
        return dense

    def select(
        self, head: nn.Module, features: torch.Tensor, index: torch.Tensor, column: torch.Tensor
    ) -> torch.Tensor:
        """``head(features[index[k]])`` output number ``column[k]``: ``[K, channels]``.

        The head runs once per distinct ``index`` (a graph or a node), however many
        of its actions are asked for.
        """
        unique, inverse = unique_indices(index, len(features))
        return head(features[unique]).unflatten(1, (-1, self.channels))[inverse, column]

    @staticmethod
    def first_node(encoding: GraphEncoding) -> torch.Tensor:
        """Index of each graph's first node in the batch: ``LongTensor[B]``."""
        counts = torch.bincount(encoding.batch, minlength=len(encoding.graph))
        return counts.cumsum(0) - counts


class AtomReadout(GraphActionReadout):
    """Action readout of :class:`~gfncompose.envs.AtomEnv` in its flat layout.

    ``[first atom (T) | add atom (N·T·3) | add bond (P·3) | stop]``, each entry
    with ``channels`` numbers: graph head for first atom and stop, node head for
    add-atom, pair head for add-bond. The pair head is an MLP on
    ``(h_i, h_j, distance)`` whose first layer is a sum of per-atom terms, so per
    pair it costs one narrow ``hidden/4 -> 3·channels`` layer.
    """

    def __init__(self, env: AtomEnv, hidden: int, channels: int):
        super().__init__(hidden, channels)
        self.max_atoms = env.max_atoms
        self.num_atom_types = len(env.atoms)
        self.add_atom_offset = env.add_atom_offset
        self.add_bond_offset = env.add_bond_offset
        self.stop_action = env.stop_action
        self.register_buffer("pairs", env.pairs.clone(), persistent=False)
        self.graph_head = self.head(len(env.atoms) + 1)
        self.node_head = self.head(len(env.atoms) * len(ORDERS))
        width = max(1, hidden // PAIR_WIDTH_DIVISOR)
        self.pair_atom = nn.Linear(hidden, width)
        self.pair_distance = nn.Embedding(env.ring_sizes[1] + 1, width)
        self.pair_head = nn.Linear(width, len(ORDERS) * channels)

    def forward(
        self, encoding: GraphEncoding, cond: torch.Tensor | None = None, pairs: Pairs | None = None
    ) -> torch.Tensor:
        graph, node = self.features(encoding, cond)
        if pairs is None:
            return self._all_actions(encoding, graph, node)
        return self._selected(encoding, graph, node, *pairs)

    def _selected(self, encoding: GraphEncoding, graph, node, rows, actions) -> torch.Tensor:
        """``[K, channels]``: each head on the graphs, atoms and atom pairs the pairs name."""
        out = graph.new_empty(len(rows), self.channels)
        is_graph = (actions < self.add_atom_offset) | (actions == self.stop_action)
        is_node = ~is_graph & (actions < self.add_bond_offset)
        is_pair = ~is_graph & ~is_node

        k = is_graph.nonzero().squeeze(1)
        column = torch.where(actions[k] == self.stop_action, self.num_atom_types, actions[k])
        out[k] = self.select(self.graph_head, graph, rows[k], column)

        k = is_node.nonzero().squeeze(1)
        first = self.first_node(encoding)
        per_atom = self.num_atom_types * len(ORDERS)
        offset = actions[k] - self.add_atom_offset
        atom, column = offset // per_atom, offset % per_atom
        out[k] = self.select(self.node_head, node, first[rows[k]] + atom, column)

        k = is_pair.nonzero().squeeze(1)
        offset = actions[k] - self.add_bond_offset
        pair, order = offset // len(ORDERS), offset % len(ORDERS)
        num_pairs = len(self.pairs)
        unique, inverse = unique_indices(
            rows[k] * num_pairs + pair, len(encoding.graph) * num_pairs
        )
        row, pair = unique // num_pairs, unique % num_pairs
        atom = self.pair_atom(node)
        ends = first[row, None] + self.pairs[pair]
        distance = self.pair_distance(encoding.pair_distance[row, pair])
        pair_out = self.pair_head(nn.functional.leaky_relu(atom[ends].sum(1) + distance))
        out[k] = pair_out.view(len(unique), len(ORDERS), self.channels)[inverse, order]
        return out

    def _all_actions(self, encoding: GraphEncoding, graph: torch.Tensor, node: torch.Tensor):
        """``[B, A, channels]``."""
        batch_size, c = len(encoding.graph), self.channels
        graph_out = self.graph_head(graph).view(batch_size, -1, c)
        node_out = self.dense(self.node_head(node), encoding, self.max_atoms)
        atom = self.dense(self.pair_atom(node), encoding, self.max_atoms)
        pair = atom[:, self.pairs[:, 0]] + atom[:, self.pairs[:, 1]]
        pair = nn.functional.leaky_relu(pair + self.pair_distance(encoding.pair_distance))
        pair_out = self.pair_head(pair)
        return torch.cat(
            [
                graph_out[:, :-1],
                node_out.reshape(batch_size, -1, c),
                pair_out.reshape(batch_size, -1, c),
                graph_out[:, -1:],
            ],
            dim=1,
        )


@build_trunk.register
def _(env: AtomEnv, hidden: int, num_layers: int) -> nn.Module:
    return GraphTrunk(
        env.featurizer.num_atom_features, env.featurizer.num_bond_features, hidden, num_layers
    )


@build_action_readout.register
def _(env: AtomEnv, hidden: int, channels: int) -> ActionReadout:
    return AtomReadout(env, hidden, channels)
