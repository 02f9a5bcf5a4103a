"""Read and write rosters: CSV as German Excel writes it or as programs write it, XLSX,
and JSON lines. Streaming, one input row at a time. The readers live in `csv_reader`,
`jsonl_reader` and `xlsx_reader` (their shared rows in `roster_rows`); this module picks one
by format, reads other spreadsheets with calamine and writes rosters. Its old names are
kept for callers.

The one promise: every input row yields exactly one row out, in order. A row that cannot
be read (broken encoding, wrong number of fields, invalid JSON) becomes an error row with
the reason; the run goes on. Blank lines are not rows. Error texts never quote a value."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from eligibility.io.cells import neutralise
from eligibility.io.csv_format import CsvFormat
from eligibility.io.csv_reader import (
    BLOCK_BYTES as BLOCK_BYTES,
)
from eligibility.io.csv_reader import (
    detect_delimiter as detect_delimiter,
)
from eligibility.io.csv_reader import (
    detect_encoding as detect_encoding,
)
from eligibility.io.csv_reader import (
    read_csv as read_csv,
)
from eligibility.io.csv_reader import (
    read_csv_blocks as read_csv_blocks,
)
from eligibility.io.headers import SCAN_ROWS, Header, find_header
from eligibility.io.jsonl_reader import (
    SURROGATE_DE as SURROGATE_DE,
)
from eligibility.io.jsonl_reader import (
    SURROGATE_EN as SURROGATE_EN,
)
from eligibility.io.jsonl_reader import (
    DuplicateKey as DuplicateKey,
)
from eligibility.io.jsonl_reader import (
    lone_surrogate as lone_surrogate,
)
from eligibility.io.jsonl_reader import (
    no_duplicate_keys as no_duplicate_keys,
)
from eligibility.io.jsonl_reader import (
    read_jsonl as read_jsonl,
)
from eligibility.io.roster_rows import (
    FORMATS as FORMATS,
)
from eligibility.io.roster_rows import (
    Block as Block,
)
from eligibility.io.roster_rows import (
    InputRow as InputRow,
)
from eligibility.io.roster_rows import (
    RosterInfo as RosterInfo,
)
from eligibility.io.roster_rows import (
    _info_of as _info_of,
)
from eligibility.io.roster_rows import (
    format_of as format_of,
)
from eligibility.io.roster_rows import (
    header_map as header_map,
)
from eligibility.source.model import FactSpec

# ---------------------------------------------------------------- XLSX


def _cell(v: Any) -> Any:
    """A spreadsheet cell as the record path reads it: calamine gives every number as a
    float, so a whole number (an id, a count) is an int again; a date-time is its day."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, dt.datetime):
        return v.date()
    if v is None:
        return ""
    return v


def read_xlsx(
    path: str | Path, facts: Mapping[str, FactSpec], sheet: str | None = None
) -> tuple[RosterInfo, Iterator[InputRow]]:
    """A spreadsheet: .xlsx/.xlsm streamed by `xlsx_reader` (flat memory), .xls, .xlsb and
    .ods read by calamine (Rust), which loads the sheet whole. Without `sheet`, the sheet
    whose header matches most fields (the first of equals)."""
    from python_calamine import CalamineError, CalamineWorkbook

    from eligibility.io import xlsx_reader
    from eligibility.io.archive_check import check_archive

    if xlsx_reader.is_xlsx(path):  # it checks the archive itself, when it opens it
        return xlsx_reader.read_xlsx(path, facts, sheet)
    # Before calamine sees the file (issue 15): it trusts declared dimensions and sizes.
    check_archive(path)

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise ValueError(f"Tabellendatei nicht lesbar ({type(exc).__name__})") from exc
    names = list(wb.sheet_names)
    if sheet is not None and sheet not in names:
        wb.close()
        raise ValueError(f"Tabellenblatt „{sheet}“ gibt es nicht; die Datei hat: " + ", ".join(f"„{n}“" for n in names))
    chosen: tuple[str, Header, list[Any], Iterator[Any]] | None = None
    for name in [sheet] if sheet is not None else names:
        try:
            it = iter(wb.get_sheet_by_name(name).iter_rows())
        except CalamineError:
            continue
        head = [list(r) for r in itertools.islice(it, SCAN_ROWS)]
        h = find_header(head, facts)
        if h is not None and (chosen is None or h.score > chosen[1].score):
            chosen = (name, h, head, it)
    if chosen is None:
        wb.close()
        return RosterInfo("xlsx", sheet=sheet), iter(())
    name, header, head, it = chosen
    mapping, info = _info_of(header, "xlsx")
    info.german = True
    info.sheet = name
    width = len(header.names)

    def rows() -> Iterator[InputRow]:
        try:
            number = 0
            first = header.index + header.height + 1  # iter_rows starts at the sheet's row 1
            for sheet_row, row in enumerate(itertools.chain(head[header.index + header.height :], it), start=first):
                if not row or all(c is None or (isinstance(c, str) and not c.strip()) for c in row):
                    continue
                number += 1
                if len(row) > width and any(_cell(c) != "" for c in row[width:]):
                    yield InputRow(
                        number,
                        None,
                        f"Zeile hat Werte rechts der Kopfzeile (mehr als {width} Spalten)",
                        f"row has values right of the header (more than {width} columns)",
                        sheet_row,
                    )
                    continue
                record = {fact: _cell(row[i]) for i, fact in mapping.items() if i < len(row)}
                yield InputRow(number, record, line=sheet_row)
        finally:
            wb.close()

    return info, rows()


