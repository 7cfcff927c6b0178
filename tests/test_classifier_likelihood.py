"""The joint head's likelihood ``log Σ_r π_r Π_k softmax(φ_r + log ω^(k))[y_k]`` against the
formula evaluated term by term, row by row."""

import math
from itertools import product

import torch

from gfncompose.classifier import Classifier
from gfncompose.composition import observation_cells

ATOMS, BASES, OBSERVATIONS = 4, 3, 2


def term_by_term(log_pi: list, phi: list, log_weights: list, cells: torch.Tensor) -> list:
    """One row: ``log_pi [R]``, ``phi [R][m]``, ``log_weights [n][m]``; a value per cell."""
    values = []
    for y in cells.tolist():
        total = 0.0
        for r in range(ATOMS):
            term = math.exp(log_pi[r])
            for k, y_k in enumerate(y):
                logits = [phi[r][i] + log_weights[k][i] for i in range(BASES)]
                term *= math.exp(logits[y_k]) / sum(math.exp(v) for v in logits)
            total += term
        values.append(math.log(total))
    return values


def test_every_cell_with_weights_per_row_or_shared_and_no_rows():
    generator = torch.Generator().manual_seed(0)
    lead = (3, 2)
    log_pi = torch.randn(*lead, ATOMS, generator=generator).log_softmax(-1)
    phi = 3 * torch.randn(*lead, ATOMS, BASES, generator=generator)
    per_row = torch.rand(lead[0], 1, OBSERVATIONS, BASES, generator=generator).log()
    shared = torch.rand(OBSERVATIONS, BASES, generator=generator).log()
    cells = observation_cells(BASES, OBSERVATIONS)
    for log_weights in (per_row, shared):
        got = Classifier.log_likelihood(log_pi, phi, log_weights, cells)
        assert got.shape == (*lead, len(cells))
        for a, b in product(range(lead[0]), range(lead[1])):
            weights = log_weights[a, 0] if log_weights.dim() == 4 else log_weights
            expected = term_by_term(
                log_pi[a, b].tolist(), phi[a, b].tolist(), weights.tolist(), cells
            )
            torch.testing.assert_close(got[a, b], torch.tensor(expected), rtol=1e-5, atol=1e-5)
    none = Classifier.log_likelihood(log_pi[:0], phi[:0], shared, cells)
    assert none.shape == (0, lead[1], len(cells))
