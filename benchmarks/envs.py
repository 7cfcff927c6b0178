"""Speed of the molecule environments and their GNN policy; prints one JSON object.

Per environment (default configurations): uniform-random sampling at batch 1, 64
and 1024 (steps/s counts every action, stop included; molecules/s complete
trajectories), mean trajectory length; the same walks through the environment
alone (``env_only``: forward mask, step and log P_B, with actions drawn by numpy
rather than by a categorical over the whole flat action space, so the
environment's own cost shows); ``to_data`` per 1,000 states with a cold and a
warm feature cache; and forward/backward of the default ``GFlowNet`` policy on a
batch of 256 states. Every timing starts from a fresh environment (cold caches).

    python benchmarks/envs.py [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from gfncompose import GFlowNet, UniformPolicy
from gfncompose.envs import AtomEnv, FragmentEnv
from gfncompose.sampler import sample_trajectories

ENVIRONMENTS = {"atoms": AtomEnv, "fragments": FragmentEnv}
BATCHES = {1: 20, 64: 256, 1024: 1024}
"""Batch size -> molecules sampled to time it (fresh environment, cold caches)."""
ENV_ONLY_BATCHES = {1: 40, 64: 256}
"""Batch size -> molecules walked through the environment alone to time it."""


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


def gnn(make_env, device: str, repeats: int = 5) -> dict:
    env = make_env(device=device)
    states = sample_trajectories(UniformPolicy(env), 64).states[:256]
    gfn = GFlowNet(env).to(device)
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


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    result = {"device": args.device, "torch_threads": torch.get_num_threads()}
    for name, make_env in ENVIRONMENTS.items():
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
