"""Campaign files: one TOML file describes a whole composed reward campaign.

Read with :func:`load_campaign`, which checks everything before anything trains and
reports each problem with its key path (``[bases.qed] steps: expected an integer``).
The format is documented in ``data/campaign.toml``, the default campaign. File paths
in a campaign (vocabulary, proxy models) are relative to the campaign file.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..classifier import LAYOUT, Classifier
from ..composition import Composition
from ..errors import UserError
from ..guided import DEFAULT_MODE, GUIDANCE_MODES, GuidanceMode
from ..metrics import RADIUS
from ..policy import GFlowNet
from ..training import ClassifierConfig, TrainConfig
from .expressions import parse_composition

_REQUIRED = object()

FILE_REWARDS = ("proxy", "seh")
"""Reward kinds whose ``path`` names a file: relative to the campaign file, and hashed into
the fingerprints of what depends on it."""

BASELINE = "monolithic"
"""Name of the baseline: one GFlowNet trained on the product of the rewards, a base and a
sample set like the others but outside every composition."""

ENVIRONMENTS = {
    "fragments": {"max_fragments": int, "vocabulary": str},
    "atoms": {"max_atoms": int, "atoms": list, "ring_sizes": list},
}
"""Environment kinds and the parameters a campaign may set (all optional)."""


def _keys(config: type, model: type, excluded: tuple[str, ...]) -> dict[str, type]:
    """Campaign keys and their types: the fields of a training ``config`` dataclass and the
    size parameters of the ``model``'s constructor (its defaults are the campaign's)."""
    hints = typing.get_type_hints(config)
    keys = {f.name: hints[f.name] for f in fields(config) if f.name not in excluded}
    signature = inspect.signature(model.__init__)
    for name, parameter in signature.parameters.items():
        if parameter.default is not inspect.Parameter.empty:
            keys[name] = type(parameter.default)
    return {k: float if v == float | None else v for k, v in keys.items()}


_TRAINING_KEYS = _keys(TrainConfig, GFlowNet, excluded=("seed",))
"""Keys of ``[training]`` (defaults for every base) and of each ``[bases.NAME]``."""

ADDED_TRAINING_KEYS = {"sampling_processes": 0}
"""Training keys (of ``[training]``, the bases and ``[classifier]``) added after campaign
folders existed, with the value at which they compute what those folders hold: at that value
a key stays out of the fingerprint, so the folders' bases and classifier are reused instead
of trained again."""

_CLASSIFIER_KEYS = _keys(ClassifierConfig, Classifier, excluded=("seed",))
"""Keys of ``[classifier]``."""

_PROBABILITIES = {"epsilon": "[0, 1)", "ema_rate": "(0, 1)", "ramp": "(0, 1]", "decay": "[0, 1]"}
"""Keys that are probabilities or fractions, with their range."""

_COUNTS = {"sampling_processes"}
"""Keys that may be 0; every other number is positive."""

DEFAULT_THRESHOLD = 0.5
"""High/low split of a reward without a ``[report.thresholds]`` entry (rewards lie in (0, 1])."""


@dataclass(frozen=True)
class BaseSpec:
    """One base GFlowNet: trained on the product of ``rewards`` (labels of ``[rewards]``)."""

    name: str
    rewards: tuple[str, ...]
    train: TrainConfig
    hidden: int
    num_layers: int


@dataclass(frozen=True)
class ClassifierSpec:
    """The classifier over the campaign's bases."""

    train: ClassifierConfig
    n_observations: int
    hidden: int
    num_layers: int
    num_atoms: int


@dataclass(frozen=True)
class CompositionSpec:
    """A composition to sample: ``samples`` molecules written to ``samples/NAME.csv``."""

    name: str
    composition: Composition
    samples: int


@dataclass(frozen=True)
class Resources:
    """What one Ray task of a stage asks of a node: CPUs and GPUs (fractions allowed)."""

    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class ClusterSpec:
    """The Ray cluster a campaign runs on (``[cluster]``, or ``--ray ADDRESS``): its address
    (``"auto"``: the cluster this machine belongs to) and the resources of each task kind.
    Where work runs never changes what it computes, so none of this enters a fingerprint."""

    address: str
    base: Resources = Resources()
    classifier: Resources = Resources()
    sampling: Resources = Resources()


