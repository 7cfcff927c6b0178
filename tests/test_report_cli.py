"""``gfncompose report`` end to end on small sample tables."""

import json

import pandas as pd
import pytest

from gfncompose.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Two made-up sample sets: drug-like molecules with qed/sa columns as `gfncompose score`
# writes them; the composition repeats aspirin and has one invalid SMILES.
BASE = """smiles,qed,sa
CC(=O)Oc1ccccc1C(=O)O,0.55,0.80
CC(=O)Nc1ccc(O)cc1,0.60,0.90
CC(C)Cc1ccc(cc1)C(C)C(=O)O,0.82,0.85
COc1ccc2cc(ccc2c1)C(C)C(=O)O,0.89,0.80
Cn1cnc2c1c(=O)n(C)c(=O)n2C,0.54,0.75
CCN(CC)CC,0.45,0.95
"""
COMPOSITION = """smiles,qed,sa
CC(=O)Oc1ccccc1C(=O)O,0.55,0.80
CC(=O)Oc1ccccc1C(=O)O,0.55,0.80
c1ccc2ccccc2c1,0.44,0.90
OC(=O)c1ccccc1,0.61,0.95
C1CC,0.10,0.10
"""


@pytest.fixture
def samples(tmp_path):
    (tmp_path / "base.csv").write_text(BASE)
    (tmp_path / "mix.csv").write_text(COMPOSITION)
    (tmp_path / "reference.csv").write_text("name,SMILES\naspirin,CC(=O)Oc1ccccc1C(=O)O\n")
    return tmp_path


def test_report_writes_one_row_per_set_and_the_figures(samples):
    out = samples / "report"
    thresholds = ["--threshold", "qed=0.5", "--threshold", "sa=0.85"]
    sets = [str(samples / "base.csv"), f"harmonic={samples / 'mix.csv'}"]
    reference = ["--reference", str(samples / "reference.csv")]
    assert main(["report", *sets, *reference, *thresholds, "--top-k", "3", "-o", str(out)]) == 0

    table = pd.read_csv(out / "metrics.csv")
    assert table["set"].tolist() == ["base", "harmonic"]
    harmonic = table.set_index("set").loc["harmonic"]
    assert harmonic["samples"] == 5 and harmonic["validity"] == 4 / 5
    assert harmonic["uniqueness"] == 3 / 4 and harmonic["novelty"] == 2 / 3  # aspirin is known
    assert harmonic["top3_mean_qed"] == pytest.approx((0.61 + 0.55 + 0.44) / 3)
    # valid samples of the composition: aspirin twice (high, low), naphthalene (low, high),
    # benzoic acid (high, high)
    assert harmonic["qed=high,sa=low"] == 2 / 4 and harmonic["qed=low,sa=high"] == 1 / 4
    assert {"modes_qed", "modes_sa", "internal_diversity", "scaffold_entropy"} <= set(table)

    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["thresholds"] == {"qed": 0.5, "sa": 0.85}
    assert [row["set"] for row in report["sets"]] == ["base", "harmonic"]
    emd = pd.read_csv(out / "emd.csv", index_col="set")
    assert emd.loc["base", "base"] == 0 and emd.loc["base", "harmonic"] > 0
    assert emd.loc["base", "harmonic"] == emd.loc["harmonic", "base"]
    for name in ("chemical_space", "scaffolds", "top_molecules", "scatter_qed_sa"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_SIGNATURE


def test_undefined_metrics_are_null_and_tiny_sets_get_no_map(tmp_path):
    (tmp_path / "one.csv").write_text("smiles;qed\nCCO;0.4\n")
    assert main(["report", str(tmp_path / "one.csv"), "-o", str(tmp_path / "out")]) == 0
    # a single sample has no pairs: its internal diversity is undefined
    row = json.loads((tmp_path / "out" / "metrics.json").read_text())["sets"][0]
    assert row["internal_diversity"] is None and row["top100_mean_qed"] == 0.4
    assert not (tmp_path / "out" / "chemical_space.png").exists()
    assert (tmp_path / "out" / "top_molecules.png").is_file()


@pytest.mark.parametrize(
    ("sets", "options", "message"),
    [
        (["absent.csv"], [], "absent.csv: no such file"),
        (["names.csv"], [], "names.csv: no 'smiles' column; the columns are 'name', 'qed'"),
        (["text.csv"], [], "text.csv, line 3: non-numeric value 'high' in score column 'qed'; "
                           "choose the score columns with --scores"),
        (["text.csv"], ["--scores", "qed"], "non-numeric value 'high' in score column 'qed'\n"),
        (["nan.csv"], [], "nan.csv, line 2: missing or NaN value in score column 'qed'"),
        (["blank.csv"], [], "blank.csv, line 3: missing or NaN value in score column 'qed'"),
        (["base.csv"], ["--threshold", "qed:0.5"], "--threshold 'qed:0.5': expected NAME=VALUE"),
        (["base.csv"], ["--threshold", "qed=high"], "--threshold 'qed=high': expected NAME=VALUE"),
        (["base.csv"], ["--threshold", "logp=2"], "--threshold logp: no score column 'logp'"),
        (["base.csv"], ["--scores", "qed,logp"], "base.csv: no score column 'logp'"),
        (["base.csv", "x=mix.csv", "base=mix.csv"], [], "set label 'base' given twice"),
    ],
)  # fmt: skip
def test_report_errors_name_the_problem(samples, monkeypatch, capsys, sets, options, message):
    (samples / "names.csv").write_text("name,qed\naspirin,0.5\n")
    (samples / "text.csv").write_text("smiles,qed\nCCO,0.5\nCCN,high\n")
    (samples / "nan.csv").write_text("smiles,qed\nCCO,NaN\n")
    (samples / "blank.csv").write_text("smiles,qed\nCCO,0.5\nCCN,\n")
    monkeypatch.chdir(samples)
    assert main(["report", *sets, *options, "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("gfncompose: error:")
