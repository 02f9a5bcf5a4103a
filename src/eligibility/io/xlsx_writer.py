"""XLSX output, streamed with XlsxWriter in constant-memory mode: each row goes to disk
as it is written, so memory stays flat however long the roster is.

`XlsxSheet` writes typed cells (text neutralised against formula injection, real
dates with the format TT.MM.JJJJ, numbers as numbers) with a bold frozen header, an
autofilter and column widths measured on the cells written; an optional second sheet
holds "Angaben zur Auswertung". Repeated texts are shared strings. Output is
byte-identical for equal input: the workbook's creation date is fixed (XlsxWriter's zip
entries carry a fixed time too) and shared strings are numbered in order of first use."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eligibility.io.cells import xlsx_text

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
FIXED_CREATED = dt.datetime(2000, 1, 1)
DATE_FORMAT = "dd.mm.yyyy"  # Excel's code; a German Excel shows it as TT.MM.JJJJ
MAX_WIDTH = 60  # characters; a longer text is cut at the cell's edge, whole in the formula bar
HEADER_HEIGHT = 45  # points
WIDTH_SAMPLE = 2000  # rows measured for column widths (the widths must not depend on memory)


class XlsxSheet:
    """One result sheet, streamed. Call `write` per row in order, then `close`.

    XlsxWriter (constant-memory mode) writes the workbook: the header row, column
    widths, the frozen pane, the autofilter, the styles, the second sheet and the
    package. The data rows, which are most of the file and mostly repeat the same few
    texts, are written as XlsxWriter's own cell XML by `_RowXml` into a temporary file
    and put into the sheet when the workbook is closed; a cell's XML is built once per
    distinct value and column. That is what makes XLSX output about as fast as CSV
    (XlsxWriter's per-cell path costs ~10 µs a cell). The rows are byte for byte what
    XlsxWriter itself writes for the same cells (tested), so the file is as valid."""

    def __init__(
        self, path: str | Path, columns: Sequence[str], sheet: str = "Ergebnis", unique: Sequence[int] = ()
    ) -> None:
        """`unique`: indexes of columns whose values seldom repeat (ids): not memoised."""
        import tempfile

        import xlsxwriter

        self.path = Path(path)
        self.columns = list(columns)
        self.count = 0
        self._wb = xlsxwriter.Workbook(
            str(self.path),
            {
                "constant_memory": True,
                # Never let the library turn text into formulas or links: input is text.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self._wb.set_properties({"created": FIXED_CREATED})
        self._ws = self._wb.add_worksheet(sheet)
        self._bold = self._wb.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        self._date = self._wb.add_format({"num_format": DATE_FORMAT})
        self._widths = [min(MAX_WIDTH, max(8, len(str(c)) * 0.9 + 2)) for c in self.columns]
        self._ws.set_row(0, HEADER_HEIGHT)  # the header wraps: room for three lines
        for j, c in enumerate(self.columns):
            self._ws.write_string(0, j, xlsx_text(str(c)), self._bold)
        self._ws.freeze_panes(1, 0)
        # The date style's index, fixed now: XlsxWriter numbers formats in order of first use.
        self._bold._get_xf_index()  # the header's style first, as XlsxWriter would number them
        self._date_xf = self._date._get_xf_index()
        self._rows = tempfile.TemporaryFile(prefix="eligibility-xlsx-")  # noqa: SIM115 - closed in close()
        self._xml = _RowXml(len(self.columns), self._date_xf, set(unique))
        self._buffer: list[str] = []

    def write(self, values: Sequence[Any]) -> None:
        """One row of cells in column order: str, date, int/float, bool or None."""
        self.count += 1
        if self.count <= WIDTH_SAMPLE:
            for j, v in enumerate(values):
                self.measure(j, v)
        self._buffer.append(self._xml.row(self.count, values))
        if len(self._buffer) >= 2000:
            self._flush()

    def cell_xml(self, j: int, v: Any) -> str:
        """The XML of one cell (row number as a placeholder), memoised like `write`'s."""
        return self._xml.fragment(j, v)

    def measure(self, j: int, v: Any) -> None:
        """Widen column j for a value (callers do it for the first WIDTH_SAMPLE rows)."""
        if isinstance(v, str):
            if len(v) + 2 > self._widths[j]:
                self._widths[j] = min(MAX_WIDTH, len(v) + 2)
        elif isinstance(v, dt.date) and self._widths[j] < 12:
            self._widths[j] = 12

    def write_xml(self, cells: str) -> None:
        """One row from `cell_xml` fragments; a caller measures the row's values for the
        widths before, while `count` < WIDTH_SAMPLE."""
        self.count += 1
        n = str(self.count + 1)
        self._buffer.append(f'<row r="{n}">' + cells.replace("\x00", n) + "</row>")
        if len(self._buffer) >= 2000:
            self._flush()

    def write_block(self, text: str, rows: int) -> None:
        """`rows` finished `<row>` elements (numbered from `count` + 2 on, as `write_xml`
        numbers them); the caller measured their values for the widths."""
        self.count += rows
        self._buffer.append(text)
        self._flush()  # a block is megabytes already: held no longer, memory stays flat

    def _flush(self) -> None:
        if self._buffer:
            self._rows.write("".join(self._buffer).encode("utf-8"))
            self._buffer = []

    def info_sheet(self, name: str, items: Sequence[tuple[str, Any]]) -> None:
        """A second sheet of label/value pairs."""
        ws = self._wb.add_worksheet(name)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 1, 80)
        for i, (label, value) in enumerate(items):
            ws.write_string(i, 0, xlsx_text(label), self._bold)
            if isinstance(value, dt.date):
                ws.write_datetime(i, 1, dt.datetime(value.year, value.month, value.day), self._date)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                ws.write_number(i, 1, value)
            else:
                ws.write_string(i, 1, xlsx_text(str(value)))

    def close(self) -> None:
        for j, w in enumerate(self._widths):
            self._ws.set_column(j, j, round(w, 1))
        if self.count:
            self._ws.autofilter(0, 0, self.count, len(self.columns) - 1)
        self._flush()
        self._wb.close()
        try:
            _insert_rows(
                self.path,
                self._rows,
                f"A1:{_column_letter(len(self.columns) - 1)}{self.count + 1}",
                sheet_part="xl/worksheets/sheet1.xml",
                shared=self._xml.shared_strings() if self._xml.shared else None,
            )
        finally:
            self._rows.close()