@dataclass(frozen=True)
class ReportSpec:
    """``[report]`` beyond the thresholds: ``mode_thresholds`` (``[report.mode_thresholds]``,
    the reward at or above which a molecule can be a mode, for the rewards that set one;
    the others use their threshold), the Morgan radius of the earth mover's distances
    (``emd_radius``; the paper's is 3) and the two rewards of the density figure
    (``density``; default the first two rewards, none with fewer)."""

    mode_thresholds: dict[str, float] = field(default_factory=dict)
    emd_radius: int = RADIUS
    density: tuple[str, str] | None = None


@dataclass
class Campaign:
    """A validated campaign file (see the module docstring)."""

    path: Path | None
    seed: int
    output: Path
    device: str
    environment: dict[str, Any]
    rewards: dict[str, dict[str, Any]]
    bases: dict[str, BaseSpec]
    classifier: ClassifierSpec
    mode: GuidanceMode
    batch_size: int
    base_samples: int
    compositions: dict[str, CompositionSpec]
    thresholds: dict[str, float]
    baseline: BaseSpec | None = None
    sampling_processes: int = 0
    budget: float = 1.0
    file_hashes: dict[str, str] = field(default_factory=dict)
    cluster: ClusterSpec | None = None
    report: ReportSpec = field(default_factory=ReportSpec)

    def fingerprint(self, what: str, *extra: Any) -> str:
        """A short hash of everything that determines an artifact; equal hashes mean the
        artifact can be reused. ``what``: ``"base:NAME"``, ``"baseline"`` or ``"classifier"``."""
        env = {"environment": self.environment, "seed": self.seed}
        if what == "classifier":
            parts = [self.fingerprint(f"base:{n}") for n in self.bases]
            payload = {**env, "bases": parts, "classifier": asdict(self.classifier)}
            payload["layout"] = LAYOUT
            train = payload["classifier"]["train"]
        else:
            base = self.baseline if what == "baseline" else self.bases[what.split(":", 1)[1]]
            rewards = {label: self.rewards[label] for label in base.rewards}
            payload = {**env, "base": asdict(base), "rewards": rewards}
            train = payload["base"]["train"]
        for key, value in ADDED_TRAINING_KEYS.items():
            if train[key] == value:
                del train[key]
        payload["extra"] = [str(e) for e in extra]
        text = json.dumps(self._by_content(payload), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def _by_content(self, value: Any) -> Any:
        """``value`` with every input file's path replaced by its content hash, so that a
        campaign whose files move (another folder, another machine) reuses its work."""
        if isinstance(value, Mapping):
            return {k: self._by_content(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._by_content(v) for v in value]
        if isinstance(value, str) and value in self.file_hashes:
            return f"sha256:{self.file_hashes[value]}"
        return value


def load_campaign(
    path: str | Path | None = None,
    budget: float = 1.0,
    output: str | Path | None = None,
    device: str | None = None,
    ray: str | None = None,
) -> Campaign:
    """Read and validate a campaign file, or a built-in campaign by name (default: the
    shipped ``data/campaign.toml``; see :data:`BUILTIN_CAMPAIGNS`).

    ``budget`` scales every training budget (steps) and sample count, e.g. 10 on a
    GPU; ``output`` and ``device`` override the file's, ``ray`` the address of its
    ``[cluster]`` (with the file's resources, or one CPU per task). Raises ``UserError``
    naming the file and key path of the first problem.
    """
    if path is None or (str(path) in BUILTIN_CAMPAIGNS and not Path(path).is_file()):
        builtin = BUILTIN_CAMPAIGNS[str(path or "default")]
        text, source, root = builtin.text(), f"{builtin.file} (built-in)", builtin.root()
        path = None
    else:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"campaign file {path} does not exist")
        text, source, root = path.read_text(encoding="utf-8"), str(path), path.resolve().parent
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{source}: not valid TOML ({error})") from None
    if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
        raise UserError(f"--budget must be a positive number, got {budget}")
    campaign = _Parser(source, root, budget).campaign(data)
    campaign.path = path
    if output is not None:
        campaign.output = Path(output)
    if device is not None:
        campaign.device = device
    if ray is not None:
        cluster = campaign.cluster or ClusterSpec(ray)
        campaign.cluster = replace(cluster, address=ray)
    return campaign


@dataclass(frozen=True)
class BuiltinCampaign:
    """A campaign shipped in ``data/``, run by name. Its relative paths name files in the
    current directory: ``requires`` maps each to where the literature obtains it."""

    file: str
    requires: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        import importlib.resources

        return importlib.resources.files("gfncompose.data").joinpath(self.file).read_text()

    def root(self) -> Path:
        """The folder its relative paths refer to, once every required file is there."""
        missing = [f"{name} ({source})" for name, source in self.requires.items()
                   if not Path(name).is_file()]  # fmt: skip
        if missing:
            raise UserError(
                f"the built-in campaign {self.file} needs, in the current directory "
                f"{Path.cwd()}: {'; '.join(missing)}. gfncompose does not ship or download them"
            )
        return Path.cwd()


BUILTIN_CAMPAIGNS = {
    "default": BuiltinCampaign("campaign.toml"),
    "sculpting-seh": BuiltinCampaign(
        "sculpting_seh.toml",
        {
            "blocks_PDB_105.json": "the 105 fragments of Bengio et al. 2021: github.com/GFNOrg/"
            "gflownet, mols/data/blocks_PDB_105.json",
            "best_params.pkl.gz": "the published sEH proxy of Bengio et al. 2021: github.com/"
            "GFNOrg/gflownet, mols/data/pretrained_proxy/best_params.pkl.gz",
        },
    ),
}
"""Campaigns the CLI knows by name: ``gfncompose run NAME`` (``default`` without a name)."""


class _Table:
    """A TOML table being read: typed lookups with key paths, unknown keys rejected."""

    def __init__(self, data: Any, where: str, source: str):
        self.where, self.source = where, source
        if not isinstance(data, Mapping):
            raise self.error(f"expected a table, got {data!r}")
        self.data, self.used = dict(data), set()

    def error(self, message: str, key: str | None = None) -> UserError:
        location = f"[{self.where}]" if self.where else "top level"
        if key is not None:
            location += f" {key}"
        return UserError(f"{self.source}: {location}: {message}")

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error("missing required key", key)
            return default
        value = self.data[key]
        ok = {
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, int | float) and not isinstance(value, bool),
            str: isinstance(value, str),
            list: isinstance(value, list),
            dict: isinstance(value, Mapping),
        }[kind]
        if not ok:
            names = {int: "an integer", float: "a number", str: "a string", list: "a list"}
            raise self.error(f"expected {names.get(kind, 'a table')}, got {value!r}", key)
        return float(value) if kind is float else value

    def table(self, key: str, required: bool = False) -> _Table:
        where = f"{self.where}.{key}" if self.where else key
        if key not in self.data and not required:
            self.used.add(key)
            return _Table({}, where, self.source)
        return _Table(self.get(key, dict), where, self.source)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            valid = ", ".join(sorted(self.used)) or "none"
            raise self.error(f"unknown key; valid keys: {valid}", unknown[0])


