"""Speed of the molecule environments and their GNN policy; prints one JSON object.

Per environment (default configurations): uniform-random sampling at batch 1, 64
and 1024 (steps/s counts every action, stop included; molecules/s complete
trajectories), mean trajectory length; the same walks through the environment
alone (``env_only``: forward mask, step and log P_B, with actions drawn by numpy
rather than by a categorical over the whole flat action space, so the
environment's own cost shows); ``to_data`` per 1,000 states with a cold and a
warm feature cache; and forward/backward of the default ``GFlowNet`` policy on a
batch of 256 states. Every timing starts from a fresh environment (cold caches).

``literature``: the same for the literature's fragment space (the 72 fragments of
``../shared/data/blocks_PDB_105.json``, at most 9 per molecule) with the campaign's
network size (hidden 128, 2 layers), plus its action-space size, the memory a batch of
1,024 uniform trajectories leaves in the environment's caches (resident set growth and
entries per cache), and base training as a campaign runs it: trajectories/s of steps of
64 trajectories (sample with ε = 0.05, trajectory balance loss at β = 32 with the QED reward
and, where the published weights are in ``../shared/data``, the sEH proxy; backward, Adam).
Today's code works on each state's allowed actions only, kept by slot (``slots``: the action
draw, and the loss's log-softmax and its backward); the list of allowed (state, action) pairs
it replaced (``pairs``) and the dense ``[B, A]`` computation those replaced (``dense``) run in
the same process, alternated, from the same initial weights and random stream; the action
draw at 64 states and one loss pass (forward and backward, 64 trajectories) are also timed
on identical inputs; ``speedup``: today's rate over each of the two. Classifier training
(two untrained bases, 16 trajectories per base and step) is timed the same way, the dense
variant also reading the bases' posteriors from their dense ``[N, A]``. Guided sampling:
``harmonic_mean`` of two untrained bases with the action head at batch 1,024 against their
plain mixture. When the data folder is absent the section says so. Resident set sizes are
read from ``/proc/self/statm``; ``peak_rss_mb`` is the process's peak.

    python benchmarks/envs.py [--device cuda] [--only literature]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from unittest.mock import patch

import numpy as np
import torch

from gfncompose import (
    GFlowNet,
    GuidedPolicy,
    UniformPolicy,
    categorical,
    classifier_training,
    policy,
    sampler,
    trajectory_balance,
)
from gfncompose.classifier import Classifier
from gfncompose.composition import Composition, harmonic_mean
from gfncompose.envs import AtomEnv, Environment, FragmentEnv, read_vocabulary
from gfncompose.nets.base import ActionReadout, allowed_actions
from gfncompose.nets.fragment_readout import FragmentReadout
from gfncompose.policy import allowed_of
from gfncompose.rewards import make_reward
from gfncompose.sampler import sample_terminal, sample_trajectories
from gfncompose.training import ClassifierConfig, seeded, train_classifier
from gfncompose.trajectory_balance import trajectory_balance_loss

ENVIRONMENTS = {"atoms": AtomEnv, "fragments": FragmentEnv}
BATCHES = {1: 20, 64: 256, 1024: 1024}
"""Batch size -> molecules sampled to time it (fresh environment, cold caches)."""
ENV_ONLY_BATCHES = {1: 40, 64: 256}
"""Batch size -> molecules walked through the environment alone to time it."""
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BLOCKS = SHARED_DATA / "blocks_PDB_105.json"
"""The literature's fragments (Bengio et al. 2021), outside the repository."""
SEH_WEIGHTS = SHARED_DATA / "seh_proxy_bengio2021.pkl.gz"
"""The published sEH proxy's weights, outside the repository."""
CAMPAIGN_NETWORK = {"hidden": 128, "num_layers": 2}
"""The network size of ``data/campaign.toml`` [training]."""
TRAINING = {"batch_size": 64, "epsilon": 0.05, "beta": 32.0, "warmup": 3, "steps": 15}
"""Base-training steps timed on the literature space (after ``warmup`` untimed ones)."""


