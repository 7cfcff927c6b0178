"""The sEH binding proxy of Bengio et al. (2021) and the reward every published sEH result uses.

The proxy is a message-passing network that predicts binding to soluble epoxide
hydrolase (sEH) from the molecular graph of :mod:`.seh_features`. Its weights are not
part of gfncompose: the user supplies the published file ``best_params.pkl.gz`` (a
gzipped pickle of 22 float32 NumPy arrays), which is read with an unpickler that
builds NumPy arrays and nothing else, so a tampered file cannot run code.

Reward: ``clip(proxy / 8, 1e-4, 100)``, higher is better (the Compositional
Sculpting paper counts a molecule as high-sEH from 0.5). A molecule the proxy has no
input for (an atomic number outside 1–56, a dative bond) gets ``1e-4``, the lowest
reward of the scale: it is valid chemistry that the proxy cannot score. A molecule
RDKit rejects gets ``REWARD_FLOOR``, as for every reward.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from rdkit import Chem
from torch import nn

from ..errors import UserError
from .base import REWARD_FLOOR, CachedReward
from .seh_features import EDGE_FEATURES, NUM_ATOM_FEATURES, NUM_BOND_TYPES, GraphBatch, featurize

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct

PROXY_SCALE = 8.0
"""The literature divides the proxy's output by 8."""
REWARD_MIN = 1e-4
REWARD_MAX = 100.0
"""Clip bounds of ``proxy / 8``: the convention of every published sEH result."""
WEIGHTS_SOURCE = (
    "the GFlowNet repository of Bengio et al. 2021 (github.com/GFNOrg/gflownet), "
    "file mols/data/pretrained_proxy/best_params.pkl.gz"
)

HIDDEN = 64
EDGE_HIDDEN = 128
MESSAGE_PASSING_ROUNDS = 12
SET2SET_STEPS = 3
LEAKY_SLOPE = 0.01
MOLECULES_PER_FORWARD = 1024
"""Molecules per forward pass: bounds the memory of a large call (tens of MB at drug-like
sizes; the per-(atom, edge type) message sums are the largest tensor) while keeping the
per-call overhead negligible."""

WEIGHT_SHAPES = (
    (HIDDEN, NUM_ATOM_FEATURES), (HIDDEN,),  # 0-1 input layer
    (HIDDEN, HIDDEN), (HIDDEN,),  # 2-3 root weight, bias
    (EDGE_HIDDEN, NUM_BOND_TYPES), (EDGE_HIDDEN,),  # 4-7 edge network
    (HIDDEN * HIDDEN, EDGE_HIDDEN), (HIDDEN * HIDDEN,),
    (3 * HIDDEN, HIDDEN), (3 * HIDDEN, HIDDEN), (3 * HIDDEN,), (3 * HIDDEN,),  # 8-11 GRU
    (512, HIDDEN), (512,), (105, 512), (105,),  # 12-15 unused (a per-stem head)
    (4 * HIDDEN, 2 * HIDDEN), (4 * HIDDEN, HIDDEN), (4 * HIDDEN,), (4 * HIDDEN,),  # 16-19 Set2Set
    (1, 2 * HIDDEN), (1,),  # 20-21 output layer
)  # fmt: skip
"""Shapes of the arrays of the published weights file, in its order."""

_WEIGHT_INDEX = {
    "input.weight": 0,
    "input.bias": 1,
    "root.weight": 2,
    "root.bias": 3,
    "edge_network.0.weight": 4,
    "edge_network.0.bias": 5,
    "edge_network.2.weight": 6,
    "edge_network.2.bias": 7,
    "gru.weight_ih": 8,
    "gru.weight_hh": 9,
    "gru.bias_ih": 10,
    "gru.bias_hh": 11,
    "set2set.weight_ih": 16,
    "set2set.weight_hh": 17,
    "set2set.bias_ih": 18,
    "set2set.bias_hh": 19,
    "output.weight": 20,
    "output.bias": 21,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays; refuses every other global before anything is called."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> object:
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) not in allowed:
            raise UserError(
                f"{self.path}: refused to load: the file references {module}.{name}, "
                "but an sEH weights file holds NumPy arrays only"
            )
        return allowed[module, name]


