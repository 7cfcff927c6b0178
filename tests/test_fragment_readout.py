"""The fragment readout's attach scores for selected pairs: both ways of computing them agree
with the dense readout."""

import torch

from gfncompose.envs import FragmentEnv
from gfncompose.nets import build_action_readout, build_trunk
from gfncompose.nets.fragment_readout import ALL_STEMS_FILL
from gfncompose.policy import UniformPolicy
from gfncompose.sampler import sample_trajectories

HIDDEN = 32
CHANNELS = 3


def test_attach_scores_for_one_or_for_every_stem_equal_the_dense_readout():
    """One allowed attach per state (training: per-state batched matmul) and every allowed
    attach (guidance: each slot against the whole stem table) give the dense scores."""
    env = FragmentEnv(max_fragments=3)
    states = [s for s in sample_trajectories(UniformPolicy(env), 6).states if s.key]
    trunk = build_trunk(env, HIDDEN, 2)
    readout = build_action_readout(env, HIDDEN, CHANNELS)
    encoding = trunk(env.to_data(states))
    dense = readout(encoding)
    attach = env.forward_mask(states)
    attach[:, : env.attach_offset] = False
    attach[:, env.stop_action] = False
    rows, actions = attach.nonzero(as_tuple=True)
    # nonzero lists row by row, so a row's first entry is where its row number changes
    first_of_row = torch.ones(len(rows), dtype=torch.bool)
    first_of_row[1:] = rows[1:] != rows[:-1]
    one_per_state = first_of_row.nonzero().squeeze(1)
    for subset, all_stems in ((one_per_state, False), (torch.arange(len(rows)), True)):
        r, a = rows[subset], actions[subset]
        slot = (a - env.attach_offset) // env.num_stems
        named = len(torch.unique(r * env.num_slots + slot))
        # the two set-ups fall on the two sides of the switch between the methods
        assert (named * env.num_stems <= ALL_STEMS_FILL * len(r)) == all_stems
        sparse = readout(encoding, pairs=(r, a))
        torch.testing.assert_close(sparse, dense[r, a], rtol=0, atol=1e-5)  # float32 sums
