"""A campaign's stages on a Ray cluster: bases, the classifier and sample chunks as Ray tasks.

Imported only when a campaign asks for a cluster (``--ray`` or ``[cluster]``): without one,
nothing imports Ray. Every task does what the serial path does, in a worker:

- a base or the classifier trains with :class:`~gfncompose.campaign.CampaignRunner` inside
  the task, so its checkpoints and results land in the campaign folder exactly as on one
  machine (the folder must be on a filesystem every node sees, as cluster storage is);
- a sample chunk is drawn with its own seed (:func:`~gfncompose.campaign.sampling.chunk_seed`)
  and its table returned to the driver, which writes it atomically as soon as it arrives.

Ray retries a task whose worker dies (``max_retries``); a task's result is a pure function of
its arguments, so a retried chunk is the same chunk, and the driver writes each chunk once.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from tqdm.auto import tqdm

from ..errors import UserError
from ..rewards import Reward, make_rewards
from ..rewards.parallel import limit_workers
from .config import Campaign, ClusterSpec, Resources
from .runner import CampaignRunner
from .sampling import Chunk, sample_chunk

TASK_RETRIES = 3
"""Times Ray reruns a task whose worker process or node died before it finished."""

CONNECT_SECONDS = 5.0
"""How long to wait for a cluster's head to accept a connection: Ray itself retries an
unreachable address for minutes before it gives up."""

LOCAL = "local"
"""The address that starts a Ray instance on this machine (all its CPUs and GPUs)."""

_RUNNERS: dict[int, CampaignRunner] = {}
"""Per worker process: the runner of each campaign it has served, so that the models of a
sample set are loaded once per worker, not once per chunk."""


_REWARDS: dict[str, dict[str, Reward]] = {}
"""Per worker process: the rewards of each reward spec it has served (models load once)."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(
            "running on a Ray cluster needs the 'ray' package: pip install 'gfncompose[ray]'"
        ) from None
    return ray


def _within_allocation(function: Callable, *args: Any) -> Any:
    """``function(*args)`` in a Ray task whose reward pools use only the task's CPUs."""
    cpus = _import_ray().get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    limit_workers(max(1, int(cpus)))
    return function(*args)


def _runner(campaign: Campaign) -> CampaignRunner:
    key = hash((str(campaign.output), campaign.fingerprint("classifier")))
    if key not in _RUNNERS:
        _RUNNERS[key] = CampaignRunner(campaign, progress=False)
    return _RUNNERS[key]


def _train_base(campaign: Campaign, name: str) -> str:
    CampaignRunner(campaign, progress=False).train_base(name)
    return socket.gethostname()


def _train_classifier(campaign: Campaign) -> str:
    CampaignRunner(campaign, progress=False).train_classifier()
    return socket.gethostname()


def _sample_chunk(campaign: Campaign, name: str, label: str, size: int, seed: int) -> Chunk:
    runner = _runner(campaign)
    policy, classifier = runner.policy(name), runner.train_classifier()
    return sample_chunk(policy, classifier, runner.rewards, label, size, seed)


def _probe(address: str) -> None:
    """A clear error at once when ``HOST:PORT`` does not accept connections."""
    host, _, port = address.rpartition(":")
    if address in (LOCAL, "auto") or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise UserError(f"cannot reach the Ray cluster at {address!r}: {error}") from None


def _score(spec: Mapping[str, Mapping[str, Any]], smiles: Sequence[str]) -> dict[str, list[float]]:
    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _REWARDS:
        _REWARDS[key] = make_rewards(spec)
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(text) for text in smiles]
    return {label: list(map(float, r.score(mols))) for label, r in _REWARDS[key].items()}


class RayCluster:
    """A connection to the Ray cluster of ``spec``, checked before any work starts: the
    ``ray`` package is there, the address answers, and some node has the resources of
    each task kind. Where Ray is already initialised in this process, that instance is
    used; the address ``"local"`` starts one on this machine."""

    def __init__(self, spec: ClusterSpec):
        self.ray = _import_ray()
        self.spec = spec
        if not self.ray.is_initialized():
            _probe(spec.address)
            address = None if spec.address == LOCAL else spec.address
            try:
                self.ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError
                raise UserError(
                    f"cannot reach the Ray cluster at {spec.address!r}: "
                    f"{type(error).__name__}: {error}"
                ) from None
        for kind in ("base", "classifier", "sampling"):
            self._check(kind, getattr(spec, kind))

    def _check(self, kind: str, resources: Resources) -> None:
        nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        if not any(
            node.get("CPU", 0) >= resources.cpus and node.get("GPU", 0) >= resources.gpus
            for node in nodes
        ):
            largest = [(node.get("CPU", 0), node.get("GPU", 0)) for node in nodes]
            raise UserError(
                f"[cluster.{kind}] asks cpus={resources.cpus}, gpus={resources.gpus} per task, "
                f"which no node of the cluster has (nodes' (CPU, GPU): {largest})"
            )

    def _remote(self, function: Callable, resources: Resources) -> Callable:
        """A function that submits ``function(*args)`` as a task with ``resources`` and
        returns its Ray object reference."""
        task = self.ray.remote(
            num_cpus=resources.cpus, num_gpus=resources.gpus, max_retries=TASK_RETRIES
        )(_within_allocation).options(name=function.__name__)  # the worker's title: ray::NAME
        return lambda *args: task.remote(function, *args)

    def train_bases(self, campaign: Campaign, names: Sequence[str]) -> None:
        """Train ``names`` concurrently, one task per base; returns when all are done."""
        task = self._remote(_train_base, self.spec.base)
        self.ray.get([task(campaign, name) for name in names])

    def train_classifier(self, campaign: Campaign) -> None:
        """Train the classifier in one task (its bases must be trained)."""
        self.ray.get(self._remote(_train_classifier, self.spec.classifier)(campaign))

    def sample_chunks(
        self,
        campaign: Campaign,
        name: str,
        label: str,
        chunks: Sequence[tuple[int, int, int]],
        done: Callable[[int, Chunk], Any],
    ) -> None:
        """Draw ``chunks`` (``(index, size, seed)`` each) of set ``name`` as concurrent tasks,
        calling ``done(index, chunk)`` in the driver as each one finishes."""
        task = self._remote(_sample_chunk, self.spec.sampling)
        pending = {task(campaign, name, label, size, seed): index for index, size, seed in chunks}
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            done(pending.pop(ready[0]), self.ray.get(ready[0]))

    def map(self, function: Callable, batches: Sequence[Any], resources: Resources) -> list[Any]:
        """``[function(b) for b in batches]``, one task per batch, in order."""
        task = self._remote(function, resources)
        return self.ray.get([task(batch) for batch in batches])

    def score(
        self,
        spec: Mapping[str, Mapping[str, Any]],
        smiles: Sequence[str],
        batch: int,
        progress: bool = True,
    ) -> dict[str, np.ndarray]:
        """Every reward of ``spec`` (as for :func:`~gfncompose.rewards.make_rewards`; file
        paths absolute) on ``smiles``, one task per ``batch`` molecules: ``{label: [N]}``."""
        task = self._remote(_score, self.spec.sampling)
        starts = range(0, len(smiles), batch)
        pending = {task(dict(spec), list(smiles[i : i + batch])): i for i in starts}
        scores = {label: np.empty(len(smiles)) for label in spec}
        with tqdm(total=len(smiles), desc="scoring on the cluster", disable=not progress) as bar:
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                start = pending.pop(ready[0])
                for label, values in self.ray.get(ready[0]).items():
                    scores[label][start : start + len(values)] = values
                bar.update(min(batch, len(smiles) - start))
        return scores