def _column_letter(j: int) -> str:
    out = ""
    n = j + 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


# Text that needs no neutralising, escaping or whitespace preserving (ids, names).
_PLAIN = re.compile(r"[0-9A-Za-z\u00c0-\u024f][0-9A-Za-z\u00c0-\u024f._/,()-]*\Z")


def _excel_serial(day: dt.date) -> int:
    """Excel's day number (1900 system, with its 29.02.1900), as XlsxWriter computes it."""
    n = day.toordinal() - dt.date(1899, 12, 31).toordinal()
    return n + 1 if n > 59 else n


class _RowXml:
    """The `<row>` XML XlsxWriter writes in constant-memory mode, built from memoised
    cell fragments. The row number in a fragment is a NUL placeholder (NUL never occurs
    in the text: XML forbids it and it is escaped as _x0000_)."""

    MEMO_LIMIT = 50_000  # fragments kept (a few MB); beyond that, cells are built each time
    # Distinct texts in the shared-string table (at most some 30 MB); later new texts are
    # written inline. A result repeats few long texts (words, reasons, questions): as shared
    # strings its sheet XML is a quarter of the inline one, and so is the time to encode,
    # copy and compress it (bench/RESULTS.md, issue 13, session 5).
    SHARED_LIMIT = 100_000

    def __init__(self, ncols: int, date_xf: int, unique: set[int]) -> None:
        from xlsxwriter.worksheet import _preserve_whitespace
        from xlsxwriter.xmlwriter import XMLwriter

        self._escape_control = XMLwriter._escape_control_characters
        self._escape_data = XMLwriter()._escape_data
        self._preserve = _preserve_whitespace
        self.letters = [_column_letter(j) for j in range(ncols)]
        self.date_xf = date_xf
        self.unique = unique
        self.memo: dict[tuple[int, type, Any], str] = {}
        self.shared: dict[str, int] = {}  # a text's <t> element -> its index

    def cell(self, j: int, v: Any) -> str:
        ref = self.letters[j] + "\x00"
        if isinstance(v, str) and len(v) <= 32767 and _PLAIN.match(v):
            # Nothing to neutralise, escape or preserve (the common id): the XML directly.
            return self.text_cell(j, ref, f"<t>{v}</t>")
        if isinstance(v, str):
            text = xlsx_text(v)[:32767]  # Excel's limit; XlsxWriter truncates too
            text = self._escape_control(text)
            t_attr = ' xml:space="preserve"' if self._preserve(text) else ""
            return self.text_cell(j, ref, f"<t{t_attr}>{self._escape_data(text)}</t>")
        if isinstance(v, bool):
            return self.cell(j, "ja" if v else "nein")
        if isinstance(v, dt.date):
            return f'<c r="{ref}" s="{self.date_xf}"><v>{_excel_serial(v):.16G}</v></c>'
        if isinstance(v, (int, float)):
            return f'<c r="{ref}"><v>{v:.16G}</v></c>'
        return self.cell(j, str(v))

    def text_cell(self, j: int, ref: str, t: str) -> str:
        """A text cell whose `<t>` element is `t`: a shared string (numbered in order of
        first use, so the same input gives the same table), inline in a unique column
        (ids would only fill the table) or once the table is full."""
        if j not in self.unique:
            i = self.shared.get(t)
            if i is None and len(self.shared) < self.SHARED_LIMIT:
                i = self.shared[t] = len(self.shared)
            if i is not None:
                return f'<c r="{ref}" t="s"><v>{i}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is>{t}</is></c>'

    def shared_strings(self) -> bytes:
        """The shared-string part (`xl/sharedStrings.xml`) of the strings used."""
        head = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<sst xmlns="{_MAIN}" uniqueCount="{len(self.shared)}">'
        )
        return (head + "".join(f"<si>{t}</si>" for t in self.shared) + "</sst>").encode("utf-8")

    def fragment(self, j: int, v: Any) -> str:
        """A cell's XML, "" for an empty cell; memoised but for unique columns and numbers."""
        if v is None or v == "":
            return ""
        if j in self.unique or isinstance(v, (int, float)) and not isinstance(v, bool):
            return self.cell(j, v)
        key = (j, type(v), v)
        frag = self.memo.get(key)
        if frag is None:
            frag = self.cell(j, v)
            if len(self.memo) < self.MEMO_LIMIT:
                self.memo[key] = frag
        return frag

    def row(self, r: int, values: Sequence[Any]) -> str:
        fragment = self.fragment
        parts = [fragment(j, v) for j, v in enumerate(values)]
        n = str(r + 1)
        return f'<row r="{n}">' + "".join(parts).replace("\x00", n) + "</row>"


