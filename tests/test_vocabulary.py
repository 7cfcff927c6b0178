"""Fragment vocabularies: the file format, the literature's block list and the builder."""

import importlib.resources

import pandas as pd
import pytest
from conftest import SHARED_DATA, qed_sa_campaign, write_campaign
from rdkit import Chem

from gfncompose.campaign import load_campaign
from gfncompose.campaign.runner import CampaignRunner
from gfncompose.cli import main
from gfncompose.envs import Fragment, Vocabulary, default_vocabulary, read_blocks_json
from gfncompose.envs.brics import (
    VocabularyLimits,
    build_vocabulary,
    marked_fragment_smiles,
    read_molecules,
)
from gfncompose.envs.vocabulary import fragment_from_marked_smiles, read_vocabulary
from gfncompose.errors import UserError

BLOCKS = SHARED_DATA / "blocks_PDB_105.json"
DRUGS = importlib.resources.files("gfncompose.data").joinpath("drugs.csv")


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "marked, smiles, stems",
    [
        ("[*]c1ccccc1", "c1ccccc1", (0,)),
        ("[*]c1ccc([*])cc1", "c1ccccc1", (0,)),  # symmetric stems collapse to one
        ("[14*]c1ccc[nH]1", "c1cc[nH]c1", (2,)),  # BRICS isotope labels are accepted
        ("[*]n1cccc1", "c1cc[nH]c1", (3,)),  # capping an aromatic n gives [nH]
        ("C[NH2+][*]", "C[NH3+]", (1,)),
        ("[*]P(=O)O", "O=[PH2]O", (1,)),  # RDKit's valence model decides the capping H
    ],
)
def test_marked_smiles_give_the_capped_fragment_and_its_stems(marked, smiles, stems):
    fragment = fragment_from_marked_smiles(marked)
    assert (fragment.smiles, fragment.stems) == (smiles, stems)
    assert fragment_from_marked_smiles(fragment.marked_smiles) == fragment


def test_csv_round_trip(tmp_path):
    vocabulary = Vocabulary(
        [
            fragment_from_marked_smiles("[*]c1ccncc1", 7),
            fragment_from_marked_smiles("[*]C(=O)N[*]", 3),
            fragment_from_marked_smiles("[*]C1CCNCC1"),
        ]
    )
    vocabulary.write_csv(tmp_path / "v.csv")
    assert read_vocabulary(tmp_path / "v.csv") == vocabulary


@pytest.mark.parametrize(
    "rows, where, problem",
    [
        ("*C\nC1CC\n", "row 3, column 'smiles'", "not valid SMILES"),
        ("*C\nCCO\n", "row 3, column 'smiles'", "no dummy atom"),
        ("*=C\n", "row 2, column 'smiles'", "exactly one single bond"),
        ("*C.C*\n", "row 2, column 'smiles'", "one connected piece"),
        ("*C\n*c1ccccc1\nc1ccccc1*\n", "row 4", "repeats row 3"),
    ],
)
def test_bad_vocabulary_rows_raise_user_error_naming_the_place(tmp_path, rows, where, problem):
    path = write(tmp_path / "v.csv", "smiles\n" + rows)
    with pytest.raises(UserError) as error:
        read_vocabulary(path)
    assert str(path) in str(error.value)
    assert where in str(error.value) and problem in str(error.value)


def test_bad_counts_and_headers_raise_user_error(tmp_path):
    with pytest.raises(UserError, match=r"row 2, column 'count': '-1'"):
        read_vocabulary(write(tmp_path / "a.csv", "smiles,count\n*C,-1\n"))
    with pytest.raises(UserError, match="'smiles' column"):
        read_vocabulary(write(tmp_path / "b.csv", "fragment\n*C\n"))
    with pytest.raises(UserError, match="no fragments"):
        read_vocabulary(write(tmp_path / "c.csv", "smiles\n"))
    with pytest.raises(UserError, match="cannot read"):
        read_vocabulary(tmp_path / "missing.csv")


