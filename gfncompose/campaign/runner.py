"""Running a campaign: train bases, train the classifier, sample, report.

Every artifact lives in a folder named by the hash of everything that determines it
(:meth:`Campaign.fingerprint`), so a rerun reuses what is done, resumes what was
interrupted (checkpoints are atomic) and never mixes results of different configs::

    OUTPUT/bases/NAME-HASH/{checkpoint.pt, result.json}
    OUTPUT/classifier-HASH/{checkpoint.pt, result.json}
    OUTPUT/samples/NAME.{csv,json}      (bases, compositions, the monolithic baseline)
    OUTPUT/summary.{csv,json}, OUTPUT/plots/*.png
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..checkpoint import atomic_write, load_checkpoint
from ..classifier import Classifier
from ..classifier_training import train_classifier
from ..envs import AtomEnv, Environment, FragmentEnv, States, read_vocabulary
from ..errors import UserError
from ..guided import GuidedPolicy
from ..policy import GFlowNet, Policy
from ..rewards import ProductReward, Reward, make_rewards
from ..sampler import sample_trajectories
from ..trajectory_balance import train_gflownet
from .config import BaseSpec, Campaign
from .export import sample_table

log = logging.getLogger("gfncompose.campaign")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """``payload`` as indented JSON, written atomically."""
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode()))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``, or ``None`` when there is none yet."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class CampaignRunner:
    """Runs the stages of ``campaign``; each stage reuses finished work."""

    def __init__(self, campaign: Campaign, progress: bool = True):
        self.campaign = campaign
        self.progress = progress
        self.output = campaign.output
        self.device = torch.device(campaign.device)
        self._bases: dict[str, GFlowNet] | None = None
        self._classifier: Classifier | None = None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {campaign.device!r} requested but CUDA is not available")

    # -- shared objects --------------------------------------------------------------------
    @cached_property
    def env(self) -> Environment:
        params = dict(self.campaign.environment)
        kind = params.pop("kind")
        if kind == "fragments":
            if "vocabulary" in params:
                params["vocabulary"] = read_vocabulary(params["vocabulary"])
            return FragmentEnv(**params, device=self.device)
        if "ring_sizes" in params:
            params["ring_sizes"] = tuple(params["ring_sizes"])
        return AtomEnv(**params, device=self.device)

    @cached_property
    def rewards(self) -> dict[str, Reward]:
        return make_rewards(self.campaign.rewards)

    def base_reward(self, spec: BaseSpec) -> Reward:
        """The reward a base is trained on: the product of its rewards."""
        parts = [self.rewards[label] for label in spec.rewards]
        return parts[0] if len(parts) == 1 else ProductReward(parts, name="*".join(spec.rewards))

    # -- folders ---------------------------------------------------------------------------
    def base_dir(self, name: str) -> Path:
        key = "baseline" if name == "monolithic" else f"base:{name}"
        return self.output / "bases" / f"{name}-{self.campaign.fingerprint(key)}"

    def classifier_dir(self) -> Path:
        return self.output / f"classifier-{self.campaign.fingerprint('classifier')}"

    def sample_path(self, name: str) -> Path:
        return self.output / "samples" / f"{name}.csv"

    def _spec(self, name: str) -> BaseSpec:
        if name == "monolithic" and self.campaign.baseline is not None:
            return self.campaign.baseline
        if name not in self.campaign.bases:
            raise UserError(f"no base named {name!r}; bases: {', '.join(self.campaign.bases)}")
        return self.campaign.bases[name]

    # -- stage 1: bases --------------------------------------------------------------------
    def train_base(self, name: str) -> GFlowNet:
        """Train base ``name`` (or ``"monolithic"``, the baseline), or load it when done."""
        spec = self._spec(name)
        folder = self.base_dir(name)
        checkpoint, result_path = folder / "checkpoint.pt", folder / "result.json"
        torch.manual_seed(spec.train.seed)  # the initial weights, whatever ran before
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
        reward = self.base_reward(spec)
        env = self.env

        def log_reward(states) -> torch.Tensor:
            return reward(env.to_mols(states)).log().to(self.device)

        start = time.perf_counter()
        model, history = train_gflownet(gfn, log_reward, spec.train, checkpoint, self.progress)
        seconds = time.perf_counter() - start
        trained_steps = spec.train.steps - resumed
        write_json(
            result_path,
            {
                "name": name,
                "rewards": list(spec.rewards),
                "steps": spec.train.steps,
                "resumed_from_step": resumed,
                "seconds": round(seconds, 2),
                "trajectories_per_s": round(trained_steps * spec.train.batch_size / seconds, 2),
                "final_loss": sum(history[-50:]) / max(1, len(history[-50:])),
                "log_Z": gfn.log_Z.item(),
            },
        )
        return model

    def _load_base(self, gfn: GFlowNet, spec: BaseSpec, checkpoint: Path) -> GFlowNet:
        state = load_checkpoint(checkpoint, map_location=self.device)
        gfn.load_state_dict(state["ema"] if spec.train.ema_rate is not None else state["model"])
        return gfn

    @staticmethod
    def _resumed_step(checkpoint: Path) -> int:
        return load_checkpoint(checkpoint)["step"] if checkpoint.is_file() else 0

    def train_bases(self) -> dict[str, GFlowNet]:
        """Every base of the campaign, trained or loaded, in the file's order."""
        if self._bases is None:
            self._bases = {name: self.train_base(name) for name in self.campaign.bases}
        return self._bases

    # -- stage 2: classifier ---------------------------------------------------------------
    def train_classifier(self) -> Classifier:
        """Train the classifier over all bases (or load it when done)."""
        if self._classifier is None:
            self._classifier = self._train_classifier()
        return self._classifier

    def _train_classifier(self) -> Classifier:
        spec = self.campaign.classifier
        folder = self.classifier_dir()
        checkpoint, result_path = folder / "checkpoint.pt", folder / "result.json"
        names = list(self.campaign.bases)
        torch.manual_seed(spec.train.seed)
        classifier = Classifier(
            self.env, names, spec.n_observations, spec.hidden, spec.num_layers, spec.num_atoms
        ).to(self.device)
        bases = self.train_bases()
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
        compositions, then the monolithic baseline)."""
        campaign = self.campaign
        sets = {name: (f"base({name})", campaign.base_samples) for name in campaign.bases}
        for name, spec in campaign.compositions.items():
            sets[name] = (spec.composition.label, spec.samples)
        if campaign.baseline is not None:
            label = f"monolithic({' * '.join(campaign.baseline.rewards)})"
            sets["monolithic"] = (label, campaign.base_samples)
        return sets

    def policy(self, name: str) -> Policy:
        """The forward policy that samples set ``name``."""
        if name == "monolithic":
            return self.train_base("monolithic")
        if name in self.campaign.bases:
            return self.train_bases()[name]
        spec = self.campaign.compositions[name]
        return GuidedPolicy(
            self.train_bases(), self.train_classifier(), spec.composition, self.campaign.mode
        )

    def sample(self, name: str) -> Path:
        """Sample set ``name`` to ``samples/NAME.csv`` (skipped when already done)."""
        sets = self.sample_sets()
        if name not in sets:
            raise UserError(f"no sample set named {name!r}; sets: {', '.join(sets)}")
        label, count = sets[name]
        path = self.sample_path(name)
        fingerprint = self._sample_fingerprint(name, label, count)
        meta = read_json(path.with_suffix(".json"))
        if meta is not None and meta.get("fingerprint") == fingerprint and path.is_file():
            log.info("samples %s: done (%s), reusing them", name, path)
            return path
        policy = self.policy(name)
        log.info("samples %s: %d molecules of %s", name, count, label)
        torch.manual_seed(self.campaign.seed + zlib.crc32(name.encode()))
        start = time.perf_counter()
        states = self._sample_states(policy, count, name)
        seconds = time.perf_counter() - start
        classifier = self.train_classifier()
        with torch.no_grad():
            posterior = classifier.log_terminal_posterior(states, classifier.base_names).exp()
        table = sample_table(
            self.env.to_smiles(states), label, self.rewards, posterior, classifier.base_names
        )
        atomic_write(path, lambda handle: table.to_csv(handle, index=False))
        write_json(
            path.with_suffix(".json"),
            {
                "name": name,
                "label": label,
                "samples": count,
                "mode": self.campaign.mode if name in self.campaign.compositions else None,
                "seconds": round(seconds, 3),
                "molecules_per_s": round(count / seconds, 2),
                "fingerprint": fingerprint,
            },
        )
        return path

    def _sample_fingerprint(self, name: str, label: str, count: int) -> str:
        if name == "monolithic":
            return self.campaign.fingerprint("baseline", label, count)
        mode = self.campaign.mode if name in self.campaign.compositions else None
        return self.campaign.fingerprint("classifier", label, count, mode)

    @torch.no_grad()
    def _sample_states(self, policy: Policy, count: int, name: str) -> States:
        parts, batch = [], self.campaign.batch_size
        with tqdm(
            total=count, desc=f"sampling {name}", unit="mol", disable=not self.progress
        ) as bar:
            for start in range(0, count, batch):
                size = min(batch, count - start)
                parts.append(sample_trajectories(policy, size).terminal)
                bar.update(size)
        return self.env.cat(parts)

    # -- everything ------------------------------------------------------------------------
    def run(self) -> None:
        """All stages in order: bases, baseline, classifier, every sample set, report."""
        from .report import write_report

        self.train_bases()
        if self.campaign.baseline is not None:
            self.train_base("monolithic")
        self.train_classifier()
        for name in self.sample_sets():
            self.sample(name)
        write_report(self)
