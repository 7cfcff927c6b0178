"""Accuracy of guidance on molecule spaces small enough to enumerate, in both guidance modes,
with a learned classifier and with exact heads.

Prints one JSON object. Per environment (fragments: 3 fragments, at most 3 of them,
246 molecules; atoms: C/N/O/F/S/Cl, at most 4 atoms, 3,905 molecules), the bases are the
exact trajectory-balance-optimal policies of ``QED^β`` and ``SA^β``; one learned GNN
classifier is trained on them. For each composition, the exact law of each guided policy
(no sampling) is compared with the composition formula:

- ``path``: the library's guidance, bases weighted by their posterior given the path
  ``w_i(τ)`` and each child scored by the per-base ``Q_i``; its law is computed by
  enumerating every state path (:func:`gfncompose.exact.terminal_distribution`), with the
  classifier's answers tabulated once per (state, action) since they do not depend on
  the path;

The plain mixture's L1 is given for scale. Also reported, with no learning at all, the path
posterior against the guidance this package used before (``generator_head``: a Markov
policy ``Σ_i G(i | s) P_F^i(a | s) · Σ_j G(j | s') Q_j(y | s')``), both with exact heads
(:class:`gfncompose.exact.ExactClassifier`), for the balanced bases and for random ones
that satisfy trajectory balance for no reward, where only the path posterior stays
exact. (The learned classifier still trains a generator head, as an auxiliary target;
guidance reads no ``G``. The two rules on the same learned classifiers are compared in
``benchmarks/RESULTS.md``.)

    python benchmarks/guidance_accuracy.py [--steps 2000] [--beta 8] [--hidden 128] [--seed 0]
        [--envs fragments,atoms]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import nullcontext
from datetime import date

import torch

from gfncompose import GuidedPolicy, compose, contrast, exact, harmonic_mean
from gfncompose.action_log_probs import MASKED
from gfncompose.classifier import Classifier
from gfncompose.composition import (
    Composition,
    composition_distribution,
    log_observation_likelihood,
)
from gfncompose.envs import AtomEnv, FragmentEnv, Vocabulary
from gfncompose.envs.vocabulary import fragment_from_marked_smiles
from gfncompose.rewards import make_reward
from gfncompose.training import ClassifierConfig, seeded, train_classifier

COMPOSITIONS = [
    harmonic_mean("qed", "sa"),
    contrast("qed", "sa", 0.5),
    contrast("sa", "qed", 0.5),
    contrast("qed", "sa", 0.05),
    compose(y=("qed", "qed", "sa")),
]
MODES = ("successors", "action_head")


def environments() -> dict:
    marked = ["*C", "*OCC*", "*c1ccncc1"]
    return {
        "fragments": FragmentEnv(Vocabulary(fragment_from_marked_smiles(m) for m in marked), 3),
        "atoms": AtomEnv(max_atoms=4),
    }


class Heads:
    """A learned classifier's heads at every enumerated state and every (state, move) pair,
    computed once: guidance reads the same numbers for any path to a state, so the exact
    evaluations below look them up instead of running the network per path."""

    def __init__(self, env, classifier: Classifier):
        graph = exact.state_graph(env)
        self.env, self.graph, self.classifier = env, graph, classifier
        rows, actions = graph.mask.nonzero(as_tuple=True)
        move = actions != env.stop_action
        self.rows, self.actions = rows[move], actions[move]
        state, pair = [], []
        for start in range(0, len(graph.index), 512):
            chunk = torch.arange(start, min(start + 512, len(graph.index)))
            encoding = classifier.encode(env.index(graph.states, chunk))
            state.append(
                (*classifier.joint_atoms(encoding), classifier.terminal_head(encoding.graph))
            )
            sel = (self.rows >= chunk[0]) & (self.rows <= chunk[-1])
            atoms = classifier.action_atoms(encoding, self.rows[sel] - chunk[0], self.actions[sel])
            pair.append(atoms[1:])  # guidance reads the joint atoms, not the generator logits
        self.state = [torch.cat(parts) for parts in zip(*state, strict=True)]
        self.pair = [torch.cat(parts) for parts in zip(*pair, strict=True)]

    def tables(self, composition: Composition, mode: str) -> torch.Tensor:
        """``log Q_i(y | s')`` at the child of each action: ``[S, A, m]`` (stop: ``Q_term``
        in every column)."""
        clf, graph, stop = self.classifier, self.graph, self.env.stop_action
        cols = clf._columns(composition.bases)
        log_pi, phi, term = self.state
        if mode == "action_head":
            log_q_move = clf._log_q_bases(*self.pair, composition)
        else:  # the classifier on the child itself, an enumerated state
            child = graph.child[self.rows, self.actions]
            log_q_move = clf._log_q_bases(log_pi, phi, composition)[child]
        log_q_child = torch.full((*graph.mask.shape, len(cols)), MASKED)
        log_q_child[self.rows, self.actions] = log_q_move
        can_stop = graph.mask[:, stop]
        q_term = log_observation_likelihood(term[can_stop][:, cols], composition)
        log_q_child[can_stop, stop] = q_term[:, None]
        return log_q_child


class TabulatedQ:
    """Per-base ``log Q_i`` of every (state, action) served by lookup, for
    :class:`~gfncompose.guided.GuidedPolicy` (as its action head)."""

    def __init__(self, env, base_names, log_q_child: torch.Tensor):
        self.env, self.graph, self.base_names = env, exact.state_graph(env), base_names
        self.table = log_q_child

    def log_Q_pairs(self, states, rows, actions, composition: Composition) -> torch.Tensor:
        return self.table[self.graph.rows(self.env, states)[rows], actions]

    def reusing(self):
        return nullcontext()


def generator_head_policy(env, bases, log_g, log_g_child, log_q_child) -> exact.TabularPolicy:
    """The former Markov guidance as a table over the enumerated states:
    ``P̃(a | s) ∝ Σ_i G(i | s) P_F^i(a | s) · Σ_j G(j | s') Q_j(y | s')``, renormalised."""
    log_pf = torch.stack([base.table for base in bases], dim=2)  # [S, A, m]
    log_mix = torch.logsumexp(log_g[:, None, :] + log_pf, dim=2)
    log_q = torch.logsumexp(log_g_child + log_q_child, dim=2)
    logits = log_mix + log_q
    dead = torch.isinf(logits).all(dim=1, keepdim=True)
    return exact.TabularPolicy(env, torch.log_softmax(torch.where(dead, log_mix, logits), dim=1))


def l1(p: torch.Tensor, q: torch.Tensor) -> float:
    return float((p - q).abs().sum())


def compare_learned(env, bases, dists, classifier) -> dict:
    """Per composition: L1 of the mixture and of each rule and mode to the formula."""
    heads = Heads(env, classifier)
    out = {}
    for composition in COMPOSITIONS:
        target = composition_distribution(dists, composition)
        mixture = sum(dists[n] for n in composition.bases) / len(composition.bases)
        row = {"mixture": l1(mixture, target)}
        for mode in MODES:
            table = TabulatedQ(env, classifier.base_names, heads.tables(composition, mode))
            path = GuidedPolicy(bases, table, composition, "action_head")
            row[f"path/{mode}"] = l1(exact.terminal_distribution(env, path), target)
        out[composition.label] = {k: round(v, 4) for k, v in row.items()}
    return out


def compare_exact(env, bases) -> dict:
    """Largest L1 over the compositions of each rule with exact heads."""
    clf = exact.classifier(env, bases)
    dists, graph = clf.terminal_distributions(), exact.state_graph(env)
    worst = {"path": 0.0, "generator_head": 0.0}
    for composition in COMPOSITIONS:
        target = composition_distribution(dists, composition)
        path = GuidedPolicy(bases, clf, composition, "successors")
        log_g = clf.log_generator_posterior(graph.states, composition.bases)
        log_q_child = clf._tables(composition)[1].float()
        child = graph.child.clamp_min(0)
        log_g_child = log_g[child]
        stop = env.stop_action
        log_g_child[:, stop] = -torch.log(torch.tensor(float(len(composition.bases))))
        members = [bases[n] for n in composition.bases]
        old = generator_head_policy(env, members, log_g, log_g_child, log_q_child)
        for rule, policy in (("path", path), ("generator_head", old)):
            worst[rule] = max(worst[rule], l1(exact.terminal_distribution(env, policy), target))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="classifier training steps")
    parser.add_argument("--beta", type=float, default=8.0, help="reward exponent of the bases")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="classifier weights and training")
    parser.add_argument("--envs", default="fragments,atoms", help="comma-separated subset")
    args = parser.parse_args()
    spaces = environments()
    unknown = set(args.envs.split(",")) - set(spaces)
    if unknown:
        parser.error(f"unknown environments {sorted(unknown)}; known: {', '.join(spaces)}")
    rewards = {"qed": make_reward("qed"), "sa": make_reward("sa")}
    results = {}
    for name in args.envs.split(","):
        env = spaces[name]
        terminals = env.terminal_states()
        mols = env.to_mols(terminals)
        bases = {
            k: exact.optimal_policy(env, args.beta * reward(mols).log().double())
            for k, reward in rewards.items()
        }
        dists = {k: exact.terminal_distribution(env, p) for k, p in bases.items()}
        generator = torch.Generator().manual_seed(args.seed)
        random_bases = {k: exact.random_policy(env, generator) for k in rewards}
        with seeded(args.seed):
            classifier = Classifier(env, list(bases), n_observations=3, hidden=args.hidden)
        train = ClassifierConfig(steps=args.steps, seed=args.seed)
        start = time.perf_counter()
        with torch.enable_grad():
            train_classifier(classifier, bases, train, progress=False)
        seconds = time.perf_counter() - start
        classifier.eval()
        start = time.perf_counter()
        with torch.no_grad():
            learned = compare_learned(env, bases, dists, classifier)
            results[name] = {
                "molecules": len(mols),
                "state_paths": exact.path_count(env),
                "classifier_train_seconds": round(seconds, 1),
                "learned_classifier_l1": learned,
                "evaluation_seconds": round(time.perf_counter() - start, 1),
                "exact_heads_max_l1": {  # unrounded: ~1e-7 expected where exact
                    "balanced_bases": compare_exact(env, bases),
                    "random_bases": compare_exact(env, random_bases),
                },
            }
    print(
        json.dumps(
            {
                "benchmark": "guidance_accuracy",
                "date": date.today().isoformat(),
                "config": vars(args),
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "environments": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
