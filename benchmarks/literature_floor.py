"""What the literature's fragment space costs at least per trajectory on this machine; JSON.

Issue 15 asks, on a 2-core CPU, for 130 trajectories/s of base training, classifier training
at 3x the ~32 trajectories/s it started from and 300 guided molecules/s. This measures, per
trajectory, the parts of one that the environment's bookkeeping (joins, decompositions,
symmetry classes, features, masks) does not include, and the rates they alone would allow
on ``os.cpu_count()`` cores (every core busy, nothing else paid): upper bounds, which say
how much of each goal is left to the bookkeeping and the readout.

- ``trunk_forward``: a base's graph network (the default campaign's, 128 x 2) on the
  trajectory's states, no gradient, batched by step as a draw does (warm caches: features
  already built); ``policy_forward``: the same plus the allowed slots and the readout's
  log-softmax over every allowed action (~1,900 per state at this size, kept by slot): what
  drawing an action needs, and what each other base's posterior label and each base of a
  guided draw needs;
- ``trunk_forward_backward``: the graph network on all the trajectory's states with its
  gradient; ``loss_pass``: ``Σ log P_F`` of the trajectory with its gradient (forward and
  backward, the readout included);
- ``classifier_pass``: the classifier's loss (hidden 128, 2 observations) on a batch of 16
  trajectories of each of two bases, forward and backward, per trajectory (every part is
  timed with float32 subnormals flushed, as the training loops run);
- ``canonical_smiles``: RDKit writing the canonical SMILES of each state a step makes
  (states are keyed by it, so that one molecule is one state: the symmetry-correct ``P_B``);
- ``qed``: RDKit's QED of the terminal molecule;
- ``environment``: the environment's own work for the batch, replayed action for action on
  a fresh environment whose only cached states are the fragments themselves (as in a
  training process past its first batches, where almost every later state is new): each
  step's children (joins, canonical SMILES), what a draw reads of each state (allowed
  actions, features), then what the loss reads (features again, the same-child actions
  of each transition, ``log P_B``). Classifier training and guided sampling read the same
  of their states (no ``log P_B``, the transitions' same-child actions for the posteriors).

Ceilings (trajectories or molecules per second), ``with_readout`` and ``trunks_only``: base
training ``cores / (forward + forward with gradient + canonical_smiles + qed)``; classifier
training ``cores / (2 forward + classifier_pass + canonical_smiles)`` (each trajectory is
drawn by one base and labelled by the other); guided sampling with two bases
``cores / (2 forward + canonical_smiles)`` (the classifier's own scores left out).
``with_environment``: the same with the readout, ``environment`` in place of
``canonical_smiles`` (which it includes). ``environment_budget_ms``: per goal, what the
environment could take per trajectory for the goal to be within reach, ``cores / goal``
less the other parts (negative: out of reach even with no environment work).
Literature space: the 72 fragments of ``../shared/data/blocks_PDB_105.json``, at most 9;
untrained networks seeded, ε 0.05: the molecules reach the 9 fragments a trained base's do.

    python benchmarks/literature_floor.py [--batch 64] [--repeats 3]

With ``../shared/data`` absent it prints why it skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rdkit import Chem
from rdkit.Chem import QED

from gfncompose.classifier import Classifier
from gfncompose.classifier_training import classifier_batch, classifier_loss
from gfncompose.denormals import flushing_denormals
from gfncompose.envs import FragmentEnv, Vocabulary, read_vocabulary
from gfncompose.policy import GFlowNet, policy_inputs
from gfncompose.sampler import Trajectories, sample_trajectories
from gfncompose.training import frozen_copy, seeded
from gfncompose.trajectory_balance import trajectory_log_pf

BLOCKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "blocks_PDB_105.json"
NETWORK = {"hidden": 128, "num_layers": 2}
"""The default campaign's base network."""
TARGETS = {"base_training": 130, "classifier_training": 96, "guided_sampling": 300}
"""Issue 15's goals on a 2-core CPU (classifier: 3x the ~32 trajectories/s it started from)."""


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` timed runs of ``work`` (after one untimed)."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def warmed_env(vocabulary: Vocabulary) -> FragmentEnv:
    """A new literature-space environment whose only cached states are the fragments."""
    env = FragmentEnv(vocabulary, 9)
    fragments = env.step(env.initial_states(env.num_fragments), torch.arange(env.num_fragments))
    policy_inputs(env, fragments)
    return env


def environment_replay(
    envs: list[FragmentEnv], trajectories: Trajectories, position: torch.Tensor
) -> Callable[[], None]:
    """The environment's work for ``trajectories`` (``position``: each state's step), as
    sampling them and computing their loss inputs does it, on one of ``envs`` per call
    (each :func:`warmed_env`, popped: one call per environment)."""
    actions_by_step = [trajectories.actions[position == t] for t in range(int(position.max()) + 1)]
    batch = len(trajectories.length)

    def replay() -> None:
        env = envs.pop()
        states, visited = env.initial_states(batch), []
        for actions in actions_by_step:
            policy_inputs(env, states)
            visited.append(states)
            moving = (actions != env.stop_action).nonzero().squeeze(1)
            states = env.step(env.index(states, moving), actions[moving])
        every = env.cat(visited)
        policy_inputs(env, every)
        env.transition_actions(every, torch.cat(actions_by_step))
        env.log_backward(env.cat(visited[1:]))

    return replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="trajectories measured")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not BLOCKS.is_file():
        print(json.dumps({"skipped": f"{BLOCKS} is absent"}))
        return
    vocabulary = read_vocabulary(BLOCKS)
    env = FragmentEnv(vocabulary, 9)
    bases = []
    for seed in (1, 2):
        with seeded(seed):
            bases.append(GFlowNet(env, **NETWORK))
    gfn = bases[0]
    trajectories = sample_trajectories(gfn, args.batch, 0.05, torch.Generator().manual_seed(0))
    batch = args.batch
    position = torch.arange(len(trajectories.actions))
    position -= torch.searchsorted(trajectories.trajectory, trajectories.trajectory)
    by_step = [
        env.index(trajectories.states, (position == t).nonzero().squeeze(1))
        for t in range(int(position.max()) + 1)
    ]

    trunk = gfn.forward_policy.trunk
    step_data = [env.to_data(states) for states in by_step]
    all_data = env.to_data(trajectories.states)

    def trunk_forwards() -> None:
        with torch.no_grad():
            for data in step_data:
                trunk(data)

    def draw_forwards() -> None:
        with torch.no_grad():
            for states in by_step:
                gfn.allowed_log_probs(states)

    def trunk_pass() -> None:
        gfn.zero_grad()
        encoding = trunk(all_data)
        (encoding.graph.sum() + encoding.node.sum()).backward()

    def loss_pass() -> None:
        gfn.zero_grad()
        trajectory_log_pf(gfn, trajectories).sum().backward()

    # every state but a trajectory's first is the child a step made
    children = [s.mol for s in env.index(trajectories.states, (position > 0).nonzero().squeeze(1))]
    terminal = [s.mol for s in trajectories.terminal]

    with seeded(0):
        classifier = Classifier(env, ["a", "b"], n_observations=2, hidden=128)
    target = frozen_copy(classifier)  # the EMA copy giving the labels, as in training
    labelled = classifier_batch(bases, 16, torch.Generator().manual_seed(0))

    def classifier_pass() -> None:
        classifier.zero_grad()
        loss, _ = classifier_loss(classifier, target, labelled, 1.0, torch.Generator())
        loss.backward()

    envs = [warmed_env(vocabulary) for _ in range(args.repeats + 1)]
    replay = environment_replay(envs, trajectories, position)

    def per_trajectory_ms(work: Callable[[], object], count: int = batch) -> float:
        return best_seconds(work, args.repeats) / count * 1e3

    with flushing_denormals():  # as the training loops run
        ms = {
            "trunk_forward": per_trajectory_ms(trunk_forwards),
            "policy_forward": per_trajectory_ms(draw_forwards),
            "trunk_forward_backward": per_trajectory_ms(trunk_pass),
            "loss_pass": per_trajectory_ms(loss_pass),
            "classifier_pass": per_trajectory_ms(classifier_pass, 32),
            "canonical_smiles": per_trajectory_ms(lambda: [Chem.MolToSmiles(m) for m in children]),
            "qed": per_trajectory_ms(lambda: [QED.qed(m) for m in terminal]),
            "environment": per_trajectory_ms(replay),
        }
    cores = os.cpu_count() or 1

    def floors(forward: float, forward_backward: float, bookkeeping: float) -> dict[str, float]:
        """Milliseconds per trajectory of each goal's stage (module docstring)."""
        return {
            "base_training": forward + forward_backward + bookkeeping + ms["qed"],
            "classifier_training": 2 * forward + ms["classifier_pass"] + bookkeeping,
            "guided_sampling": 2 * forward + bookkeeping,
        }

    def ceilings(floor: dict[str, float]) -> dict[str, float]:
        return {name: round(cores * 1e3 / value, 1) for name, value in floor.items()}

    readout = ms["policy_forward"], ms["loss_pass"]
    trunks = ms["trunk_forward"], ms["trunk_forward_backward"]
    budgets = {
        name: round(cores * 1e3 / TARGETS[name] - value, 2)
        for name, value in floors(*readout, 0.0).items()
    }

    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "cores": cores,
                "torch_threads": torch.get_num_threads(),
                "trajectories": batch,
                "steps_per_trajectory": round(len(trajectories.actions) / batch, 2),
                "heavy_atoms_per_molecule": round(
                    sum(m.GetNumAtoms() for m in terminal) / batch, 1
                ),
                "per_trajectory_ms": {k: round(v, 2) for k, v in ms.items()},
                "ceiling_per_s": {
                    "with_readout": ceilings(floors(*readout, ms["canonical_smiles"])),
                    "trunks_only": ceilings(floors(*trunks, ms["canonical_smiles"])),
                    "with_environment": ceilings(floors(*readout, ms["environment"])),
                },
                "issue_targets_per_s": TARGETS,
                "environment_budget_ms": budgets,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