def read_roster(
    path: str | Path,
    facts: Mapping[str, FactSpec],
    fmt: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> tuple[RosterInfo, Iterator[InputRow]]:
    kind = format_of(path, fmt)
    if kind == "csv":
        return read_csv(path, facts, encoding, delimiter)
    if kind == "xlsx":
        return read_xlsx(path, facts, sheet)
    return read_jsonl(path, facts)


def roster_info(
    path: str | Path,
    facts: Mapping[str, FactSpec],
    fmt: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> RosterInfo:
    """What reading would find (format, header, columns), without reading the rows."""
    info, rows = read_roster(path, facts, fmt, encoding, delimiter, sheet)
    try:
        next(rows, None)  # started, so that closing it closes the file
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return info


# ---------------------------------------------------------------- writers


class RosterWriter:
    """Writes rows of cells; CSV, JSON lines and XLSX (XlsxWriter, constant memory) all
    stream. Text cells are neutralised against formula injection (`cells.neutralise`).
    Output is deterministic: XLSX timestamps are fixed."""

    def __init__(
        self,
        path: str | Path,
        fmt: str,
        columns: list[str],
        delimiter: str = ";",
        bom: bool = True,
        header: list[str] | None = None,
    ) -> None:
        """`columns`: the keys of the rows written; `header`: the names written for them
        (default: the keys)."""
        self.path = Path(path)
        self.fmt = fmt
        self.columns = columns
        self.count = 0
        if fmt == "csv":
            # The writer keeps its file open across write() calls and closes it in close().
            encoding = "utf-8-sig" if bom else "utf-8"
            self._fh: IO[str] | None = open(self.path, "w", encoding=encoding, newline="")  # noqa: SIM115
            self._csv = CsvFormat(delimiter, "\r\n" if bom else "\n")
            self._fh.write(self._csv.line(header or columns))
        elif fmt == "jsonl":
            self._fh = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        elif fmt == "xlsx":
            from eligibility.io.xlsx_result import XlsxSheet

            self._sheet = XlsxSheet(self.path, header or columns)
            self._fh = None
        else:
            raise ValueError(fmt)

    def write(self, row: Mapping[str, Any], document: Mapping[str, Any] | None = None) -> None:
        self.count += 1
        if self.fmt == "jsonl":
            assert self._fh is not None
            self._fh.write(
                json.dumps(
                    document if document is not None else dict(row),
                    ensure_ascii=False,
                    sort_keys=False,
                    separators=(",", ":"),
                )
                + "\n"
            )
        elif self.fmt == "csv":
            assert self._fh is not None
            self._fh.write(self._csv.line("" if row.get(c) is None else neutralise(row.get(c)) for c in self.columns))
        else:
            self._sheet.write([row.get(c) for c in self.columns])

    def write_encoded(self, data: bytes, rows: int) -> None:
        """Whole CSV lines, already formatted as this writer would format them, in UTF-8."""
        assert self.fmt == "csv" and self._fh is not None
        self.count += rows
        self._fh.flush()
        self._fh.buffer.write(data)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self.fmt == "xlsx":
            self._sheet.close()
        elif self._fh is not None:
            self._fh.close()


def _write_deterministic_zip(data: bytes, target: Path) -> None:
    """Re-pack an XLSX with fixed entry times, so equal content gives equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "modified" with the time of saving, whatever was set.
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>2000-01-01T00:00:00Z\g<2>", content
                )
            dst.writestr(fixed, content)


def _as_text(value: Any, german: bool) -> Any:
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y") if german else value.isoformat()
    if isinstance(value, bool):
        return ("ja" if value else "nein") if german else ("true" if value else "false")
    return value


def convert(
    src: str | Path,
    dst: str | Path,
    facts: Mapping[str, FactSpec],
    style: str = "excel",
    in_format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> tuple[int, list[InputRow]]:
    """Copy a roster into another format (the columns the engine knows, in schema order).
    Rows that cannot be read are returned, not written: nothing is silently dropped."""
    info, rows = read_roster(src, facts, in_format, encoding, delimiter, sheet)
    german = style == "excel"
    names = list(facts)
    headers = [(facts[n].aliases[0] if german and facts[n].aliases else n) for n in names]
    fmt = format_of(dst)
    from eligibility.io.xlsx_result import xlsx_cell

    writer = RosterWriter(dst, fmt, headers, delimiter=";" if german else ",", bom=german)
    failed: list[InputRow] = []
    written = 0
    try:
        for row in rows:
            if row.record is None:
                failed.append(row)
                continue
            # XLSX gets real dates; CSV writes them as text in the chosen style.
            cells = {
                h: (xlsx_cell(facts[n], row.record[n]) if fmt == "xlsx" else _as_text(row.record[n], german))
                if n in row.record
                else None
                for h, n in zip(headers, names)
            }
            doc = {n: (_as_text(row.record[n], False) if n in row.record else None) for n in names if n in row.record}
            writer.write(cells, doc)
            written += 1
    finally:
        writer.close()
    return written, failed