def sampling(make_env, device: str) -> dict:
    out = {}
    for batch, total in BATCHES.items():
        policy = UniformPolicy(make_env(device=device))
        steps, lengths = 0, []
        start = time.perf_counter()
        for _ in range(total // batch):
            trajectories = sample_trajectories(policy, batch)
            steps += int(trajectories.length.sum())
            lengths += trajectories.length.tolist()
        seconds = time.perf_counter() - start
        out[f"batch_{batch}"] = {
            "steps_per_s": round(steps / seconds, 1),
            "molecules_per_s": round(total / seconds, 1),
            "mean_trajectory_length": round(statistics.fmean(lengths), 2),
        }
    return out


def env_only(make_env, device: str) -> dict:
    out = {}
    rng = np.random.default_rng(0)
    for batch, total in ENV_ONLY_BATCHES.items():
        env = make_env(device=device)
        steps = 0
        start = time.perf_counter()
        for _ in range(total // batch):
            states = env.initial_states(batch)
            while states:
                mask = env.forward_mask(states).cpu().numpy()
                actions = np.array([rng.choice(np.flatnonzero(row)) for row in mask])
                steps += len(states)
                moving = np.flatnonzero(actions != env.stop_action)
                states = env.step(
                    [states[i] for i in moving], torch.from_numpy(actions[moving]).to(device)
                )
                if states:
                    env.log_backward(states)
        seconds = time.perf_counter() - start
        out[f"batch_{batch}"] = {
            "steps_per_s": round(steps / seconds, 1),
            "molecules_per_s": round(total / seconds, 1),
        }
    return out


def to_data(make_env, device: str) -> dict:
    env = make_env(device=device)
    states = sample_trajectories(UniformPolicy(env), 128).states[:1000]
    fresh = make_env(device=device)
    start = time.perf_counter()
    fresh.to_data(states)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    fresh.to_data(states)
    warm = time.perf_counter() - start
    scale = 1000 / len(states)
    return {
        "cold_ms_per_1000": round(cold * scale * 1e3, 1),
        "warm_ms_per_1000": round(warm * scale * 1e3, 1),
    }


def gnn(make_env, device: str, repeats: int = 5, **network) -> dict:
    env = make_env(device=device)
    states = sample_trajectories(UniformPolicy(env), 64).states[:256]
    gfn = GFlowNet(env, **network).to(device)
    data, mask = env.to_data(states), env.forward_mask(states)
    forward, backward = [], []
    for _ in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        logits = gfn.forward_policy(data)
        log_probs = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), 1)
        loss = log_probs[mask].sum()
        _sync(device)
        middle = time.perf_counter()
        loss.backward()
        _sync(device)
        forward.append(middle - start)
        backward.append(time.perf_counter() - middle)
    return {
        "batch": len(states),
        "forward_ms": round(statistics.median(forward[1:]) * 1e3, 2),
        "backward_ms": round(statistics.median(backward[1:]) * 1e3, 2),
        "parameters": sum(p.numel() for p in gfn.parameters()),
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cache_growth(make_env, device: str) -> dict:
    """Resident memory and cache entries after 1,024 uniform trajectories on a fresh env."""
    before = _rss_mb()
    env = make_env(device=device)
    trajectories = sample_trajectories(UniformPolicy(env), 1024)
    env.to_data(trajectories.states)
    return {
        "states": len(trajectories.states),
        "rss_growth_mb": round(_rss_mb() - before, 1),
        "cache_entries": env.cache_sizes(),
    }


def dense_draw(policy, states, epsilon=0.0, generator=None):
    """The action draw before it moved to the allowed actions: inverse CDF over the dense
    ``[B, A]`` row, exploration mixed in over the whole row; with the allowed entries of the
    row, as ``sampler.draw_actions`` returns them."""
    log_probs = policy.log_probs(states)
    probs = log_probs.double().exp()
    mask = policy.env.forward_mask(states)
    if epsilon:
        allowed = mask.to(probs.dtype)
        probs = (1.0 - epsilon) * probs + epsilon * allowed / allowed.sum(dim=1, keepdim=True)
    return categorical.sample_weighted(probs, generator), allowed_of(log_probs, mask)


def dense_log_pf(gfn, trajectories) -> torch.Tensor:
    """``trajectory_log_pf`` before it moved to the allowed actions: the dense masked
    log-softmax ``[N, A]``, then the taken transitions gathered from it."""
    log_probs = gfn.log_probs(trajectories.states)
    per_step = gfn.env.log_transition(trajectories.states, log_probs, trajectories.actions)
    total = torch.zeros(len(trajectories.length), device=per_step.device)
    return total.index_add(0, trajectories.trajectory, per_step)


@torch.no_grad()
def dense_base_posteriors(bases, drawn):
    """``classifier_training.base_posteriors`` before it moved to the allowed actions: every
    base's dense ``[N, A]`` on every step (its own too), stacked, then the taken and stop
    actions read from it."""
    env = bases[0].env
    states = env.cat([t.states for t in drawn])
    actions = torch.cat([t.actions for t in drawn])
    trajectory = torch.cat([t.trajectory + k * len(drawn[0].length) for k, t in enumerate(drawn)])
    log_pf = torch.stack([base.log_probs(states) for base in bases], dim=1)  # [N, m, A]
    rows = torch.arange(len(actions), device=actions.device)
    stop = log_pf[:, :, bases[0].env.stop_action]
    return classifier_training.posteriors_of_steps(log_pf[rows, :, actions], stop, trajectory)


VARIANTS = {
    "slots": [],
    "pairs": [
        (policy, "allowed_actions", allowed_actions.dispatch(Environment)),
        (FragmentReadout, "log_softmax", ActionReadout.log_softmax),
    ],
    "dense": [
        (sampler, "draw_actions", dense_draw),
        (trajectory_balance, "trajectory_log_pf", dense_log_pf),
        (classifier_training, "base_posteriors", dense_base_posteriors),
    ],
}
"""Today's code (a fragment policy's log-probabilities kept by slot), the allowed (state,
action) pairs it replaced, and the dense computation those replaced: (module or class, name,
function) patched in where it is called."""


@contextmanager
def variant(name: str) -> Iterator[None]:
    """Run the block with ``name``'s functions in place."""
    with ExitStack() as stack:
        for module, attribute, function in VARIANTS[name]:
            stack.enter_context(patch.object(module, attribute, function))
        yield


def _ratio(times: dict[str, float], faster_is_larger: bool = False) -> dict[str, float]:
    """How many times faster today's code is than each variant it replaced."""
    return {
        f"over_{name}": round(
            times["slots"] / times[name] if faster_is_larger else times[name] / times["slots"], 2
        )
        for name in ("pairs", "dense")
    }


def action_draws(make_env, device: str, repeats: int = 20, **network) -> dict:
    """Milliseconds per action draw for 64 states of the base-training distribution (a policy
    after its warm-up steps), every variant, same states, same run (best of two turns each)."""
    env = make_env(device=device)
    with seeded(0):
        gfn = GFlowNet(env, **network).to(device)
    states = sample_trajectories(gfn, 16, TRAINING["epsilon"]).states[:64]
    times: dict[str, list[float]] = {}
    for name in [*VARIANTS] * 2:
        _sync(device)
        start = time.perf_counter()
        with variant(name):
            for _ in range(repeats):
                sampler.draw_actions(gfn, states, TRAINING["epsilon"])
        _sync(device)
        times.setdefault(name, []).append((time.perf_counter() - start) / repeats * 1e3)
    out = {name: round(min(values), 2) for name, values in times.items()}
    return {"states": len(states), "ms": out, "speedup": _ratio(out)}


def loss_pass(make_env, device: str, repeats: int = 5, **network) -> dict:
    """Milliseconds of ``Σ log P_F`` of 64 trajectories, forward and backward, every variant on
    the same batch (best of two turns each, caches warm)."""
    env = make_env(device=device)
    with seeded(0):
        gfn = GFlowNet(env, **network).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    trajectories = sample_trajectories(gfn, TRAINING["batch_size"], TRAINING["epsilon"], generator)
    trajectory_balance.trajectory_log_pf(gfn, trajectories).sum().backward()  # warm the caches
    times: dict[str, list[float]] = {}
    for name in [*VARIANTS] * 2:
        _sync(device)
        start = time.perf_counter()
        with variant(name):
            for _ in range(repeats):
                gfn.zero_grad()
                trajectory_balance.trajectory_log_pf(gfn, trajectories).sum().backward()
        _sync(device)
        times.setdefault(name, []).append((time.perf_counter() - start) / repeats * 1e3)
    out = {name: round(min(values), 1) for name, values in times.items()}
    return {"states": len(trajectories.states), "ms": out, "speedup": _ratio(out)}


def base_training(make_env, device: str, **network) -> dict:
    """Trajectories/s of trajectory-balance steps as a campaign's base training runs them, per
    reward, every variant alternated twice in the same run; each run starts
    from the same initial weights and random stream on a fresh environment."""
    rewards = {"qed": {}}
    if SEH_WEIGHTS.is_file():
        rewards["seh"] = {"path": str(SEH_WEIGHTS)}
    out = {**TRAINING}
    for reward, params in rewards.items():
        runs: dict[str, list[dict]] = {}
        for name in [*VARIANTS] * 2:
            with variant(name):
                runs.setdefault(name, []).append(
                    _base_training(make_env, device, make_reward(reward, **params), **network)
                )
        rates = {
            name: round(statistics.fmean(run["trajectories_per_s"] for run in values), 1)
            for name, values in runs.items()
        }
        out[reward] = {
            "trajectories_per_s": rates,
            "speedup": _ratio(rates, faster_is_larger=True),
            "runs": runs,
        }
    return out


def _base_training(make_env, device: str, reward, **network) -> dict:
    env = make_env(device=device)
    # the initial weights decide how large the molecules are (1.7x in speed, seed 0 vs 1)
    with seeded(0):
        gfn = GFlowNet(env, **network).to(device)
    params = [p for name, p in gfn.named_parameters() if name != "log_Z"]
    optimizer = torch.optim.Adam([{"params": params, "lr": 1e-3}, {"params": [gfn.log_Z]}])
    generator = torch.Generator(device=device).manual_seed(0)

    def log_reward(states) -> torch.Tensor:
        return reward(env.to_mols(states)).clamp_min(1e-8).log().to(device)

    lengths, atoms = [], []

    def step() -> None:
        trajectories = sample_trajectories(
            gfn, TRAINING["batch_size"], TRAINING["epsilon"], generator
        )
        loss = trajectory_balance_loss(gfn, trajectories, log_reward, TRAINING["beta"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lengths.extend(trajectories.length.tolist())
        atoms.extend(mol.GetNumAtoms() for mol in env.to_mols(trajectories.terminal))

    for _ in range(TRAINING["warmup"]):
        step()
    lengths.clear()
    atoms.clear()
    _sync(device)
    start = time.perf_counter()
    for _ in range(TRAINING["steps"]):
        step()
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "trajectories_per_s": round(TRAINING["steps"] * TRAINING["batch_size"] / seconds, 1),
        "mean_trajectory_length": round(statistics.fmean(lengths), 2),
        "mean_heavy_atoms": round(statistics.fmean(atoms), 1),
    }


def untrained_models(env, device: str, **network) -> tuple[dict[str, GFlowNet], Classifier]:
    """Two untrained bases ``a`` and ``b`` of size ``network`` and an untrained classifier of
    the campaign's size (hidden 128, 2 observations), each seeded."""
    bases = {}
    for index, base in enumerate(("a", "b")):
        with seeded(index):
            bases[base] = GFlowNet(env, **network).to(device)
    with seeded(0):
        classifier = Classifier(env, list(bases), n_observations=2, hidden=128).to(device)
    return bases, classifier


def classifier_steps(make_env, device: str, steps: int = 8, **network) -> dict:
    """Trajectories/s of classifier training (two untrained bases of the campaign's size,
    16 trajectories per base and step, the campaign's classifier: hidden 128, 2
    observations), every variant alternated twice, same seeds."""
    runs: dict[str, list[float]] = {}
    for name in [*VARIANTS] * 2:
        bases, classifier = untrained_models(make_env(device=device), device, **network)
        config = ClassifierConfig(steps=steps, batch_size=16)
        with variant(name):
            start = time.perf_counter()
            train_classifier(classifier, bases, config, progress=False)
            seconds = time.perf_counter() - start
        runs.setdefault(name, []).append(round(steps * 16 * len(bases) / seconds, 1))
    rates = {name: round(statistics.fmean(values), 1) for name, values in runs.items()}
    return {
        "steps": steps,
        "trajectories_per_s": rates,
        "speedup": _ratio(rates, faster_is_larger=True),
        "runs": runs,
    }


def guided_sampling(make_env, device: str, n: int = 1024, **network) -> dict:
    """Molecules/s of ``harmonic_mean(a, b)`` guided by the action head, at batch ``n``, and
    of the plain mixture of ``a`` and ``b``, back to back (best of two turns each). The bases
    and classifier are untrained, of the campaign's sizes: the cost per step is a trained
    run's, the acceptance rate of rejection sampling (how many proposals a decision takes)
    is not."""
    bases, classifier = untrained_models(make_env(device=device), device, **network)
    classifier.eval()
    policies = {
        "mixture": GuidedPolicy(bases, classifier, Composition(("a", "b"), (), (), "mixture")),
        "action_head": GuidedPolicy(bases, classifier, harmonic_mean("a", "b"), "action_head"),
    }
    times: dict[str, list[float]] = {}
    for name in [*policies] * 2:
        generator = torch.Generator(device=device).manual_seed(0)
        _sync(device)
        start = time.perf_counter()
        sample_terminal(policies[name], n, batch_size=n, generator=generator)
        _sync(device)
        times.setdefault(name, []).append(time.perf_counter() - start)
    rates = {name: round(n / min(values), 1) for name, values in times.items()}
    return {
        "batch": n,
        "molecules_per_s": rates,
        "action_head_over_mixture": round(rates["action_head"] / rates["mixture"], 2),
    }


def literature(device: str) -> dict:
    if not BLOCKS.is_file():
        return {"skipped": f"{BLOCKS} is absent"}
    make_env = partial(FragmentEnv, read_vocabulary(BLOCKS), 9)
    env = make_env(device=device)
    return {
        "fragments": env.num_fragments,
        "max_fragments": env.max_fragments,
        "num_actions": env.num_actions,
        "network": CAMPAIGN_NETWORK,
        "cache_growth_1024": cache_growth(make_env, device),
        "sampling": sampling(make_env, device),
        "to_data": to_data(make_env, device),
        "gnn_policy": gnn(make_env, device, **CAMPAIGN_NETWORK),
        "action_draw": action_draws(make_env, device, **CAMPAIGN_NETWORK),
        "loss_pass": loss_pass(make_env, device, **CAMPAIGN_NETWORK),
        "base_training": base_training(make_env, device, **CAMPAIGN_NETWORK),
        "classifier_training": classifier_steps(make_env, device, **CAMPAIGN_NETWORK),
        "guided_sampling_untrained": guided_sampling(make_env, device, **CAMPAIGN_NETWORK),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=[*ENVIRONMENTS, "literature"])
    args = parser.parse_args()
    torch.manual_seed(0)
    result = {"device": args.device, "torch_threads": torch.get_num_threads()}
    # first, so that its peak resident memory is its own
    if args.only in (None, "literature"):
        result["literature"] = literature(args.device)
    for name, make_env in ENVIRONMENTS.items():
        if args.only not in (None, name):
            continue
        env = make_env()
        result[name] = {
            "num_actions": env.num_actions,
            "sampling": sampling(make_env, args.device),
            "env_only": env_only(make_env, args.device),
            "to_data": to_data(make_env, args.device),
            "gnn_policy": gnn(make_env, args.device),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
