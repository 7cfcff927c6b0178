"""The paper's 2-D grid experiment: train bases and a classifier, compare guided to exact.

Every distribution on the grid is computed exactly (:mod:`~gfncompose.exact`), so each
guided composition is measured against two references: (a) the exact composition of
the *learned* bases, which isolates the classifier's error, and (b) the composition of
the *true* targets ``R_i / Z_i``, which is what a user asked for and also carries the
bases' own errors. Shared by ``gfncompose grid-demo`` and
``benchmarks/hypergrid_composition.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from . import exact
from .classifier import Classifier
from .composition import Composition, compose, composition_distribution, contrast, harmonic_mean
from .envs import HyperGrid
from .guided import GuidedPolicy
from .policy import GFlowNet
from .rewards.grid import paper_grid_rewards
from .sampler import sample_terminal
from .training import ClassifierConfig, TrainConfig, seeded, train_classifier, train_gflownet

ALPHAS = (0.05, 0.5, 0.95)
"""The paper's weights for the harmonic means and contrasts of the two-base pair."""

MODES = ("successors", "action_head")
"""Both ways of reading ``Q(y | s')`` in guidance (DESIGN §3)."""


def pair_compositions(a: str, b: str) -> list[Composition]:
    """The paper's compositions of two bases: harmonic means and contrasts both ways at
    every α of :data:`ALPHAS` (``contrast(a, b, α) ∝ p_a² / (α p_a + (1-α) p_b)``)."""
    return (
        [harmonic_mean(a, b, alpha) for alpha in ALPHAS]
        + [contrast(a, b, alpha) for alpha in ALPHAS]
        + [contrast(b, a, alpha) for alpha in ALPHAS]
    )


def circle_compositions() -> list[Composition]:
    """``circle1 ⊗ circle2`` and the three-circle ``y = (1, 2, 3)`` and ``(1, 1, 1)``."""
    return [
        harmonic_mean("circle1", "circle2"),
        compose(y=("circle1", "circle2", "circle3")),
        compose(y=("circle1", "circle1", "circle1"), bases=("circle1", "circle2", "circle3")),
    ]


@dataclass
class GridExperiment:
    """Budgets and settings of the grid experiment.

    The bases are ``GFlowNet(env, hidden, num_layers)`` trained by trajectory balance
    with ``lr``, ``lr_log_Z``, exploration ``epsilon``, a cosine ``decay`` of both rates
    over that fraction of the final steps and an optional EMA copy (``ema_rate``); the
    classifier of each group (four heads on one trunk) gets ``classifier_hidden``. The
    pair group is ``symmetric_shubert`` and ``diag_sigmoid``; ``circles`` adds the three
    circle tasks with one three-base classifier. The guided policy depends on the path
    taken, so its law is exact only where the grid's state paths can be enumerated
    (:data:`~gfncompose.exact.MAX_PATHS`: 2-D grids up to 11×11); beyond, it is estimated from
    ``guided_samples`` draws and each figure is reported with the L1 that as many exact
    draws from the reference would show (``sampling_noise``).

    The base defaults are the best of a study at equal cost (3,000 steps of 16
    trajectories, 32×32, seed 0, L1 to ``R/Z`` of shubert / diag_sigmoid): the paper's
    settings (width 256, 2 layers, lr 1e-3, ε 0.05, constant rates) reach 0.084 / 0.079;
    a cosine decay over the last half 0.051 / 0.018, with lr 3e-3 0.045 on shubert. An
    EMA copy (0.995) gave 0.054, width 128 0.099, 3 layers 0.132, ε = 0 0.076 (shubert).
    """

    horizon: int = 16
    base_steps: int = 1000
    classifier_steps: int = 1000
    batch_size: int = 16
    hidden: int = 256
    num_layers: int = 2
    lr: float = 3e-3
    lr_log_Z: float = 0.1
    epsilon: float = 0.05
    decay: float = 0.5
    ema_rate: float | None = None
    classifier_hidden: int = 256
    guided_samples: int = 200_000
    circles: bool = False
    seed: int = 0
    device: str = "cpu"
    groups: dict[str, list[Composition]] = field(init=False)

    def __post_init__(self):
        self.groups = {"pair": pair_compositions("symmetric_shubert", "diag_sigmoid")}
        if self.circles:
            self.groups["circles"] = circle_compositions()

    def base_config(self) -> TrainConfig:
        """Trajectory-balance settings of every base."""
        return TrainConfig(
            steps=self.base_steps,
            batch_size=self.batch_size,
            lr=self.lr,
            lr_log_Z=self.lr_log_Z,
            epsilon=self.epsilon,
            decay=self.decay,
            ema_rate=self.ema_rate,
            seed=self.seed,
        )


