from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def qed_sa_campaign(
    body: str = "", *, seed: int | None = None, environment: str = "", sa_base: str = ""
) -> str:
    """The TOML text of the tests' campaign: the fragment environment, rewards ``qed`` and
    ``sa`` and a base of each, then ``body`` (the training, classifier, sampling,
    composition and report tables a test needs).

    ``seed`` is the top-level seed, ``environment`` more keys of ``[environment]`` and
    ``sa_base`` more keys of ``[bases.sa]``.
    """
    top = "" if seed is None else f"seed = {seed}\n"
    return f"""{top}
[environment]
kind = "fragments"
{environment}

[rewards.qed]
[rewards.sa]

[bases.qed]
rewards = ["qed"]
[bases.sa]
rewards = ["sa"]
{sa_base}
{body}"""


def tiny_models(training: str = "", classifier: str = "") -> str:
    """``[training]`` and ``[classifier]`` tables of the smallest models worth training (4 steps
    of networks 16 wide, 1 layer), each with the extra ``key = value`` lines given."""
    return f"""
[training]
steps = 4
batch_size = 8
hidden = 16
num_layers = 1
{training}
[classifier]
steps = 4
batch_size = 4
hidden = 16
num_layers = 1
{classifier}
"""


def write_campaign(folder: Path, text: str) -> Path:
    """Write ``text`` to ``folder/campaign.toml`` (making the folder) and return that path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "campaign.toml"
    path.write_text(text)
    return path
