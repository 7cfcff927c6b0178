"""Campaign files: one TOML file describes a whole composed reward campaign.

Read with :func:`load_campaign`, which checks everything before anything trains and
reports each problem with its key path (``[bases.qed] steps: expected an integer``).
The format is documented in ``data/campaign.toml``, the default campaign. File paths
in a campaign (vocabulary, proxy models) are relative to the campaign file.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..classifier_training import ClassifierConfig
from ..composition import Composition
from ..errors import UserError
from ..guided import GuidanceMode
from ..trajectory_balance import TrainConfig
from .expressions import parse_composition

_REQUIRED = object()

ENVIRONMENTS = {
    "fragments": {"max_fragments": int, "vocabulary": str},
    "atoms": {"max_atoms": int, "atoms": list, "ring_sizes": list},
}
"""Environment kinds and the parameters a campaign may set (all optional)."""

_TRAINING_KEYS = {
    "steps": int,
    "batch_size": int,
    "lr": float,
    "lr_log_Z": float,
    "beta": float,
    "epsilon": float,
    "ema_rate": float,
    "checkpoint_every": int,
    "hidden": int,
    "num_layers": int,
}
"""Keys of ``[training]`` (defaults for every base) and of each ``[bases.NAME]``."""

_CLASSIFIER_KEYS = {
    "steps": int,
    "batch_size": int,
    "lr": float,
    "ramp": float,
    "ema_rate": float,
    "checkpoint_every": int,
    "n_observations": int,
    "hidden": int,
    "num_layers": int,
    "num_atoms": int,
}
DEFAULT_THRESHOLD = 0.5
"""High/low split of a reward without a ``[report.thresholds]`` entry (rewards lie in (0, 1])."""
_NETWORK_DEFAULTS = {"hidden": 128, "num_layers": 3}
"""Network size when a campaign does not set one: fast enough for 2 CPU cores."""


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
    budget: float = 1.0
    file_hashes: dict[str, str] = field(default_factory=dict)

    def fingerprint(self, what: str, *extra: Any) -> str:
        """A short hash of everything that determines an artifact; equal hashes mean the
        artifact can be reused. ``what``: ``"base:NAME"``, ``"baseline"`` or ``"classifier"``."""
        env = {"environment": self.environment, "files": self.file_hashes, "seed": self.seed}
        if what == "classifier":
            parts = [self.fingerprint(f"base:{n}") for n in self.bases]
            payload = {**env, "bases": parts, "classifier": asdict(self.classifier)}
        else:
            base = self.baseline if what == "baseline" else self.bases[what.split(":", 1)[1]]
            rewards = {label: self.rewards[label] for label in base.rewards}
            payload = {**env, "base": asdict(base), "rewards": rewards}
        payload["extra"] = [str(e) for e in extra]
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_campaign(
    path: str | Path | None = None,
    budget: float = 1.0,
    output: str | Path | None = None,
    device: str | None = None,
) -> Campaign:
    """Read and validate a campaign file (default: the shipped ``data/campaign.toml``).

    ``budget`` scales every training budget (steps) and sample count, e.g. 10 on a
    GPU; ``output`` and ``device`` override the file's. Raises ``UserError`` naming
    the file and key path of the first problem.
    """
    if path is None:
        text, source, root = _default_text(), "campaign.toml (built-in)", None
    else:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"campaign file {path} does not exist")
        text, source, root = path.read_text(encoding="utf-8"), str(path), path.parent
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
    return campaign


def _default_text() -> str:
    import importlib.resources

    return importlib.resources.files("gfncompose.data").joinpath("campaign.toml").read_text()


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

    def file(self, table: _Table, key: str, value: str) -> str:
        """A file path relative to the campaign file; its content hash joins the fingerprint."""
        path = Path(value)
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        if not path.is_file():
            raise table.error(f"file {path} does not exist", key)
        self.file_hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return str(path)

    def campaign(self, data: Mapping[str, Any]) -> Campaign:
        top = _Table(data, "", self.source)
        seed = top.get("seed", int, 0)
        output = Path(top.get("output", str, "runs/campaign"))
        device = top.get("device", str, "cpu")
        environment = self.environment(top.table("environment", required=True))
        rewards = self.rewards(top.table("rewards", required=True))
        defaults = self.training(top.table("training"), {})
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
        mode = sampling.get("mode", str, "action_head")
        if mode not in ("action_head", "successors"):
            raise sampling.error(f"must be 'action_head' or 'successors', got {mode!r}", "mode")
        batch_size = sampling.get("batch_size", int, 256)
        self.positive(sampling, "batch_size", batch_size)
        base_samples = sampling.get("base_samples", int, 1000)
        self.positive(sampling, "base_samples", base_samples)
        sampling.done()
        compositions = self.compositions(
            top.table("compositions", required=True), bases, self.scaled(base_samples)
        )
        thresholds = self.thresholds(top.table("report"), rewards)
        baseline_table = top.table("baseline")
        baseline = None
        if baseline_table.data:
            baseline = self.base(baseline_table, "monolithic", defaults, rewards, seed)
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
            budget=self.budget,
            file_hashes=self.file_hashes,
        )

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

        spec = {}
        for label in table.data:
            params = dict(table.get(label, dict))
            if params.get("kind", label) == "proxy" and isinstance(params.get("path"), str):
                params["path"] = self.file(table.table(label), "path", params["path"])
            spec[label] = params
        if not spec:
            raise table.error("define at least one reward, e.g. [rewards.qed]")
        try:
            make_rewards(spec)  # validates kinds and parameters now, before any training
        except UserError as error:
            raise table.error(str(error)) from None
        return spec

    def training(self, table: _Table, defaults: dict[str, Any]) -> dict[str, Any]:
        values = dict(defaults)
        for key, kind in _TRAINING_KEYS.items():
            value = table.get(key, kind, None)
            if value is not None:
                values[key] = value
                if key not in ("epsilon", "ema_rate"):
                    self.positive(table, key, values[key])
        if not 0 <= values.get("epsilon", 0.0) < 1:
            raise table.error(f"must lie in [0, 1), got {values['epsilon']}", "epsilon")
        if "ema_rate" in values and not 0 < values["ema_rate"] < 1:
            raise table.error(f"must lie in (0, 1), got {values['ema_rate']}", "ema_rate")
        return values

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
        values = self.training(table, defaults)
        table.done()
        network = {k: values.pop(k, _NETWORK_DEFAULTS[k]) for k in _NETWORK_DEFAULTS}
        values["steps"] = self.scaled(values.get("steps", TrainConfig.steps))
        train = replace(TrainConfig(seed=seed), **values)
        return BaseSpec(name, tuple(labels), train, **network)

    def classifier(self, table: _Table, seed: int) -> ClassifierSpec:
        values = {}
        for key, kind in _CLASSIFIER_KEYS.items():
            value = table.get(key, kind, None)
            if value is not None:
                values[key] = value
                self.positive(table, key, value)
        table.done()
        if not 0 < values.get("ema_rate", 0.5) < 1:
            raise table.error(f"must lie in (0, 1), got {values['ema_rate']}", "ema_rate")
        if not 0 < values.get("ramp", 0.5) <= 1:
            raise table.error(f"must lie in (0, 1], got {values['ramp']}", "ramp")
        network = {k: values.pop(k, _NETWORK_DEFAULTS[k]) for k in _NETWORK_DEFAULTS}
        n_observations = values.pop("n_observations", 2)
        num_atoms = values.pop("num_atoms", 8)
        values["steps"] = self.scaled(values.get("steps", ClassifierConfig.steps))
        train = replace(ClassifierConfig(seed=seed), **values)
        return ClassifierSpec(train, n_observations, num_atoms=num_atoms, **network)

    def compositions(
        self, table: _Table, bases: Mapping[str, BaseSpec], default_samples: int
    ) -> dict[str, CompositionSpec]:
        out = {}
        for name in list(table.data):
            if name in bases or name == "monolithic":
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

    def thresholds(self, table: _Table, rewards: Mapping[str, Any]) -> dict[str, float]:
        given = table.table("thresholds")
        thresholds = {}
        for label in list(given.data):
            if label not in rewards:
                raise given.error(f"{label!r} is not a reward of the campaign", label)
            thresholds[label] = given.get(label, float)
        given.done()
        table.done()
        return {label: thresholds.get(label, DEFAULT_THRESHOLD) for label in rewards}
