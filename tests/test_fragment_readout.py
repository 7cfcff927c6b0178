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


def test_attach_scores_for_one_some_or_every_stem_equal_the_dense_readout():
    """One allowed attach per state (training), a few per state with repeats (guidance's
    proposals; both: each named slot against its own stems) and every allowed attach
    (guidance's dense fallback: each slot against the whole stem table) give the dense
    scores."""
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
    # five draws per state among its first 8 allowed attaches (slot-major: mostly one slot's
    # stems): repeated pairs, and slots named for several stems
    choices = torch.bincount(rows)[rows[one_per_state]].clamp(max=8)
    draws = torch.rand(len(one_per_state), 5, generator=torch.Generator().manual_seed(0))
    proposals = (one_per_state[:, None] + (draws * choices[:, None]).long()).flatten()
    distinct = torch.unique(proposals)
    slot_of = (actions - env.attach_offset) // env.num_stems
    named_slots = torch.unique(rows[distinct] * env.num_slots + slot_of[distinct])
    assert len(named_slots) < len(distinct) < len(proposals)
    subsets = ((one_per_state, False), (proposals, False), (torch.arange(len(rows)), True))
    for subset, all_stems in subsets:
        r, a = rows[subset], actions[subset]
        named = len(torch.unique(r * env.num_slots + slot_of[subset]))
        # the two set-ups fall on the two sides of the switch between the methods
        assert (named * env.num_stems <= ALL_STEMS_FILL * len(r)) == all_stems
        sparse = readout(encoding, pairs=(r, a))
        torch.testing.assert_close(sparse, dense[r, a], rtol=0, atol=1e-5)  # float32 sums
