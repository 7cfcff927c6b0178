"""The action sampler draws from the given distribution and never a masked action."""

from __future__ import annotations

import torch

from gfncompose.sampler import sample_actions


def test_sample_actions_matches_the_probabilities_and_avoids_masked_actions():
    torch.manual_seed(0)
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2], [0.0, 0.0, 1.0, 0.0]])
    n = 200_000
    actions = sample_actions(probs.log().repeat_interleave(n, dim=0))
    first = torch.bincount(actions[:n], minlength=4) / n
    # Binomial standard error at n = 2e5 is at most 0.0012; 0.006 is five of them.
    assert (first - probs[0]).abs().max() < 0.006
    assert first[1] == 0
    assert (actions[n:] == 2).all()
