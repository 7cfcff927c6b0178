"""The campaign report on hand-made sample tables: ``[report]`` options, the density figure
and the reweighted estimates of what each composition's samples should show."""

import json
from importlib.resources import files
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import qed_sa_campaign, write_campaign

from gfncompose.campaign.config import load_campaign
from gfncompose.campaign.layout import CampaignLayout
from gfncompose.campaign.report import write_report
from gfncompose.errors import UserError
from gfncompose.metrics import MoleculeSet, earth_movers_distance, number_of_modes

COMPOSITIONS = """
[compositions.everything]
expr = "mixture(qed, sa)"
[compositions.both]
expr = "harmonic_mean(qed, sa)"
[compositions.qed_not_sa]
expr = "contrast(qed, sa)"
"""
DRUGS = pd.read_csv(files("gfncompose.data") / "drugs.csv")["smiles"].tolist()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load(tmp_path, report=""):
    path = write_campaign(tmp_path, qed_sa_campaign(f"{COMPOSITIONS}\n[report]\n{report}\n"))
    return load_campaign(path, output=tmp_path / "out")


def test_report_options_default_to_the_thresholds_radius_2_and_the_first_two_rewards(tmp_path):
    report = load(tmp_path).report
    assert (report.mode_thresholds, report.emd_radius, report.density) == ({}, 2, ("qed", "sa"))
    report = load(
        tmp_path,
        'emd_radius = 3\ndensity = ["sa", "qed"]\n[report.mode_thresholds]\nqed = 0.9',
    ).report
    assert (report.mode_thresholds, report.emd_radius, report.density) == (
        {"qed": 0.9},
        3,
        ("sa", "qed"),
    )


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ("emd_radius = 0", r"\[report\] emd_radius: must be positive, got 0"),
        ("emd_radius = 2.5", r"\[report\] emd_radius: expected an integer, got 2.5"),
        ('density = ["qed"]', r"\[report\] density: expected two different rewards of the "
                              r"campaign \(qed, sa\), got \['qed'\]"),
        ('density = ["qed", "qed"]', r"\[report\] density: expected two different rewards"),
        ('density = ["qed", "logp"]', r"\[report\] density: expected two different rewards"),
        ("[report.mode_thresholds]\nlogp = 2", r"\[report.mode_thresholds\] logp: 'logp' is "
                                               r"not a reward of the campaign"),
        ('[report.mode_thresholds]\nqed = "high"', r"\[report.mode_thresholds\] qed: expected "
                                                   r"a number, got 'high'"),
    ],
)  # fmt: skip
def test_bad_report_options_are_named(tmp_path, report, message):
    with pytest.raises(UserError, match=message):
        load(tmp_path, report)


def sample_table(smiles, qed, sa, posterior_qed, valid=None):
    n = len(smiles)
    return pd.DataFrame(
        {
            "smiles": smiles,
            "composition": "made up",
            "qed": qed,
            "sa": sa,
            "posterior_qed": np.full(n, posterior_qed),
            "posterior_sa": np.full(n, 1 - posterior_qed),
            "valid": np.ones(n, dtype=bool) if valid is None else valid,
            "scaffold": "",
        }
    )


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A campaign whose samples are written by hand: base ``qed`` (41 rows, one of them
    invalid) has posterior ``p(qed | x) = 0.8`` on every sample, base ``sa`` (40 rows)
    ``0.2``; the compositions' own samples are a few drugs."""
    campaign = load(
        tmp_path_factory.mktemp("report"),
        "emd_radius = 3\n[report.thresholds]\nqed = 0.5\nsa = 0.5\n"
        "[report.mode_thresholds]\nqed = 0.95",
    )
    rng = np.random.default_rng(0)
    qed_valid = np.ones(41, dtype=bool)
    qed_valid[7] = False
    tables = {
        "qed": sample_table(DRUGS[:41], rng.uniform(size=41), rng.uniform(size=41), 0.8, qed_valid),
        "sa": sample_table(DRUGS[41:81], rng.uniform(size=40), rng.uniform(size=40), 0.2),
    }
    for name in campaign.compositions:
        tables[name] = sample_table(DRUGS[81:86], np.linspace(0, 1, 5), np.linspace(1, 0, 5), 0.5)
    layout = CampaignLayout(campaign)
    layout.samples_csv("qed").parent.mkdir(parents=True)
    for name, table in tables.items():
        table.to_csv(layout.samples_csv(name), index=False)
    runner = SimpleNamespace(
        campaign=campaign,
        layout=layout,
        progress=False,
        sample_sets=lambda: {name: (name, len(table)) for name, table in tables.items()},
    )
    write_report(runner)
    summary = json.loads(layout.summary_json.read_text())
    return tables, summary, layout


