"""What every roster reader gives: `InputRow` (one input row, its record or why it cannot
be read), `RosterInfo` (the header's mapping and what was ignored), `Block` (consecutive
rows for the batch path) and the mapping of a header to facts; `format_of` names a file's
format."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eligibility.io.headers import Header, header_of
from eligibility.source.model import FactSpec

FORMATS = ("csv", "xlsx", "jsonl")


def format_of(path: str | Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("csv", "txt"):
        return "csv"
    if suffix in ("xlsx", "xlsm", "xls", "xlsb", "ods"):
        return "xlsx"  # every spreadsheet is read by calamine
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise ValueError(f"unbekanntes Dateiformat '.{suffix}' (erwartet .csv, .xlsx, .xls, .ods, .json oder .jsonl)")


@dataclasses.dataclass
class InputRow:
    number: int  # 1-based data row number (header not counted)
    record: dict[str, Any] | None
    error: str | None = None  # why the row could not be read (German)
    error_en: str | None = None
    # Where the row stands in the file: the CSV line (its first, for a cell over several
    # lines), the spreadsheet row as Excel numbers it, the JSON line; 0 if not known.
    line: int = 0


@dataclasses.dataclass
class RosterInfo:
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    german: bool = False  # German Excel dialect (";" or TT.MM.JJJJ dates)
    columns: dict[str, str] = dataclasses.field(default_factory=dict)  # header -> fact
    ignored: list[str] = dataclasses.field(default_factory=list)
    suggestions: dict[str, str] = dataclasses.field(default_factory=dict)  # ignored header -> likely fact
    header_row: int = 1  # line (CSV) or sheet row of the header's last row, 1-based
    sheet: str | None = None
    # Rows (numbers) of a UTF-8 file whose line was not UTF-8 and was read as Windows-1252.
    recoded: list[int] = dataclasses.field(default_factory=list)


def _info_of(header: Header, fmt: str) -> tuple[dict[int, str], RosterInfo]:
    info = RosterInfo(fmt)
    for i, fact in header.mapping.items():
        info.columns[header.names[i]] = fact
    info.ignored = list(header.ignored)
    info.suggestions = dict(header.suggestions)
    info.header_row = header.index + header.height
    return dict(header.mapping), info


def header_map(headers: list[str], facts: Mapping[str, FactSpec]) -> tuple[dict[int, str], RosterInfo]:
    """Column index -> fact name, by field name or any German alias of the schema."""
    return _info_of(header_of(headers, facts), "")


@dataclasses.dataclass
class Block:
    """Consecutive roster rows: typed columns read by Arrow (`columns`, every row readable),
    or InputRows read by the exact Python reader (`rows`)."""

    first: int  # number of the first row
    n: int
    columns: dict[str, Any] | None = None  # fact -> Arrow string array (CSV) or list of cells (XLSX)
    rows: list[InputRow] | None = None