def load_seh_weights(path: str | Path) -> list[torch.Tensor]:
    """The 22 float32 arrays of the published sEH proxy weights file, in file order.

    Raises ``UserError`` naming the file if it is missing (saying where to get it),
    not a gzipped pickle, references anything but NumPy arrays, or holds arrays of
    another number or shape than ``WEIGHT_SHAPES``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: no such sEH proxy weights file. gfncompose does not ship or download "
            f"the weights; the literature obtains them from {WEIGHTS_SOURCE}: supply that "
            "file and set 'path' to it"
        )
    try:
        with gzip.open(path, "rb") as file:
            content = _NumpyOnlyUnpickler(file, path).load()
    except UserError:
        raise
    except Exception as error:  # a damaged gzip or pickle stream can raise almost anything
        raise UserError(f"{path}: not a gzipped pickle of NumPy arrays ({error})") from None
    if not isinstance(content, list | tuple) or len(content) != len(WEIGHT_SHAPES):
        is_list = isinstance(content, list | tuple)
        found = f"{len(content)} items" if is_list else f"a {type(content).__name__}"
        raise UserError(
            f"{path}: expected a list of {len(WEIGHT_SHAPES)} arrays (the sEH proxy "
            f"weights), found {found}"
        )
    weights = []
    for index, (array, shape) in enumerate(zip(content, WEIGHT_SHAPES, strict=True)):
        if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
            raise UserError(f"{path}: item {index} is not a float array")
        if array.shape != shape:
            raise UserError(f"{path}: array {index} has shape {array.shape}, expected {shape}")
        weights.append(torch.from_numpy(array.astype(np.float32)))
    return weights


class SEHProxy(nn.Module):
    """The sEH proxy network of Bengio et al. (2021), inference only.

    Input layer 71→64 and LeakyReLU; 12 rounds of one shared edge-conditioned
    convolution (NNConv: an edge network 4→128→4096 gives a 64×64 matrix per edge;
    mean of the messages, plus a root term and a bias) followed by LeakyReLU and a
    GRU update; Set2Set readout (3 steps); linear 128→1. LeakyReLU slope 0.01
    everywhere, including inside the edge network.

    The root term is ``x @ W₂ᵀ`` with array 2 of the file used as a linear layer's
    weight, as stored. The network was trained with the other orientation
    (``x @ W₂``), but the literature's loader has run it this way for every
    published sEH number; we follow the literature so that our numbers compare.
    """

    def __init__(self, weights: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.input = nn.Linear(NUM_ATOM_FEATURES, HIDDEN)
        self.root = nn.Linear(HIDDEN, HIDDEN)  # root weight with the convolution's bias
        self.edge_network = nn.Sequential(
            nn.Linear(NUM_BOND_TYPES, EDGE_HIDDEN),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(EDGE_HIDDEN, HIDDEN * HIDDEN),
        )
        self.gru = nn.GRUCell(HIDDEN, HIDDEN)
        self.set2set = nn.LSTMCell(2 * HIDDEN, HIDDEN)
        self.output = nn.Linear(2 * HIDDEN, 1)
        self.load_state_dict({name: weights[index] for name, index in _WEIGHT_INDEX.items()})

    def forward(self, graph: GraphBatch) -> torch.Tensor:
        """Raw proxy output of the ``B`` molecules of ``graph``: ``[B]``."""
        h = F.leaky_relu(self.input(graph.x), LEAKY_SLOPE)  # [N, 64]
        num_atoms, num_types = len(h), len(EDGE_FEATURES)
        source, target = graph.edge_index
        # The edge network's input is one of a few edge types, so it runs once per type,
        # and messages are summed per (target, type) before one matrix product: the
        # same sums as one 64x64 matrix per edge, without a [E, 64, 64] tensor.
        matrices = self.edge_network(EDGE_FEATURES.to(h.device))  # [types, 64 * 64]
        matrices = matrices.view(num_types * HIDDEN, HIDDEN)  # rows: (type, input unit)
        slot = target * num_types + graph.edge_type  # [E]
        in_degree = torch.bincount(target, minlength=num_atoms).clamp(min=1).unsqueeze(1)
        for _ in range(MESSAGE_PASSING_ROUNDS):
            summed = h.new_zeros(num_atoms * num_types, HIDDEN).index_add_(0, slot, h[source])
            mean = summed.view(num_atoms, num_types * HIDDEN) @ matrices / in_degree
            h = self.gru(F.leaky_relu(mean + self.root(h), LEAKY_SLOPE), h)
        return self.output(self._set2set(h, graph.batch, graph.num_graphs)).squeeze(1)

    def _set2set(self, h: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        """Set2Set readout (Vinyals et al. 2016) of atom states ``h`` ``[N, 64]``: ``[B, 128]``."""
        q_star = h.new_zeros(num_graphs, 2 * HIDDEN)
        state = (h.new_zeros(num_graphs, HIDDEN), h.new_zeros(num_graphs, HIDDEN))
        for _ in range(SET2SET_STEPS):
            state = self.set2set(q_star, state)
            query = state[0]  # [B, 64]
            scores = (h * query[batch]).sum(1)  # [N]
            top = torch.full_like(query[:, 0], -torch.inf).scatter_reduce(0, batch, scores, "amax")
            attention = (scores - top[batch]).exp()
            attention = attention / torch.zeros_like(top).index_add_(0, batch, attention)[batch]
            readout = torch.zeros_like(query).index_add_(0, batch, attention.unsqueeze(1) * h)
            q_star = torch.cat([query, readout], dim=1)
        return q_star


def _as_device(device: object) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(
            f"parameter 'device' must be a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {str(device)!r} requested but CUDA is not available")
    return device


class SEHReward(CachedReward):
    """``clip(sEH proxy / 8, 1e-4, 100)``: predicted binding to soluble epoxide hydrolase,
    higher binds better (see the module docstring for unreadable molecules).

    Args:
        path: the published weights file ``best_params.pkl.gz`` (see ``WEIGHTS_SOURCE``).
        device: where the network runs, e.g. ``"cpu"`` or ``"cuda"``.
    """

    kind = "seh"
    value_range = (REWARD_FLOOR, REWARD_MAX)

    def __init__(self, path: str, device: str = "cpu") -> None:
        super().__init__()
        if not isinstance(path, str | Path):
            raise UserError(f"parameter 'path' must be a file name, got {path!r}")
        self.device = _as_device(device)
        self.proxy = SEHProxy(load_seh_weights(path)).to(self.device).eval()

    @torch.no_grad()
    def predict(self, mols: Sequence[Chem.Mol]) -> np.ndarray:
        """Raw proxy output of ``B`` sanitized molecules: float64 ``[B]``, NaN for a
        molecule the proxy cannot read."""
        raw = np.full(len(mols), np.nan)
        for start in range(0, len(mols), MOLECULES_PER_FORWARD):
            graph, readable = featurize(mols[start : start + MOLECULES_PER_FORWARD])
            if readable:
                output = self.proxy(graph.to(self.device))
                raw[start + np.array(readable)] = output.double().cpu().numpy()
        return raw

    def score_uncached(self, mols: Sequence[Chem.Mol]) -> list[float]:
        raw = self.predict(mols)
        rewards = np.clip(raw / PROXY_SCALE, REWARD_MIN, REWARD_MAX)
        rewards[np.isnan(raw)] = REWARD_MIN
        return rewards.tolist()
