"""Reading real-world assay exports: delimiters, quotes, relations, units, duplicates, bad rows."""

import numpy as np
import pytest
from rdkit import Chem

from gfncompose.errors import UserError
from gfncompose.rewards import read_assay
from gfncompose.tables import read_table

CHEMBL_STYLE = """"Smiles";"Standard Relation";"Standard Value";"Standard Units";"pChEMBL Value"
"CCO";"'='";"10.0";"nM";"8.00"
"OCC";"'='";"100.0";"nM";"7.00"
"c1ccccc1O";"'>'";"10000";"nM";""
"c1ccccc1N";"'<'";"1";"nM";"9.00"
"CCN";"";"50";"%";""
"";"'='";"5";"nM";"8.30"
"C1CC";"'='";"5";"nM";"8.30"
"CCCl";"'='";"5";"nM";"8.30"
"""


def _write(tmp_path, text, name="assay.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_chembl_export_is_cleaned_and_counted(tmp_path):
    data = read_assay(_write(tmp_path, CHEMBL_STYLE), "Smiles", "pChEMBL Value")
    report = data.report
    assert report.relation_col == "Standard Relation"  # found without being asked
    assert (report.rows, report.missing_smiles, report.missing_target) == (8, 1, 2)
    assert report.censored == 1  # the '<' row; the '>' row has no pChEMBL value
    assert (report.invalid_smiles, report.invalid_smiles_lines) == (1, [8])
    assert (report.duplicates_merged, report.molecules) == (1, 2)
    assert data.smiles == ["CCO", "CCCl"]
    np.testing.assert_array_equal(data.targets, [7.5, 8.3])  # median of 8.0 and 7.0
    assert "1 rows with invalid SMILES dropped (lines 8)" in report.summary()


def test_strict_mode_names_the_invalid_smiles_line(tmp_path):
    with pytest.raises(UserError, match=r"assay.csv, line 8: column 'Smiles' holds an invalid "
                       r"SMILES 'C1CC'"):  # fmt: skip
        read_assay(_write(tmp_path, CHEMBL_STYLE), "Smiles", "pChEMBL Value", strict=True)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    rows = ["smiles", "pIC50"], ["CCO", "5.5"], ["c1ccccc1", "6.25"], ["CC(=O)O", "7"]
    path = _write(tmp_path, "\n".join(delimiter.join(row) for row in rows) + "\n")
    assert read_table(path)[1] == delimiter
    data = read_assay(path, "smiles", "pIC50")
    assert data.report.relation_col is None
    np.testing.assert_array_equal(data.targets, [5.5, 6.25, 7.0])


def test_quoted_fields_with_delimiters_inside(tmp_path):
    text = 'id,smiles,note,pIC50\n1,CCO,"potent, selective",6.5\n2,CCN,"say ""hi""",5\n'
    data = read_assay(_write(tmp_path, text), "smiles", "pIC50")
    assert data.smiles == ["CCO", "CCN"]


def test_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("smiles,y\nCCO,1\nCCC,2\n".encode("utf-8-sig"))
    assert read_assay(path, "smiles", "y").smiles == ["CCO", "CCC"]


def test_non_numeric_target_names_line_and_value(tmp_path):
    text = "smiles,y\nCCO,1.0\nCCC,abc\n"
    with pytest.raises(UserError, match=r"line 3: column 'y' holds 'abc', which is not a finite"):
        read_assay(_write(tmp_path, text), "smiles", "y")


def test_infinite_target_is_an_error(tmp_path):
    with pytest.raises(UserError, match=r"line 2: column 'y' holds 'inf'"):
        read_assay(_write(tmp_path, "smiles,y\nCCO,inf\n"), "smiles", "y")


def test_missing_values_of_every_spelling_are_dropped(tmp_path):
    text = "smiles,y\nCCO,NA\nCCC,nan\nCCN,\nCCCl,None\nCCBr,N/A\nCCI,null\nCCF,3\n"
    data = read_assay(_write(tmp_path, text), "smiles", "y")
    assert data.report.missing_target == 6 and data.smiles == ["CCF"]


def test_missing_column_lists_the_columns(tmp_path):
    with pytest.raises(UserError, match=r"no column 'pIC50'; the columns are 'smiles', 'y'"):
        read_assay(_write(tmp_path, "smiles,y\nCCO,1\n"), "smiles", "pIC50")


def test_explicit_relation_column(tmp_path):
    text = "smiles,rel,y\nCCO,=,1\nCCC,>,2\nCCN,>=,3\nCCCl, = ,4\n"
    data = read_assay(_write(tmp_path, text), "smiles", "y", relation_col="rel")
    assert data.report.censored == 2 and data.smiles == ["CCO", "CCCl"]


def test_mixed_units_are_an_error_unless_one_is_chosen(tmp_path):
    text = "smiles,unit,y\nCCO,nM,1\nCCC,uM,2\nCCN,nM,3\n"
    path = _write(tmp_path, text)
    with pytest.raises(UserError, match=r"column 'unit' mixes units 'nM' \(first on line 2\), "
                       r"'uM' \(first on line 3\)"):  # fmt: skip
        read_assay(path, "smiles", "y", units_col="unit")
    data = read_assay(path, "smiles", "y", units_col="unit", units="nM")
    assert data.report.other_units == 1 and data.smiles == ["CCO", "CCN"]


def test_duplicates_are_merged_by_canonical_smiles(tmp_path):
    text = "smiles,y\nOc1ccccc1,1\nc1ccccc1O,2\nc1cc(O)ccc1,6\n"
    data = read_assay(_write(tmp_path, text), "smiles", "y")
    assert data.smiles == [Chem.MolToSmiles(Chem.MolFromSmiles("Oc1ccccc1"))]
    assert data.targets.tolist() == [2.0] and data.report.duplicates_merged == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\xff\xfe\x00s\x00m", "not UTF-8 text"),
        (b"smiles,y\nC1CC,1\n", "no usable rows"),
        (b'smiles,y\n"CCO,1\n', "malformed table"),
    ],
)
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_assay(path, "smiles", "y")


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="nope.csv: no such file"):
        read_assay(tmp_path / "nope.csv", "smiles", "y")
