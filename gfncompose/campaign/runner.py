"""Running a campaign: the order of its stages and the reuse of finished work.

Bases, then the baseline, then the classifier, then every sample set, then the report.
Each stage skips what is already done (see :mod:`~gfncompose.campaign.layout` for where
everything lives) and resumes what was interrupted.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any, Protocol

import pandas as pd
import torch
from tqdm.auto import tqdm

from ..checkpoint import atomic_write, load_checkpoint
from ..classifier import Classifier
from ..envs import Environment
from ..envs.base import States
from ..errors import UserError
from ..guided import GuidedPolicy
from ..policy import GFlowNet, Policy
from ..rewards import REWARDS, ProductReward, Reward, make_rewards
from ..rewards.base import LogRewardOfSmiles
from ..rewards.parallel import FunctionProcess
from ..training import (
    PipelinedLogReward,
    RemoteLogReward,
    TrainConfig,
    seeded,
    train_classifier,
    train_gflownet,
)
from ..trajectory_balance import LogReward
from .config import BASELINE, BaseSpec, Campaign
from .environment import make_environment
from .layout import CampaignLayout, read_json, write_json
from .report import write_report
from .sampling import (
    Chunk,
    ChunkSampler,
    chunk_seed,
    chunk_sizes,
    sample_chunk,
    sample_chunks_in_processes,
)

log = logging.getLogger("gfncompose.campaign")


class Cluster(Protocol):
    """Where a campaign's tasks run when not in this process (see
    :class:`~gfncompose.campaign.cluster.RayCluster`)."""

    def train_bases(self, campaign: Campaign, names: Sequence[str]) -> None: ...

    def train_classifier(self, campaign: Campaign) -> None: ...

    def sample_chunks(
        self,
        campaign: Campaign,
        name: str,
        label: str,
        chunks: Sequence[tuple[int, int, int]],
        done: Callable[[int, Chunk], Any],
    ) -> None: ...


class LogRewardOfStates:
    """``log R`` of ``B`` molecule states as ``torch.float32`` ``[B]`` on the environment's
    device; picklable, so that sampling processes compute it too."""

    def __init__(self, reward: Reward, env: Environment):
        self.reward, self.env = reward, env

    def __call__(self, states: States) -> torch.Tensor:
        return self.reward(self.env.to_mols(states)).log().to(self.env.device)


class CampaignRunner:
    """Runs the stages of ``campaign``; each stage reuses finished work.

    With a ``cluster``, bases train as concurrent tasks, the classifier as one, and sample
    sets as concurrent chunks; their artifacts are the same files, so a run with a
    cluster reuses work done without one and the other way round.
    """

    def __init__(self, campaign: Campaign, progress: bool = True, cluster: Cluster | None = None):
        if cluster is not None:  # tasks run elsewhere: no path may depend on this process
            campaign = replace(campaign, output=campaign.output.resolve())
        self.campaign = campaign
        self.progress = progress
        self.cluster = cluster
        self.layout = CampaignLayout(campaign)
        self.device = torch.device(campaign.device)
        self._bases: dict[str, GFlowNet] | None = None
        self._classifier: Classifier | None = None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {campaign.device!r} requested but CUDA is not available")

    # -- shared objects --------------------------------------------------------------------
    @cached_property
    def env(self) -> Environment:
        return make_environment(self.campaign.environment, self.device)

    @cached_property
    def rewards(self) -> dict[str, Reward]:
        """Every reward of the campaign; those that take a ``device`` (networks such as the
        sEH proxy) run on the campaign's unless their table sets one."""
        specs = {}
        for label, params in self.campaign.rewards.items():
            init = inspect.signature(REWARDS[params.get("kind", label)].__init__)
            device = {"device": str(self.device)} if "device" in init.parameters else {}
            specs[label] = {**device, **params}
        return make_rewards(specs)

    def base_reward(self, spec: BaseSpec) -> Reward:
        """The reward a base is trained on: the product of its rewards."""
        parts = [self.rewards[label] for label in spec.rewards]
        return parts[0] if len(parts) == 1 else ProductReward(parts, name="*".join(spec.rewards))

    def _spec(self, name: str) -> BaseSpec:
        if name == BASELINE and self.campaign.baseline is not None:
            return self.campaign.baseline
        if name not in self.campaign.bases:
            raise UserError(f"no base named {name!r}; bases: {', '.join(self.campaign.bases)}")
        return self.campaign.bases[name]

    # -- stage 1: bases --------------------------------------------------------------------
    def train_base(self, name: str) -> GFlowNet:
        """Train base ``name`` (or the baseline, :data:`BASELINE`), or load it when done."""
        spec = self._spec(name)
        folder = self.layout.base_dir(name)
        checkpoint, result_path = self.layout.checkpoint(folder), self.layout.result(folder)
        with seeded(spec.train.seed):  # the initial weights, whatever ran before
            gfn = GFlowNet(self.env, spec.hidden, spec.num_layers).to(self.device)
        if result_path.is_file():
            log.info("base %s: trained (%s), reusing it", name, folder)
            return self._load_base(gfn, spec, checkpoint)
        resumed = self._resumed_step(checkpoint)
        log.info(
            "base %s: trajectory balance on %s, %d steps%s",
            name,
            " * ".join(spec.rewards),
            spec.train.steps,
            f" (resuming at step {resumed})" if resumed else "",
        )
        start = time.perf_counter()
        with self._log_reward(self.base_reward(spec), spec.train) as log_reward:
            model, history = train_gflownet(gfn, log_reward, spec.train, checkpoint, self.progress)
        seconds = time.perf_counter() - start
        trained_steps = spec.train.steps - resumed
        last = [h["loss"] for h in history[-50:]]
        write_json(
            result_path,
            {
                "name": name,
                "rewards": list(spec.rewards),
                "steps": spec.train.steps,
                "resumed_from_step": resumed,
                "seconds": round(seconds, 2),
                "trajectories_per_s": round(trained_steps * spec.train.batch_size / seconds, 2),
                "final_loss": sum(last) / max(1, len(last)),
                "log_Z": gfn.log_Z.item(),
            },
        )
        return model

    @contextlib.contextmanager
    def _log_reward(
        self, reward: Reward, train: TrainConfig
    ) -> Iterator[LogReward | RemoteLogReward]:
        """``log R`` of terminal states for training on ``reward``: computed in a process of
        its own, while the learner samples, for a reward slow enough to pay for it
        (:attr:`~gfncompose.rewards.Reward.pipelined`); here, or in the sampling processes
        where the training has them, otherwise."""
        if train.sampling_processes or not reward.pipelined:
            yield LogRewardOfStates(reward, self.env)
            return
        process = FunctionProcess(LogRewardOfSmiles(reward))
        try:
            yield PipelinedLogReward(process, self.env.to_smiles)
        finally:
            process.close()

    def _load_base(self, gfn: GFlowNet, spec: BaseSpec, checkpoint) -> GFlowNet:
        state = load_checkpoint(checkpoint, map_location=self.device)
        gfn.load_state_dict(state["ema"] if spec.train.ema_rate is not None else state["model"])
        return gfn

    @staticmethod
    def _resumed_step(checkpoint) -> int:
        return load_checkpoint(checkpoint)["step"] if checkpoint.is_file() else 0

    def train_bases(self) -> dict[str, GFlowNet]:
        """Every base of the campaign, trained or loaded, in the file's order."""
        if self._bases is None:
            self._train_on_cluster(list(self.campaign.bases))
            self._bases = {name: self.train_base(name) for name in self.campaign.bases}
        return self._bases

    def _train_on_cluster(self, names: list[str]) -> None:
        """With a cluster, train the bases of ``names`` that are not done, concurrently."""
        layout = self.layout
        todo = [n for n in names if not layout.result(layout.base_dir(n)).is_file()]
        if self.cluster is not None and todo:
            log.info("bases %s: training on the cluster", ", ".join(todo))
            self.cluster.train_bases(self.campaign, todo)

    # -- stage 2: classifier ---------------------------------------------------------------
    def train_classifier(self) -> Classifier:
        """Train the classifier over all bases (or load it when done)."""
        if self._classifier is None:
            self._classifier = self._train_classifier()
        return self._classifier

    def _train_classifier(self) -> Classifier:
        spec = self.campaign.classifier
        folder = self.layout.classifier_dir()
        checkpoint, result_path = self.layout.checkpoint(folder), self.layout.result(folder)
        names = list(self.campaign.bases)
        with seeded(spec.train.seed):
            classifier = Classifier(
                self.env, names, spec.n_observations, spec.hidden, spec.num_layers, spec.num_atoms
            ).to(self.device)
        bases = self.train_bases()
        if self.cluster is not None and not result_path.is_file():
            log.info("classifier: training on the cluster")
            self.cluster.train_classifier(self.campaign)
        if result_path.is_file():
            log.info("classifier: trained (%s), reusing it", folder)
            classifier.load_state_dict(load_checkpoint(checkpoint, self.device)["model"])
        else:
            resumed = self._resumed_step(checkpoint)
            log.info(
                "classifier over %s: %d steps%s",
                ", ".join(names),
                spec.train.steps,
                f" (resuming at step {resumed})" if resumed else "",
            )
            start = time.perf_counter()
            train_classifier(classifier, bases, spec.train, checkpoint, self.progress)
            seconds = time.perf_counter() - start
            write_json(
                result_path,
                {
                    "bases": names,
                    "steps": spec.train.steps,
                    "resumed_from_step": resumed,
                    "seconds": round(seconds, 2),
                },
            )
        classifier.eval()
        return classifier

    # -- stage 3: samples ------------------------------------------------------------------
    def sample_sets(self) -> dict[str, tuple[str, int]]:
        """Every sample set of the campaign: ``{name: (label, count)}`` (bases first, then
        compositions, then the baseline)."""
        campaign = self.campaign
        sets = {name: (f"base({name})", campaign.base_samples) for name in campaign.bases}
        for name, spec in campaign.compositions.items():
            sets[name] = (spec.composition.label, spec.samples)
        if campaign.baseline is not None:
            label = f"{BASELINE}({' * '.join(campaign.baseline.rewards)})"
            sets[BASELINE] = (label, campaign.base_samples)
        return sets

    def policy(self, name: str) -> Policy:
        """The forward policy that samples set ``name``."""
        if name == BASELINE:
            return self.train_base(BASELINE)
        if name in self.campaign.bases:
            return self.train_bases()[name]
        spec = self.campaign.compositions[name]
        return GuidedPolicy(
            self.train_bases(), self.train_classifier(), spec.composition, self.campaign.mode
        )

    def sample(self, name: str):
        """Sample set ``name`` to its CSV (skipped when already done), chunk by chunk: chunks
        finished before an interruption are kept and only the missing ones are sampled. The
        chunks are drawn by the cluster if there is one, else in ``[sampling] processes``
        processes of this machine when more than one is left, else here: the same set."""
        sets = self.sample_sets()
        if name not in sets:
            raise UserError(f"no sample set named {name!r}; sets: {', '.join(sets)}")
        label, count = sets[name]
        chunk = self.campaign.batch_size
        path, meta_path = self.layout.samples_csv(name), self.layout.samples_meta(name)
        fingerprint = self.layout.samples_fingerprint(name, label, count, chunk)
        meta = read_json(meta_path)
        if meta is not None and meta.get("fingerprint") == fingerprint and path.is_file():
            log.info("samples %s: done (%s), reusing them", name, path)
            return path
        sizes = chunk_sizes(count, chunk)
        parts = [self.layout.chunk_csv(name, fingerprint, index) for index in range(len(sizes))]
        todo = [
            (index, size, chunk_seed(self.campaign.seed, name, index))
            for index, size in enumerate(sizes)
            if not parts[index].is_file()
        ]
        log.info("samples %s: %d molecules of %s", name, count, label)
        seconds, start = 0.0, time.perf_counter()
        with tqdm(
            total=count, desc=f"sampling {name}", unit="mol", disable=not self.progress
        ) as bar:
            bar.update(count - sum(size for _, size, _ in todo))

            def done(index: int, result: Chunk) -> None:
                nonlocal seconds
                atomic_write(parts[index], lambda h: result.table.to_csv(h, index=False))
                seconds += result.seconds
                bar.update(len(result.table))

            if self.cluster is not None:
                self.cluster.sample_chunks(self.campaign, name, label, todo, done)
            elif self.campaign.sampling_processes and len(todo) > 1:
                sampler = ChunkSampler(
                    self.policy(name), self.train_classifier(), self.rewards, label
                )
                sample_chunks_in_processes(sampler, todo, done, self.campaign.sampling_processes)
            else:
                policy, classifier = self.policy(name), self.train_classifier()
                for index, size, seed in todo:
                    done(index, sample_chunk(policy, classifier, self.rewards, label, size, seed))
        wall = time.perf_counter() - start
        sampled = sum(size for _, size, _ in todo)
        table = pd.concat([pd.read_csv(p, keep_default_na=False) for p in parts])
        atomic_write(path, lambda handle: table.to_csv(handle, index=False))
        write_json(
            meta_path,
            {
                "name": name,
                "label": label,
                "samples": count,
                "mode": self.campaign.mode if name in self.campaign.compositions else None,
                "seconds": round(seconds, 3),
                "molecules_per_s": round(sampled / seconds, 2) if seconds > 0 else None,
                "wall_seconds": round(wall, 3),
                "fingerprint": fingerprint,
            },
        )
        shutil.rmtree(parts[0].parent)  # this set's chunks, and stale ones of older configs
        return path

    # -- everything ------------------------------------------------------------------------
    def run(self) -> None:
        """All stages in order: bases, baseline, classifier, every sample set, report."""
        baseline = [BASELINE] if self.campaign.baseline is not None else []
        self._train_on_cluster([*self.campaign.bases, *baseline])
        self.train_bases()
        if baseline:
            self.train_base(BASELINE)
        self.train_classifier()
        for name in self.sample_sets():
            self.sample(name)
        write_report(self)