@pytest.mark.skipif(not BLOCKS.is_file(), reason="../shared/data/blocks_PDB_105.json is absent")
def test_literature_block_list_loads_as_72_fragments():
    table = pd.read_json(BLOCKS)
    assert len(table) == 105
    vocabulary = read_blocks_json(BLOCKS)
    assert len(vocabulary) == table["block_smi"].nunique() == 72
    assert all(f.stems for f in vocabulary)
    # every block whose stems have hydrogens keeps its molecule; the three written with
    # P or S in a lower valence gain the hydrogen that the bond to them replaces
    canonical = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in table["block_smi"]}
    changed = canonical - {f.smiles for f in vocabulary}
    assert changed == {"O=PO", "O=S=O", "O=P[O-]"}
    benzene = next(f for f in vocabulary if f.smiles == "c1ccccc1")
    assert benzene.stems == (0,)


def test_block_list_layout_errors_name_the_row(tmp_path):
    bad_smiles = '{"block_name":{"0":"x"},"block_smi":{"0":"C1C"},"block_r":{"0":[0]}}'
    with pytest.raises(UserError, match=r"row 0 \(x\).*not valid SMILES"):
        read_blocks_json(write(tmp_path / "a.json", bad_smiles))
    bad_stem = '{"block_name":{"0":"x"},"block_smi":{"0":"CC"},"block_r":{"0":[5]}}'
    with pytest.raises(UserError, match=r"row 0 \(x\).*stem index 5"):
        read_blocks_json(write(tmp_path / "b.json", bad_stem))
    with pytest.raises(UserError, match="expected a JSON object with columns"):
        read_blocks_json(write(tmp_path / "c.json", '{"block_smi": {}}'))
    with pytest.raises(UserError, match="not valid JSON"):
        read_blocks_json(write(tmp_path / "d.json", "{"))


@pytest.mark.skipif(not BLOCKS.is_file(), reason="../shared/data/blocks_PDB_105.json is absent")
def test_campaign_loads_the_literature_block_list_as_its_vocabulary(tmp_path):
    campaign = qed_sa_campaign(
        '[compositions.both]\nexpr = "harmonic_mean(qed, sa)"\n',
        environment=f'max_fragments = 9\nvocabulary = "{BLOCKS}"',
    )
    path = write_campaign(tmp_path, campaign)
    env = CampaignRunner(load_campaign(path), progress=False).env
    assert len(env.vocabulary) == 72 and env.max_fragments == 9
    assert env.vocabulary == read_blocks_json(BLOCKS)


@pytest.mark.skipif(not BLOCKS.is_file(), reason="../shared/data/blocks_PDB_105.json is absent")
def test_read_vocabulary_recognises_the_block_list_by_suffix_or_content(tmp_path):
    expected = read_blocks_json(BLOCKS)
    assert read_vocabulary(BLOCKS) == expected
    unsuffixed = write(tmp_path / "blocks", BLOCKS.read_text())
    assert read_vocabulary(unsuffixed) == expected


def test_malformed_json_vocabulary_is_one_user_error_naming_the_file_and_row(tmp_path):
    truncated = write(tmp_path / "a.json", '{"block_name": {"0": "x"}')
    with pytest.raises(UserError, match=r"a\.json: not valid JSON .*line 1"):
        read_vocabulary(truncated)
    bad_stems = '{"block_name":{"7":"ring"},"block_smi":{"7":"c1ccccc1"},"block_r":{"7":"0"}}'
    with pytest.raises(UserError, match=r"b\.json, row 7 \(ring\), column 'block_r'"):
        read_vocabulary(write(tmp_path / "b.json", bad_stems))
    # a JSON file given a .csv name is still recognised, and its problem named
    with pytest.raises(UserError, match=r"c\.csv: expected a JSON object with columns"):
        read_vocabulary(write(tmp_path / "c.csv", '{"smiles": ["*C"]}'))
    with pytest.raises(UserError, match=r"d\.json: no fragments"):
        read_vocabulary(write(tmp_path / "d.json", '{"block_name":{},"block_smi":{},"block_r":{}}'))


