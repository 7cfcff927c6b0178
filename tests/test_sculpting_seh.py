"""The paper's molecule experiment (``gfncompose run sculpting-seh``) end to end, at a tiny budget.

The full-size numbers come from ``benchmarks/sculpting_seh.py``; this test proves that one
command runs every stage on the published files and reports the paper's 8 high/low cells.
"""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest
from conftest import SHARED_DATA

from gfncompose.cli import main

PUBLISHED = {
    "blocks_PDB_105.json": SHARED_DATA / "blocks_PDB_105.json",
    "best_params.pkl.gz": SHARED_DATA / "seh_proxy_bengio2021.pkl.gz",
}
CELLS = [f"seh={a},sa={b},qed={c}" for a, b, c in itertools.product(("high", "low"), repeat=3)]


@pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason="../shared/data (the published fragments and sEH weights) is absent",
)
def test_the_paper_experiment_runs_from_one_command_and_reports_the_eight_cells(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    for name, source in PUBLISHED.items():  # the user's copies of the published files
        (tmp_path / name).symlink_to(source)
    out = tmp_path / "run"
    # budget 0.0005: 10 steps of 64 trajectories per base, 8 classifier steps, 2 molecules per set
    assert main(["run", "sculpting-seh", "--budget", "0.0005", "--quiet", "-o", str(out)]) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["training"]) == {"seh", "sa", "qed", "monolithic", "classifier"}
    assert {"seh_sa_qed", "seh_and_sa", "seh_not_sa_05", "monolithic"} <= set(summary["sets"])
    for name, row in summary["sets"].items():
        fractions = [row[cell] for cell in CELLS]
        assert sum(fractions) == pytest.approx(1.0), name
    molecules = pd.read_csv(out / "samples" / "seh_sa_qed.csv", keep_default_na=False)
    assert {"smiles", "seh", "sa", "qed"} <= set(molecules.columns)
    assert molecules["seh"].between(1e-4, 100).all()  # clip(proxy / 8, 1e-4, 100)
    assert (out / "report" / "density_seh_sa.png").is_file()


def test_missing_published_files_are_one_error_naming_each_before_any_work(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "sculpting-seh", "--budget", "0.0005", "-o", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "blocks_PDB_105.json" in error and "best_params.pkl.gz" in error
    assert "Traceback" not in error
    assert list(tmp_path.iterdir()) == []