class _Parser:
    def __init__(self, source: str, root: Path | None, budget: float):
        self.source, self.root, self.budget = source, root, budget
        self.file_hashes: dict[str, str] = {}

    def scaled(self, value: int) -> int:
        return max(1, round(value * self.budget))

    def positive(self, table: _Table, key: str, value: float) -> None:
        if not value > 0:
            raise table.error(f"must be positive, got {value}", key)

    def count(self, table: _Table, key: str, value: int) -> None:
        if value < 0:
            raise table.error(f"must be 0 or more, got {value}", key)

    def file(self, table: _Table, key: str, value: str, hint: str = "") -> str:
        """A file path relative to the campaign file; its content hash joins the fingerprint.
        ``hint``: what to tell a user whose file is missing."""
        path = Path(value)
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        if not path.is_file():
            raise table.error(f"file {path} does not exist{hint}", key)
        self.file_hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return str(path)

    def campaign(self, data: Mapping[str, Any]) -> Campaign:
        top = _Table(data, "", self.source)
        seed = top.get("seed", int, 0)
        output = Path(top.get("output", str, "runs/campaign"))
        device = top.get("device", str, "cpu")
        environment = self.environment(top.table("environment", required=True))
        rewards = self.rewards(top.table("rewards", required=True))
        defaults = self.numbers(top.table("training"), _TRAINING_KEYS, {})
        bases_table = top.table("bases", required=True)
        bases = {
            name: self.base(bases_table.table(name), name, defaults, rewards, seed)
            for name in list(bases_table.data)
        }
        bases_table.done()
        if len(bases) < 2:
            raise bases_table.error(f"a campaign needs at least two bases, got {list(bases)}")
        classifier = self.classifier(top.table("classifier"), seed)
        sampling = top.table("sampling")
        mode = sampling.get("mode", str, DEFAULT_MODE)
        if mode not in GUIDANCE_MODES:
            raise sampling.error(f"must be one of {GUIDANCE_MODES}, got {mode!r}", "mode")
        batch_size = sampling.get("batch_size", int, 256)
        self.positive(sampling, "batch_size", batch_size)
        base_samples = sampling.get("base_samples", int, 1000)
        self.positive(sampling, "base_samples", base_samples)
        processes = sampling.get("processes", int, 0)
        self.count(sampling, "processes", processes)
        sampling.done()
        compositions = self.compositions(
            top.table("compositions", required=True), bases, self.scaled(base_samples)
        )
        thresholds, report = self.report(top.table("report"), rewards)
        baseline_table = top.table("baseline")
        baseline = None
        if baseline_table.data:
            baseline = self.base(baseline_table, BASELINE, defaults, rewards, seed)
        cluster = self.cluster(top.table("cluster"))
        top.done()
        return Campaign(
            path=None,
            seed=seed,
            output=output,
            device=device,
            environment=environment,
            rewards=rewards,
            bases=bases,
            classifier=classifier,
            mode=mode,
            batch_size=batch_size,
            base_samples=self.scaled(base_samples),
            compositions=compositions,
            thresholds=thresholds,
            baseline=baseline,
            sampling_processes=processes,
            budget=self.budget,
            file_hashes=self.file_hashes,
            cluster=cluster,
            report=report,
        )

    def cluster(self, table: _Table) -> ClusterSpec | None:
        if not table.data:
            return None
        address = table.get("address", str)
        kinds = {}
        for kind in ("base", "classifier", "sampling"):
            sub = table.table(kind)
            cpus, gpus = sub.get("cpus", float, 1.0), sub.get("gpus", float, 0.0)
            if cpus < 0 or gpus < 0 or cpus + gpus == 0:
                raise sub.error(f"a task needs some CPUs or GPUs, got cpus={cpus}, gpus={gpus}")
            sub.done()
            kinds[kind] = Resources(cpus, gpus)
        table.done()
        return ClusterSpec(address, **kinds)

    def environment(self, table: _Table) -> dict[str, Any]:
        kind = table.get("kind", str)
        if kind not in ENVIRONMENTS:
            raise table.error(f"unknown environment {kind!r}; use one of {list(ENVIRONMENTS)}")
        params = {"kind": kind}
        for key, kind_type in ENVIRONMENTS[kind].items():
            value = table.get(key, kind_type, None)
            if value is not None:
                params[key] = value
        if "vocabulary" in params:
            params["vocabulary"] = self.file(table, "vocabulary", params["vocabulary"])
        table.done()
        return params

    def rewards(self, table: _Table) -> dict[str, dict[str, Any]]:
        from ..rewards import make_rewards
        from ..rewards.seh import WEIGHTS_SOURCE

        hints = {"seh": f" (the published sEH proxy: the literature obtains it from "
                 f"{WEIGHTS_SOURCE}; gfncompose does not ship it)"}  # fmt: skip
        spec = {}
        for label in table.data:
            params = dict(table.get(label, dict))
            kind = params.get("kind", label)
            if kind in FILE_REWARDS and isinstance(params.get("path"), str):
                hint = hints.get(kind, "")
                params["path"] = self.file(table.table(label), "path", params["path"], hint)
            spec[label] = params
        if not spec:
            raise table.error("define at least one reward, e.g. [rewards.qed]")
        try:
            make_rewards(spec)  # validates kinds and parameters now, before any training
        except UserError as error:
            raise table.error(str(error)) from None
        return spec

    def numbers(self, table: _Table, keys: Mapping[str, type], defaults: dict[str, Any]):
        """``defaults`` updated with the ``keys`` that ``table`` sets, each checked: positive,
        0 or more for :data:`_COUNTS`, within its range for the fractions of
        :data:`_PROBABILITIES`."""
        values = dict(defaults)
        for key, kind in keys.items():
            value = table.get(key, kind, None)
            if value is None:
                continue
            values[key] = value
            if key in _COUNTS:
                self.count(table, key, value)
                continue
            if key not in _PROBABILITIES:
                self.positive(table, key, value)
                continue
            span = _PROBABILITIES[key]
            low_ok = value >= 0 if span[0] == "[" else value > 0
            high_ok = value <= 1 if span[-1] == "]" else value < 1
            if not (low_ok and high_ok):
                raise table.error(f"must lie in {span}, got {value}", key)
        return values

    @staticmethod
    def network(values: dict[str, Any], model: type) -> dict[str, Any]:
        """Pop the size parameters of ``model`` from ``values`` (its defaults where unset)."""
        signature = inspect.signature(model.__init__).parameters
        return {
            k: values.pop(k, p.default)
            for k, p in signature.items()
            if p.default is not inspect.Parameter.empty
        }

    def base(
        self,
        table: _Table,
        name: str,
        defaults: dict[str, Any],
        rewards: Mapping[str, Any],
        seed: int,
    ) -> BaseSpec:
        labels = table.get("rewards", list)
        if not labels or not all(isinstance(label, str) for label in labels):
            raise table.error(f"expected a list of reward labels, got {labels!r}", "rewards")
        for label in labels:
            if label not in rewards:
                defined = ", ".join(rewards)
                raise table.error(
                    f"reward {label!r} is not defined in [rewards] (defined: {defined})", "rewards"
                )
        values = self.numbers(table, _TRAINING_KEYS, defaults)
        table.done()
        network = self.network(values, GFlowNet)
        values["steps"] = self.scaled(values.get("steps", TrainConfig.steps))
        train = replace(TrainConfig(seed=seed), **values)
        return BaseSpec(name, tuple(labels), train, **network)

    def classifier(self, table: _Table, seed: int) -> ClassifierSpec:
        values = self.numbers(table, _CLASSIFIER_KEYS, {})
        table.done()
        network = self.network(values, Classifier)
        values["steps"] = self.scaled(values.get("steps", ClassifierConfig.steps))
        train = replace(ClassifierConfig(seed=seed), **values)
        return ClassifierSpec(train, **network)

    def compositions(
        self, table: _Table, bases: Mapping[str, BaseSpec], default_samples: int
    ) -> dict[str, CompositionSpec]:
        out = {}
        for name in list(table.data):
            if name in bases or name == BASELINE:
                raise table.error(f"{name!r} names a base; give compositions their own names", name)
            entry = table.table(name)
            expr = entry.get("expr", str)
            samples = entry.get("samples", int, None)
            if samples is not None:
                self.positive(entry, "samples", samples)
                samples = self.scaled(samples)
            entry.done()
            where = f"{self.source}: [compositions.{name}] expr"
            composition = parse_composition(expr, bases, where)
            out[name] = CompositionSpec(name, composition, samples or default_samples)
        table.done()
        if not out:
            raise table.error("define at least one composition, e.g. [compositions.both]")
        return out

    def report(
        self, table: _Table, rewards: Mapping[str, Any]
    ) -> tuple[dict[str, float], ReportSpec]:
        """``[report]``: the thresholds of every reward and the rest of the report."""
        thresholds = self.reward_numbers(table.table("thresholds"), rewards)
        mode_thresholds = self.reward_numbers(table.table("mode_thresholds"), rewards)
        emd_radius = table.get("emd_radius", int, RADIUS)
        self.positive(table, "emd_radius", emd_radius)
        density = table.get("density", list, list(rewards)[:2])
        known = [label for label in density if isinstance(label, str) and label in rewards]
        if "density" in table.data and (len(density) != 2 or len(set(known)) != 2):
            raise table.error(
                f"expected two different rewards of the campaign ({', '.join(rewards)}), "
                f"got {density!r}",
                "density",
            )
        table.done()
        thresholds = {label: thresholds.get(label, DEFAULT_THRESHOLD) for label in rewards}
        plane = tuple(density) if len(density) == 2 else None
        return thresholds, ReportSpec(mode_thresholds, emd_radius, plane)

    @staticmethod
    def reward_numbers(table: _Table, rewards: Mapping[str, Any]) -> dict[str, float]:
        """A table of numbers keyed by reward labels, e.g. ``[report.thresholds]``."""
        values = {}
        for label in list(table.data):
            if label not in rewards:
                raise table.error(f"{label!r} is not a reward of the campaign", label)
            values[label] = table.get(label, float)
        table.done()
        return values