@pytest.mark.parametrize("layout", ["csv", "json"])
def test_vocab_show_command_reads_both_layouts(tmp_path, capsys, layout):
    if layout == "csv":
        path = write(tmp_path / "v.csv", "smiles,count\n*c1ccccc1,5\n*C(=O)N*,2\n")
    else:
        path = write(
            tmp_path / "v.json",
            '{"block_name":{"0":"benzene","1":"formamide"},'
            '"block_smi":{"0":"c1ccccc1","1":"NC=O"},"block_r":{"0":[0],"1":[0,1]}}',
        )
    assert main(["vocab", "show", str(path), "--max-fragments", "3"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 2 fragments" in out
    assert "c1ccccc1" in out and "NC=O" in out
    # pairs: benzene's one orbit of CH, formamide's N and C; slots: 3 x benzene's 6 CH;
    # actions: place 2 fragments, attach 18 x 3, stop
    assert "(fragment, stem) pairs: 3; attachment slots at max_fragments 3: 18; actions: 57" in out


def test_vocab_show_command_reports_a_bad_file(tmp_path, capsys):
    path = write(tmp_path / "v.json", "{")
    assert main(["vocab", "show", str(path)]) == 2
    assert f"{path}: not valid JSON" in capsys.readouterr().err


def test_shipped_drug_list_is_valid():
    with importlib.resources.as_file(DRUGS) as path:
        table = pd.read_csv(path)
    assert list(table.columns) == ["name", "smiles"]
    assert len(table) >= 300
    assert table["name"].is_unique
    canonical = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in table["smiles"]]
    assert len(set(canonical)) == len(canonical)


def test_shipped_vocabulary_is_what_the_builder_makes_of_the_drug_list():
    vocabulary = default_vocabulary()
    assert 50 <= len(vocabulary) <= 120
    with importlib.resources.as_file(DRUGS) as path:
        assert build_vocabulary(read_molecules(path)) == vocabulary
    counts = [f.count for f in vocabulary]
    assert counts == sorted(counts, reverse=True)


def test_decomposition_marks_cut_points():
    pieces = marked_fragment_smiles(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1"))  # paracetamol
    fragments = {fragment_from_marked_smiles(p).smiles for p in pieces}
    assert fragments == {"CC=O", "N", "Oc1ccccc1"}
    # nothing BRICS cuts: no fragment
    assert marked_fragment_smiles(Chem.MolFromSmiles("CCCC")) == []
    # BRICS also cuts C=C; RDKit writes that stem as a single bond, like all others
    assert sorted(marked_fragment_smiles(Chem.MolFromSmiles("CCC=CCCC"))) == ["*CCC", "*CCCC"]
    assert marked_fragment_smiles(Chem.MolFromSmiles("CC(=O)Nc1ccccc1"), "recap")


def test_builder_limits():
    smiles = ["CC(=O)Nc1ccccc1", "CC(=O)Oc1ccccc1", "Cc1ccccc1NC(=O)C1CCCCC1"]
    everything = build_vocabulary(smiles, VocabularyLimits(max_fragments=100, min_count=1))
    counts = {f.smiles: f.count for f in everything}
    assert counts == {
        "CC=O": 2,
        "N": 2,
        "c1ccccc1": 2,
        "C1CCCCC1": 1,
        "C=O": 1,
        "Cc1ccccc1": 1,
        "O": 1,
    }
    assert list(counts)[:3] == ["CC=O", "N", "c1ccccc1"]  # most frequent first, ties by SMILES
    assert everything[2] == Fragment("c1ccccc1", (0,), 2)
    assert len(build_vocabulary(smiles, VocabularyLimits(max_fragments=2, min_count=1))) == 2
    small = build_vocabulary(smiles, VocabularyLimits(min_count=1, max_atoms=3))
    assert all(Chem.MolFromSmiles(f.smiles).GetNumAtoms() <= 3 for f in small)
    with pytest.raises(UserError, match="no fragment"):
        build_vocabulary(smiles, VocabularyLimits(min_count=4))


def test_vocab_build_command(tmp_path, capsys):
    source = write(tmp_path / "in.csv", "name,smiles\na,CC(=O)Nc1ccccc1\nb,CC(=O)Oc1ccccc1\n")
    out = tmp_path / "vocab.csv"
    status = main(["vocab", "build", str(source), "-o", str(out), "--min-count", "2"])
    assert status == 0
    assert [f.smiles for f in read_vocabulary(out)] == ["CC=O", "c1ccccc1"]
    assert "wrote 2 fragments" in capsys.readouterr().out


def test_vocab_build_command_reports_bad_input(tmp_path, capsys):
    source = write(tmp_path / "in.csv", "smiles\nCCO\nC1CC\n")
    status = main(["vocab", "build", str(source), "-o", str(tmp_path / "v.csv")])
    assert status == 2
    assert (
        f"{source}, row 3, column 'smiles': 'C1CC' is not valid SMILES" in capsys.readouterr().err
    )
