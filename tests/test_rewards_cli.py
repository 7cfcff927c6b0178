"""``gfncompose score`` and ``gfncompose proxy train`` end to end on small files."""

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import QED, Crippen

from gfncompose.cli import main
from gfncompose.rewards import Proxy

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC", "Cc1ccccc1", "OCCO",
          "c1ccc2ccccc2c1", "CCCCCCCC", "NCCN", "OC(=O)c1ccccc1", "CC(C)O", "c1ccncc1",
          "CCOC(=O)C", "CNC(=O)c1ccccc1", "FC(F)(F)c1ccccc1", "Clc1ccccc1Cl"]  # fmt: skip


def test_score_adds_one_column_per_reward_and_keeps_the_input(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id;SMILES;note\n" + "".join(f"{i};{s};n{i}\n" for i, s in enumerate(SMILES)))
    out = tmp_path / "out.csv"
    assert main(["score", str(source), "--rewards", "qed,sa,logp_window", "-o", str(out)]) == 0
    table = pd.read_csv(out, sep=";", dtype={"id": str})
    assert list(table.columns) == ["id", "SMILES", "note", "qed", "sa", "logp_window"]
    assert table["note"].tolist() == [f"n{i}" for i in range(len(SMILES))]
    expected = [QED.qed(Chem.MolFromSmiles(s)) for s in SMILES]
    np.testing.assert_allclose(table["qed"], expected, rtol=1e-15)


def test_score_with_config_labels(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("smiles\nc1ccccc1O\nCCO\n")
    config = tmp_path / "rewards.toml"
    config.write_text('[rewards.like_phenol]\nkind = "similarity"\nreferences = ["Oc1ccccc1"]\n'
                      "[rewards.logp]\nkind = 'logp_window'\nlo = 1.0\nhi = 2.0\n")  # fmt: skip
    out = tmp_path / "out.csv"
    assert main(["score", str(source), "--config", str(config), "-o", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["like_phenol"].tolist()[0] == 1.0 and list(table.columns)[-1] == "logp"


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("smiles\nCCO\nC1CC\n", ["--rewards", "qed"], "in.csv, line 3: invalid SMILES 'C1CC'"),
        ("smiles\nCCO\n", ["--rewards", "qed,qde"], "unknown reward 'qde'"),
        ("mol\nCCO\n", ["--rewards", "qed"], "name the SMILES column with --smiles-col"),
        ("smiles,qed\nCCO,1\n", ["--rewards", "qed"], "already has a column 'qed'"),
        ("smiles\nCCO\n", [], "give the rewards to compute"),
        ("smiles\nCCO\n", ["--rewards", "similarity"], "missing required parameter"),
    ],
)
def test_score_errors_are_one_line(tmp_path, capsys, content, args, message):
    source = tmp_path / "in.csv"
    source.write_text(content)
    assert main(["score", str(source), *args, "-o", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("gfncompose: error:")


def test_proxy_train_then_score_with_it(tmp_path, capsys):
    # A made-up assay whose target is Crippen logP: learnable, and known exactly.
    rows = [(s, "=" if i % 5 else ">", Crippen.MolLogP(Chem.MolFromSmiles(s)))
            for i, s in enumerate(SMILES * 2)]  # fmt: skip
    assay = tmp_path / "assay.csv"
    assay.write_text("SMILES\trel\tlogP\n" + "".join(f"{s}\t{r}\t{y}\n" for s, r, y in rows))
    proxy_file = tmp_path / "logp.joblib"
    args = ["proxy", "train", str(assay), "--smiles-col", "SMILES", "--target-col", "logP",
            "--relation-col", "rel", "--bits", "256", "--trees", "20", "--threshold", "1.5",
            "--scale", "1.0", "--test-fraction", "0.25", "-o", str(proxy_file)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "9 duplicate rows merged (median) into 16 molecules" in printed
    assert "7 rows with a relation other than '=' in 'rel' dropped" in printed
    assert "held-out (4 molecules; trained on 12): R²" in printed
    assert Proxy.load(proxy_file).metadata["target_col"] == "logP"

    config = tmp_path / "rewards.toml"
    config.write_text(f"[rewards.proxy]\npath = '{proxy_file}'\n")
    source = tmp_path / "in.csv"
    source.write_text("smiles\n" + "\n".join(SMILES) + "\n")
    out = tmp_path / "out.csv"
    assert main(["score", str(source), "--config", str(config), "-o", str(out)]) == 0
    values = pd.read_csv(out)["proxy"]
    assert values.between(0, 1, inclusive="neither").all()


def test_proxy_train_errors_are_one_line(tmp_path, capsys):
    assay = tmp_path / "assay.csv"
    assay.write_text("smiles,y\nCCO,1\nCCC,x\n")
    args = ["proxy", "train", str(assay), "--smiles-col", "smiles", "--target-col", "y"]
    assert main([*args, "-o", str(tmp_path / "p.joblib")]) == 2
    assert "assay.csv, line 3: column 'y' holds 'x'" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "nodir" / "p.joblib")]) == 2
    assert "no such directory" in capsys.readouterr().err
