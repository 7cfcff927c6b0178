"""Reading delimited text files as users export them (ChEMBL, spreadsheets, scripts).

The delimiter is sniffed from the start of the file (``,``, ``;``, tab or ``|``;
``,`` when the file has a single column), quotes follow the CSV convention, a
UTF-8 byte-order mark is ignored, and every cell is kept as a string so that the
caller decides what a value means. Rows are reported by their *line* in the file
(the header is line 1), which is also their row number in a spreadsheet.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from .errors import UserError

DELIMITERS = ",;\t|"
SNIFF_BYTES = 65536
"""Enough of the file for the sniffer to see the header and many rows."""


def line_of(index: int) -> int:
    """Line in the file of the data row at 0-based ``index`` (line 1 is the header)."""
    return index + 2


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a delimited text ``sample``: one of ``DELIMITERS``, ``,`` if unclear."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path) -> tuple[pd.DataFrame, str]:
    """All cells of a delimited text file as strings, and the delimiter found.

    Raises ``UserError`` if the file is missing, not UTF-8 text, empty, or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        with path.open(encoding="utf-8-sig") as handle:
            sample = handle.read(SNIFF_BYTES)
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not sample.strip():
        raise UserError(f"{path}: the file is empty")
    delimiter = sniff_delimiter(sample)
    try:
        table = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as error:
        raise UserError(f"{path}: malformed table ({error})") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return table, delimiter


def require_column(table: pd.DataFrame, column: str, path: str | Path) -> None:
    """``UserError`` naming ``column`` and the file's columns if ``table`` lacks it."""
    if column not in table.columns:
        columns = ", ".join(repr(name) for name in table.columns)
        raise UserError(f"{path}: no column {column!r}; the columns are {columns}")
