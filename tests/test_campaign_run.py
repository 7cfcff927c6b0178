"""``gfncompose run``: every artifact, reuse of finished work, exact resume after ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import qed_sa_campaign, write_campaign

from gfncompose.cli import main

TINY = qed_sa_campaign(
    """
[training]
steps = {steps}
batch_size = 8
beta = 4.0
hidden = 32
num_layers = 1
checkpoint_every = 5

[classifier]
steps = 10
batch_size = 8
hidden = 32
num_layers = 1
checkpoint_every = 5

[sampling]
batch_size = 16
base_samples = 24

[compositions.both]
expr = "harmonic_mean(qed, sa)"
samples = 24

[compositions.qed_not_sa]
expr = "contrast(qed, sa, alpha=0.2)"
samples = 24

[baseline]
rewards = ["qed", "sa"]

[report.thresholds]
qed = 0.5
sa = 0.7
""",
    seed=3,
    environment="max_fragments = 2",
)


def write_tiny_campaign(folder, steps: int = 10):
    return write_campaign(folder, TINY.format(steps=steps))


def run(path, *extra: str) -> int:
    return main(["run", str(path), "--quiet", "--output", str(path.parent / "out"), *extra])


def test_run_writes_csvs_summary_and_plots_and_a_rerun_reuses_everything(tmp_path, caplog):
    path = write_tiny_campaign(tmp_path)
    assert run(path) == 0
    out = tmp_path / "out"
    sets = ["qed", "sa", "both", "qed_not_sa", "monolithic"]
    for name in sets:
        table = pd.read_csv(out / "samples" / f"{name}.csv", keep_default_na=False)
        assert len(table) == 24
        assert list(table.columns) == [
            "smiles",
            "composition",
            "qed",
            "sa",
            "posterior_qed",
            "posterior_sa",
            "valid",
            "scaffold",
        ]
        assert table["valid"].all()
        assert table[["qed", "sa"]].ge(0).all().all() and table[["qed", "sa"]].le(1).all().all()
        posterior = table[["posterior_qed", "posterior_sa"]].sum(axis=1)
        assert (posterior - 1).abs().max() < 1e-5
    assert pd.read_csv(out / "samples" / "both.csv")["composition"][0] == (
        "harmonic_mean(qed, sa, alpha=0.5)"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["sets"]) == sets
    both = summary["sets"]["both"]
    cells = [both[f"qed={a},sa={b}"] for a in ("high", "low") for b in ("high", "low")]
    assert abs(sum(cells) - 1) < 1e-9
    assert both["composition"] == "harmonic_mean(qed, sa, alpha=0.5)"
    assert set(summary["training"]) == {"qed", "sa", "monolithic", "classifier"}
    assert len(pd.read_csv(out / "summary.csv")) == len(sets)
    plots = list((out / "report").glob("*.png"))
    assert plots and all(p.stat().st_size > 0 for p in plots)

    checkpoints = {p: p.stat().st_mtime_ns for p in out.rglob("checkpoint.pt")}
    samples = {p: p.read_bytes() for p in (out / "samples").glob("*.csv")}
    caplog.clear()
    with caplog.at_level("INFO", logger="gfncompose.campaign"):
        assert run(path) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in checkpoints.items())
    assert all(p.read_bytes() == b for p, b in samples.items())
    assert "trajectory balance" not in caplog.text
    assert caplog.text.count("reusing") >= len(sets)


def test_a_changed_base_is_retrained_and_the_old_one_kept(tmp_path):
    path = write_tiny_campaign(tmp_path)
    assert run(path) == 0
    text = path.read_text().replace(
        '[bases.sa]\nrewards = ["sa"]', '[bases.sa]\nrewards = ["sa"]\nbeta = 2.0'
    )
    path.write_text(text)
    assert run(path) == 0
    assert len(list((tmp_path / "out" / "bases").glob("sa-*"))) == 2
    assert len(list((tmp_path / "out" / "bases").glob("qed-*"))) == 1


def test_bad_campaign_fails_before_training_with_the_key_path(tmp_path, capsys):
    path = write_tiny_campaign(tmp_path)
    path.write_text(
        path.read_text().replace(
            'expr = "harmonic_mean(qed, sa)"', 'expr = "harmonic_mean(qed, logp)"'
        )
    )
    assert run(path) == 2
    err = capsys.readouterr().err
    assert "[compositions.both] expr: base 'logp' is not defined in [bases]" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "bases").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_run_killed_during_training_resumes_to_the_same_results(tmp_path):
    """``kill -9`` mid-way through the first base, rerun: the same CSVs, byte for byte, as an
    uninterrupted run with the same seed (checkpoints restore weights, optimiser and RNG)."""
    reference = write_tiny_campaign(tmp_path / "reference", steps=40)
    assert run(reference) == 0

    path = write_tiny_campaign(tmp_path / "killed", steps=40)
    out = path.parent / "out"
    argv = ["run", str(path), "--quiet", "--output", str(out)]
    code = f"from gfncompose.cli import main; main({argv!r})"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    deadline = time.monotonic() + 300
    checkpoint = None
    while time.monotonic() < deadline and process.poll() is None:
        found = list((out / "bases").glob("qed-*/checkpoint.pt")) if out.exists() else []
        if found:
            checkpoint = found[0]
            break
        time.sleep(0.05)
    assert checkpoint is not None, "the run never wrote a checkpoint"
    process.send_signal(signal.SIGKILL)
    process.wait()
    step = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < step < 40, f"killed too late (step {step}); the test needs a mid-training kill"
    assert not (checkpoint.parent / "result.json").exists()

    assert run(path) == 0
    for csv in sorted((tmp_path / "reference" / "out" / "samples").glob("*.csv")):
        assert (out / "samples" / csv.name).read_bytes() == csv.read_bytes(), csv.name