def _insert_rows(path: Path, rows: Any, dimension: str, sheet_part: str, shared: bytes | None = None) -> None:
    """Put the streamed rows into the sheet XlsxWriter wrote (header only) and set its
    dimension: the package is copied entry by entry, keeping each entry's time. `shared`:
    the shared-string part the rows refer to, added with its content type and its
    relationship from the workbook (XlsxWriter's constant-memory mode writes none)."""
    import os
    import shutil
    import zipfile

    tmp = path.with_name(path.name + ".tmp")
    rows.seek(0, os.SEEK_END)
    size = rows.tell()
    rows.seek(0)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if shared is not None and info.filename == "[Content_Types].xml":
                override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST_TYPE}"/>'
                data = data.replace(b"</Types>", override.encode() + b"</Types>", 1)
            elif shared is not None and info.filename == "xl/_rels/workbook.xml.rels":
                rid = f"rId{data.count(b'<Relationship ') + 1}"
                rel = f'<Relationship Id="{rid}" Type="{_SST_REL}" Target="sharedStrings.xml"/>'
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>", 1)
            if info.filename != sheet_part:
                dst.writestr(info, data)
                continue
            head, sep, tail = data.partition(b"</sheetData>")
            head = re.sub(rb'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>'.encode(), head, count=1)
            out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            out.compress_type = zipfile.ZIP_DEFLATED
            out.external_attr = info.external_attr
            # Level 1: the rows are repetitive XML; a higher level costs seconds per 10^5
            # rows and saves little.
            out._compresslevel = 1  # type: ignore[attr-defined]
            with dst.open(out, "w", force_zip64=len(head) + size + len(tail) > (1 << 31) - 1) as fh:
                fh.write(head)
                shutil.copyfileobj(rows, fh, 1 << 20)
                fh.write(sep + tail)
        if shared is not None:
            entry = zipfile.ZipInfo("xl/sharedStrings.xml", date_time=src.infolist()[0].date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, shared)
    os.replace(tmp, path)