def l1(p: torch.Tensor, q: torch.Tensor) -> float:
    """L1 distance of two distributions: 0 when equal, 2 when disjoint."""
    return (p - q).abs().sum().item()


def run(config: GridExperiment, progress: bool = True) -> dict:
    """Train every base and one classifier per group; returns figures and distributions.

    Returns a dict with
    ``base_l1``: ``{base: L1(learned, R/Z)}``;
    ``compositions``: ``{label: {"to_learned": {mode: L1}, "to_true": {mode: L1},
    "learned_to_true": L1, "base_l1": {base: L1}}}`` where ``to_learned`` is guided vs
    the exact composition of the learned bases, ``to_true`` guided vs the composition of
    the true ``R_i / Z_i``, and ``learned_to_true`` the floor that perfect guidance of
    these bases would reach on ``to_true``;
    ``distributions`` (``{title: [horizon**2]}``, for plots), ``bases``, ``classifiers``
    (per group) and wall times ``seconds``.
    """
    env = HyperGrid(ndim=2, horizon=config.horizon, device=config.device)
    xs = env.terminal_states()
    rewards = paper_grid_rewards(config.horizon)
    names = list(
        dict.fromkeys(n for comps in config.groups.values() for c in comps for n in c.bases)
    )
    result: dict = {"base_l1": {}, "compositions": {}, "distributions": {}, "seconds": {}}
    bases, learned, true = {}, {}, {}
    start = time.perf_counter()
    for index, name in enumerate(names):
        with seeded(config.seed + index):  # initial weights, whatever ran before
            gfn = GFlowNet(env, config.hidden, config.num_layers).to(config.device)
        bases[name], _ = train_gflownet(gfn, rewards[name], config.base_config(), progress=progress)
        learned[name] = exact.terminal_distribution(env, bases[name])
        true[name] = torch.softmax(rewards[name](xs).double().cpu(), 0)
        result["base_l1"][name] = l1(learned[name], true[name])
        result["distributions"][
            f"{name}\nlearned, L1 to R/Z {l1(learned[name], true[name]):.3f}"
        ] = learned[name]
    result["seconds"]["bases"] = time.perf_counter() - start

    start = time.perf_counter()
    result["classifiers"] = {}
    for group, comps in config.groups.items():
        members = list(dict.fromkeys(n for c in comps for n in c.bases))
        with seeded(config.seed):
            clf = Classifier(
                env,
                members,
                n_observations=max(len(c.y) for c in comps),
                hidden=config.classifier_hidden,
            ).to(config.device)
        train = ClassifierConfig(
            steps=config.classifier_steps, batch_size=config.batch_size, seed=config.seed
        )
        train_classifier(clf, {n: bases[n] for n in members}, train, progress=progress)
        result["classifiers"][group] = clf
        for comp in comps:
            figures, guided = _measure(env, bases, clf, comp, learned, true, config)
            result["compositions"][comp.label] = figures
            result["distributions"][f"{comp.label}\ntrue target"] = composition_distribution(
                true, comp
            )
            title = f"guided, action head\nL1 to true {figures['to_true']['action_head']:.3f}"
            result["distributions"][title] = guided["action_head"]
    result["seconds"]["classifiers"] = time.perf_counter() - start
    result["bases"] = bases
    return result


def _measure(
    env, bases, classifier, comp: Composition, learned: dict, true: dict, config: GridExperiment
) -> tuple[dict, dict[str, torch.Tensor]]:
    """The figures of one composition (see :func:`run`) and its guided distribution per mode."""
    of_learned = composition_distribution(learned, comp)
    of_true = composition_distribution(true, comp)
    figures: dict = {"to_learned": {}, "to_true": {}}
    enumerable = exact.path_count(env) <= exact.MAX_PATHS
    if not enumerable:
        noise = torch.Generator().manual_seed(config.seed)
        figures["sampling_noise"] = exact.sampling_noise_l1(of_true, config.guided_samples, noise)
        generator = torch.Generator(device=config.device).manual_seed(config.seed)
    guided = {}
    for mode in MODES:
        policy = GuidedPolicy(bases, classifier, comp, mode=mode)
        if enumerable:
            guided[mode] = exact.terminal_distribution(env, policy)
        else:
            guided[mode] = exact.sampled_distribution(
                env, policy, config.guided_samples, batch_size=4096, generator=generator
            )
        figures["to_learned"][mode] = l1(guided[mode], of_learned)
        figures["to_true"][mode] = l1(guided[mode], of_true)
    figures["learned_to_true"] = l1(of_learned, of_true)
    figures["base_l1"] = {n: l1(learned[n], true[n]) for n in comp.bases}
    return figures, guided


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
