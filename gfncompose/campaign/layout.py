"""Where everything of a campaign lives: every path and fingerprint of its folder, in one place.

Every artifact lives in a folder named by the hash of everything that determines it
(:meth:`~gfncompose.campaign.config.Campaign.fingerprint`), so a rerun reuses what is done,
resumes what was interrupted (checkpoints are atomic) and never mixes results of different
configurations::

    OUTPUT/bases/NAME-HASH/{checkpoint.pt, result.json}     one per base, and the baseline
    OUTPUT/classifier-HASH/{checkpoint.pt, result.json}
    OUTPUT/samples/NAME.csv, NAME.json                      one per sample set
    OUTPUT/samples/NAME.chunks/HASH-INDEX.csv               finished chunks of a set in progress
    OUTPUT/summary.csv, summary.json
    OUTPUT/report/                                          metrics, figures
    OUTPUT/campaign.log
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..checkpoint import atomic_write
from .config import BASELINE, Campaign


class Artifact(StrEnum):
    """The kinds of trained artifact of a campaign, as :meth:`Campaign.fingerprint` keys them."""

    BASE = "base"
    BASELINE = "baseline"
    CLASSIFIER = "classifier"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """``payload`` as indented JSON, written atomically."""
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode()))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``, or ``None`` when there is none yet."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class CampaignLayout:
    """The folder of ``campaign``: ``campaign.output`` and everything under it."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.root = campaign.output

    def base_key(self, name: str) -> str:
        """The fingerprint key of base ``name`` (or of the :data:`BASELINE`)."""
        return Artifact.BASELINE if name == BASELINE else f"{Artifact.BASE}:{name}"

    def base_dir(self, name: str) -> Path:
        """Folder of base ``name``'s checkpoint and result."""
        return self.root / "bases" / f"{name}-{self.campaign.fingerprint(self.base_key(name))}"

    def classifier_dir(self) -> Path:
        """Folder of the classifier's checkpoint and result."""
        return self.root / f"classifier-{self.campaign.fingerprint(Artifact.CLASSIFIER)}"

    @staticmethod
    def checkpoint(folder: Path) -> Path:
        """The checkpoint of a trained artifact's folder."""
        return folder / "checkpoint.pt"

    @staticmethod
    def result(folder: Path) -> Path:
        """The result (training cost, final loss) of a trained artifact's folder."""
        return folder / "result.json"

    def samples_csv(self, name: str) -> Path:
        """The table of sample set ``name``."""
        return self.root / "samples" / f"{name}.csv"

    def samples_meta(self, name: str) -> Path:
        """Count, time and fingerprint of sample set ``name``."""
        return self.root / "samples" / f"{name}.json"

    def chunk_csv(self, name: str, fingerprint: str, index: int) -> Path:
        """Chunk ``index`` of sample set ``name`` as sampled under ``fingerprint``."""
        return self.root / "samples" / f"{name}.chunks" / f"{fingerprint}-{index:05d}.csv"

    def samples_fingerprint(self, name: str, label: str, count: int, chunk: int) -> str:
        """Everything that determines sample set ``name``: the models it samples from, its
        composition, size, chunk size and the guidance mode of a composition."""
        if name == BASELINE:
            return self.campaign.fingerprint(Artifact.BASELINE, label, count, chunk)
        mode = self.campaign.mode if name in self.campaign.compositions else None
        return self.campaign.fingerprint(Artifact.CLASSIFIER, label, count, chunk, mode)

    @property
    def summary_csv(self) -> Path:
        return self.root / "summary.csv"

    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def log_file(self) -> Path:
        return self.root / "campaign.log"