def expected_estimates(tables, weight_qed, weight_sa):
    """Reweighted mean of qed and the qed=high,sa=high cell, and the ESS, when every
    valid sample of base qed has weight ``weight_qed / 41`` (its design weight counts the
    invalid row too) and every one of base sa ``weight_sa / 40``."""
    qed, sa = tables["qed"][tables["qed"]["valid"]], tables["sa"]
    weights = np.concatenate([np.full(40, weight_qed / 41), np.full(40, weight_sa / 40)])
    values = pd.concat([qed, sa])
    both_high = ((values["qed"] >= 0.5) & (values["sa"] >= 0.5)).to_numpy()
    return (
        float(weights @ values["qed"].to_numpy() / weights.sum()),
        float(weights @ both_high / weights.sum()),
        float(weights.sum() ** 2 / (weights**2).sum()),
    )


@pytest.mark.parametrize(
    ("name", "weight_qed", "weight_sa"),
    [
        ("everything", 1.0, 1.0),  # the mixture of all bases: the design weights alone
        ("both", 0.8 * 0.2, 0.2 * 0.8),  # p(qed | x) p(sa | x)
        ("qed_not_sa", 0.8**2, 0.2**2),  # p(qed | x)^2
    ],
)
def test_each_composition_gets_the_reweighted_base_samples(reported, name, weight_qed, weight_sa):
    tables, summary, _ = reported
    row = summary["sets"][name]
    mean_qed, both_high, ess = expected_estimates(tables, weight_qed, weight_sa)
    assert row["reweighted_mean_qed"] == pytest.approx(mean_qed, abs=1e-12)
    assert row["reweighted_qed=high,sa=high"] == pytest.approx(both_high, abs=1e-12)
    assert row["reweighted_ess"] == pytest.approx(ess, abs=1e-9)


def test_estimates_stand_beside_the_guided_values(reported):
    _, summary, layout = reported
    assert not any(key.startswith("reweighted_") for key in summary["sets"]["qed"])
    columns = list(pd.read_csv(layout.summary_csv).columns)
    for column in ("mean_qed", "mean_sa", "qed=high,sa=low"):
        assert columns[columns.index(column) + 1] == f"reweighted_{column}"
    assert "reweighted_ess" in columns


def test_the_density_figure_is_written(reported):
    _, _, layout = reported
    assert (layout.report_dir / "density_qed_sa.png").read_bytes()[:8] == PNG_SIGNATURE


def test_modes_and_distances_follow_the_report_options(reported):
    tables, summary, layout = reported
    qed = tables["qed"]
    above = qed["valid"] & (qed["qed"] >= 0.95)
    assert 0 < above.sum() < (qed["qed"] >= 0.5).sum()  # the mode threshold matters
    assert summary["sets"]["qed"]["modes_qed"] == number_of_modes(
        MoleculeSet(qed["smiles"][qed["valid"]]), qed["qed"][qed["valid"]].to_numpy(), 0.95
    )
    settings = json.loads((layout.report_dir / "metrics.json").read_text())["settings"]
    assert settings["emd_fingerprint"] == "Morgan radius 3, 2048 bits"
    assert settings["mode_thresholds"] == {"qed": 0.95, "sa": 0.5}
    emd = pd.read_csv(layout.report_dir / "emd.csv", index_col="set")
    sets = {name: MoleculeSet(table["smiles"]) for name, table in tables.items()}
    assert emd.loc["qed", "sa"] == pytest.approx(
        earth_movers_distance(sets["qed"], sets["sa"], radius=3), abs=1e-12
    )
