"""The hypergrid composition experiment: train bases, a classifier, compare guided to exact.

Shared by ``gfncompose grid-demo`` and ``benchmarks/hypergrid_composition.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from . import exact
from .classifier import Classifier
from .classifier_training import ClassifierConfig, train_classifier
from .composition import Composition, compose, composition_distribution, contrast, harmonic_mean
from .envs import HyperGrid
from .guided import GuidedPolicy
from .policy import GFlowNet
from .rewards.grid import grid_rewards
from .sampler import sample_terminal
from .trajectory_balance import TrainConfig, train_gflownet


@dataclass
class GridExperiment:
    """Budgets of the grid experiment (defaults: a few minutes on 2 CPU cores).

    ``hidden`` is the width of the bases; the classifier, four heads on one trunk,
    gets ``classifier_hidden``.
    """

    horizon: int = 16
    base_steps: int = 1000
    classifier_steps: int = 1000
    batch_size: int = 16
    hidden: int = 128
    classifier_hidden: int = 256
    three_disks: bool = False
    seed: int = 0
    device: str = "cpu"
    groups: dict[str, list[Composition]] = field(init=False)

    def __post_init__(self):
        self.groups = {
            "shapes": [
                harmonic_mean("band", "ring"),
                contrast("band", "ring", 0.5),
                contrast("band", "ring", 0.05),
                contrast("ring", "band", 0.5),
            ]
        }
        if self.three_disks:
            self.groups["disks"] = [
                compose(y=("d1", "d2", "d3")),
                compose(y=("d1", "d1", "d1"), bases=("d1", "d2", "d3")),
            ]


def l1(p: torch.Tensor, q: torch.Tensor) -> float:
    return (p - q).abs().sum().item()


def run(config: GridExperiment, progress: bool = True) -> dict:
    """Train every base and one classifier per group; returns distributions and figures.

    Returns a dict with ``base_l1`` (learned vs ``R/Z``), ``composition_l1``
    (``{label: {mode: L1}}``, guided vs the exact composition of the learned bases),
    ``distributions`` (for plots), and wall times in seconds.
    """
    torch.manual_seed(config.seed)
    env = HyperGrid(ndim=2, horizon=config.horizon, device=config.device)
    xs = env.terminal_states()
    rewards = grid_rewards(config.horizon)
    names = sorted({n for comps in config.groups.values() for c in comps for n in c.bases})
    result: dict = {"base_l1": {}, "composition_l1": {}, "distributions": {}, "seconds": {}}
    bases = {}
    start = time.perf_counter()
    for name in names:
        gfn = GFlowNet(env, config.hidden, 2).to(config.device)
        train = TrainConfig(
            steps=config.base_steps, batch_size=config.batch_size, epsilon=0.05, seed=config.seed
        )
        bases[name], _ = train_gflownet(gfn, rewards[name], train, progress=progress)
        dist = exact.terminal_distribution(env, bases[name])
        target = torch.softmax(rewards[name](xs).double().cpu(), 0)
        result["base_l1"][name] = l1(dist, target)
        result["distributions"][f"{name} (L1 to R/Z {l1(dist, target):.3f})"] = dist
    result["seconds"]["bases"] = time.perf_counter() - start

    start = time.perf_counter()
    for group, comps in config.groups.items():
        members = sorted({n for c in comps for n in c.bases})
        n_obs = max(len(c.y) for c in comps)
        clf = Classifier(env, members, n_observations=n_obs, hidden=config.classifier_hidden)
        clf = clf.to(config.device)
        train = ClassifierConfig(
            steps=config.classifier_steps, batch_size=config.batch_size, seed=config.seed
        )
        train_classifier(clf, {n: bases[n] for n in members}, train, progress=progress)
        dists = {n: exact.terminal_distribution(env, bases[n]) for n in members}
        for comp in comps:
            expected = composition_distribution(dists, comp)
            result["distributions"][f"{comp.label}\nexact, of the learned bases"] = expected
            result["composition_l1"][comp.label] = {}
            for mode in ("successors", "action_head"):
                guided = GuidedPolicy(bases, clf, comp, mode=mode)
                got = exact.terminal_distribution(env, guided)
                result["composition_l1"][comp.label][mode] = l1(got, expected)
                if mode == "action_head":
                    title = f"{comp.label}\nguided, action head (L1 {l1(got, expected):.3f})"
                    result["distributions"][title] = got
        result.setdefault("classifiers", {})[group] = clf
    result["seconds"]["classifiers"] = time.perf_counter() - start
    result["bases"] = bases
    return result


def sampling_throughput(bases, classifier, composition: Composition, n: int = 2048) -> dict:
    """Samples/s of the plain mixture and of guidance in each mode, measured back to back."""
    rates = {}
    mixture = Composition(composition.bases, (), (), "mixture")
    for label, policy in [
        ("mixture", GuidedPolicy(bases, classifier, mixture)),
        ("successors", GuidedPolicy(bases, classifier, composition, "successors")),
        ("action_head", GuidedPolicy(bases, classifier, composition, "action_head")),
    ]:
        start = time.perf_counter()
        sample_terminal(policy, n, batch_size=n)
        rates[label] = n / (time.perf_counter() - start)
    return rates
