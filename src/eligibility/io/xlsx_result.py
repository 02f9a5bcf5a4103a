"""XLSX output, streamed with XlsxWriter in constant-memory mode: each row goes to disk
as it is written, so memory stays flat however long the roster is.

`XlsxSheet` writes typed cells (text neutralised against formula injection, real
dates with the format TT.MM.JJJJ, numbers as numbers) with a bold frozen header, an
autofilter and column widths measured on the cells written; an optional second sheet
holds "Angaben zur Auswertung". Output is byte-identical for equal input: the
workbook's creation date is fixed (XlsxWriter's zip entries carry a fixed time too).

`CaseworkerResult` is the `evaluate` result for people: German headers (or the codes,
for programs), the chosen input columns, per outcome its word and the reason with
its citation, the questions to ask, the field errors in the row's own words."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
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
        if len(self._buffer) >= 8:
            self._flush()

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


# ---------------------------------------------------------------- caseworker result


def xlsx_cell(spec: Any, value: Any) -> Any:
    """An input value as an XLSX cell: a readable date of a date field becomes a real
    date; anything else is written as it is (text neutralised by the sheet)."""
    if isinstance(value, str) and getattr(spec, "type", None) == "date" and value.strip():
        from eligibility.decision.records import parse_date

        d = parse_date(value)
        return d if d is not None else value
    return value


# ---------------------------------------------------------------- caseworker result


WORDS = {True: "ja", False: "nein"}
UNKNOWN_WORD = "noch offen"
ERROR_WORD = "Fehler"
NOT_IN_FORCE_WORD = "nicht in Kraft"


@dataclasses.dataclass(frozen=True)
class ResultColumns:
    """Which columns the caseworker result has, and their headers."""

    keep: tuple[str, ...]  # input facts copied in
    codes: bool  # headers as field and outcome codes (for programs) instead of German labels
    outcomes: tuple[str, ...]


def parse_keep(values: Sequence[str], facts: Mapping[str, Any], id_field: str | None) -> tuple[str, ...]:
    """`--keep` values → fact names, in schema order for `all`. Accepts field names and
    the schema's German labels and aliases."""
    from eligibility.io.headers import norm_header as _norm

    default = tuple(f for f in (id_field, "gemeinde", "kreis") if f and f in facts)
    if not values:
        return default
    if any(v.strip().lower() in ("all", "alle") for v in values):
        return tuple(facts)
    lookup: dict[str, str] = {}
    for name, spec in facts.items():
        lookup[_norm(name)] = name
        lookup.setdefault(_norm(spec.label.de), name)
        for alias in spec.aliases:
            lookup.setdefault(_norm(alias), name)
    out: list[str] = [id_field] if id_field and id_field in facts else []
    for v in values:
        field = lookup.get(_norm(v))
        if field is None:
            raise ValueError(f"--keep: unbekannte Spalte '{v}' (erlaubt: Feldnamen, Spaltennamen oder 'all')")
        if field not in out:
            out.append(field)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class _Groups:
    """A decided table's rows grouped by their outcomes: per group its cells' template,
    their texts (for the widths) and whether an outcome is open; per row its group and
    the code of its field errors."""

    templates: list[str]
    texts: list[list[tuple[int, str]]]
    unknown: list[bool]
    inverse: list[int]
    err_values: list[str]
    err_codes: list[int]


class CaseworkerResult:
    """The `evaluate` result as a caseworker reads it, one row per input row, in order."""

    def __init__(
        self,
        path: str | Path,
        engine: Any,
        entity: str | None,
        keep: Sequence[str],
        codes: bool,
        on: dt.date,
        source_name: str,
        headers: Mapping[str, str] | None = None,
        row_offset: int = 1,
    ) -> None:
        """`row_offset`: added to the data row number for "Zeile" — 1 for a spreadsheet or
        CSV (the header is row 1), 0 for JSON lines (line n is record n)."""
        self.engine = engine
        self.ent = engine.entity(entity)
        self.keep = list(keep)
        self.codes = codes
        self.on = on
        self.source_name = source_name
        self.headers = dict(headers or {})  # fact -> the header the input file used
        self.row_offset = row_offset
        self.rows = 0
        self.decided = 0
        self.unknown = 0
        self.errors = 0
        facts = self.ent.facts
        cols: list[str] = ["zeile" if codes else "Zeile"]
        for f in self.keep:
            cols.append(
                f
                if codes
                else (self.headers.get(f) or (facts[f].aliases[0] if facts[f].aliases else facts[f].label.de))
            )
        for oid in self.ent.outcome_order:
            label = self.ent.outcomes[oid].spec.label.de
            cols += [oid, f"{oid}_grund"] if codes else [label, f"{label}: Begründung"]
        cols += (
            ["fragen", "hinweise", "regelwerk", "regelwerk_sha256"]
            if codes
            else ["Zu klären", "Hinweise", "Regelwerk", "Regelwerk SHA-256"]
        )
        self.columns = cols
        id_field = self.ent.id_field
        self.sheet = XlsxSheet(path, cols, unique=tuple(1 + i for i, f in enumerate(self.keep) if f == id_field))
        # The questions and the hints are sentences a caseworker reads: wide from the start,
        # whatever the first rows hold (many rows leave them empty).
        for j in (len(cols) - 4, len(cols) - 3):
            self.sheet._widths[j] = MAX_WIDTH
        info = engine.info
        self._ruleset = f"{info.name} {info.version}"
        self._sha = info.sha256
        self._sources: dict[tuple[str, str | None, bool], str | None] = {}

    def source_of(self, oid: str, rule_id: str | None, status: str) -> str | None:
        """The citation of the rule that decided, or of the outcome's default."""
        # An open outcome has no deciding rule: no citation (the key keeps it apart from
        # an outcome decided by the default, which has no rule id either).
        key = (oid, rule_id, status == "unknown")
        if key not in self._sources:
            oc = self.ent.outcomes[oid]
            rule = next((r for r in oc.rules if r.id == rule_id), None) if rule_id else None
            if status == "unknown":
                src = None
            elif rule is not None:
                src = rule.spec.source
            elif status != "unknown" and oc.spec.default is not None:
                src = oc.spec.default.source
            else:
                src = None
            self._sources[key] = str(src) if src else None
        return self._sources[key]

    def word(self, oid: str, value: Any, status: str) -> Any:
        if status == "unknown":
            return UNKNOWN_WORD
        if status == "not_in_force":
            return NOT_IN_FORCE_WORD
        if isinstance(value, bool):
            return WORDS[value]
        if isinstance(value, str):
            from eligibility.text.render import value_text

            return value_text(self.ent, oid, value, "de")
        return value  # a number stays a number

    def questions(self, missing: Sequence[str]) -> str:
        facts = self.ent.facts
        # One line: a cell's line breaks show only with wrapping, which would make rows tall.
        return " · ".join(f"{facts[f].question.de}" for f in missing if f in facts)

    def hints(self, record: Mapping[str, Any] | None, errors: str) -> str:
        """Field errors in the row's own words: the header the file used and the value
        it holds (the user's own data, in the user's own file; never logged)."""
        out = []
        for part in errors.split("; ") if errors else []:
            field, sep, message = part.partition(": ")
            if sep and record is not None and field in self.ent.facts:
                header = self.headers.get(field) or self.ent.facts[field].label.de
                raw = record.get(field)
                shown = raw.isoformat() if isinstance(raw, dt.date) else str(raw)
                if raw is None or shown == "":
                    out.append(f"{header}: {message}")
                elif message.startswith("kein") or message.startswith("nicht"):
                    out.append(f"{header}: '{shown}' ist {message}")
                else:
                    out.append(f"{header}: '{shown}' – {message}")
            else:
                out.append(part)
        return "; ".join(out)

    def _kept(self, record: Mapping[str, Any] | None) -> list[Any]:
        out: list[Any] = []
        for f in self.keep:
            out.append(xlsx_cell(self.ent.facts[f], record.get(f) if record is not None else None))
        return out

    def write_error(self, number: int, record: Mapping[str, Any] | None, reason: str) -> None:
        """A row that could not be read or decided: every outcome "Fehler", the reason."""
        self.rows += 1
        self.errors += 1
        cells: list[Any] = [number + self.row_offset, *self._kept(record)]
        for _ in self.ent.outcome_order:
            cells += [ERROR_WORD, ""]
        cells += ["", reason, self._ruleset, self._sha]
        self.sheet.write(cells)

    def write_decided(
        self,
        number: int,
        record: Mapping[str, Any] | None,
        outcomes: Sequence[tuple[str, Any, str, str | None, str, Sequence[str]]],
        errors: str,
    ) -> None:
        """`outcomes`: per outcome (id, value, status, rule, reason text, missing facts)."""
        self.rows += 1
        cells: list[Any] = [number + self.row_offset, *self._kept(record)]
        missing: list[str] = []
        unknown = False
        for oid, value, status, rule, reason, miss in outcomes:
            cells.append(self.word(oid, value, status))
            src = self.source_of(oid, rule, status)
            cells.append(f"{reason} [{src}]" if src and src not in reason else reason)
            for f in miss:
                if f not in missing:
                    missing.append(f)
            unknown = unknown or status == "unknown"
        if errors:
            self.errors += 1
        elif unknown:
            self.unknown += 1
        else:
            self.decided += 1
        cells += [self.questions(sorted(missing)), self.hints(record, errors), self._ruleset, self._sha]
        self.sheet.write(cells)

    def write_table(
        self,
        table: Any,
        rows: Sequence[tuple[int, Sequence[Any], Any, str | None]],
        reason_of: Any,
        record_at: Any = None,
    ) -> None:
        """A decided block, in input order. `rows`: per input row (number, kept values,
        the record — or its index for `record_at`, which builds it only when a hint needs
        it —, error or None); rows without error are the table's rows, in order. Runs of
        rows without error go to `write_columns`' block path; an error row is written by
        `write_error`."""
        groups = self._groups(table, reason_of)
        run: list[tuple[int, Sequence[Any], Any]] = []
        t = 0

        def flush() -> None:
            nonlocal t, run
            if not run:
                return
            records = [r for _, _, r in run]

            def record_of(k: int) -> Any:
                rec = records[k]
                return record_at(rec) if record_at is not None and isinstance(rec, int) else rec

            kept_cols = [list(c) for c in zip(*[k for _, k, _ in run])] if self.keep else []
            self._write_run(groups, [number for number, _, _ in run], kept_cols, t, record_of)
            t += len(run)
            run = []

        for number, kept, record, error in rows:
            if error is not None:
                flush()
                if record_at is not None and isinstance(record, int):
                    record = record_at(record)
                self.write_error(number, record, error)
            else:
                run.append((number, kept, record))
        flush()

    def write_columns(
        self, table: Any, first: int, kept_cols: Sequence[Sequence[Any]], reason_of: Any, record_at: Any
    ) -> None:
        """A decided block of `len(table)` rows numbered from `first`, every row decided;
        `kept_cols`: per kept fact its cells; `record_at(i)` builds row i's record (only
        rows whose hints need it)."""
        self._write_run(self._groups(table, reason_of), range(first, first + len(table)), kept_cols, 0, record_at)

    def _groups(self, table: Any, reason_of: Any) -> _Groups:
        """The table's rows grouped by their outcomes (as the CSV block writer groups them):
        per group the template of its outcome and question cells, built once."""
        from eligibility.apps.result_rows import outcome_groups

        sheet = self.sheet
        first_col = 1 + len(self.keep)
        if not len(table):
            return _Groups([], [], [], [], [""], [])
        per_outcome, firsts, inverse = outcome_groups(table, self.ent.outcome_order)
        templates: list[str] = []
        texts_of: list[list[tuple[int, str]]] = []
        unknown_of: list[bool] = []
        for row in firsts.tolist():
            texts: list[tuple[int, str]] = []
            missing: list[str] = []
            unknown = False
            j = first_col
            for oid, (v, st, r, a, m) in per_outcome:
                value, status, rule = v.values[v.codes[row]], st.values[st.codes[row]], r.values[r.codes[row]]
                asm, miss = a.values[a.codes[row]], list(m.values[m.codes[row]])
                reason = reason_of(oid, value, status, rule, asm, miss)
                src = self.source_of(oid, rule, status)
                texts.append((j, self.word(oid, value, status)))
                texts.append((j + 1, f"{reason} [{src}]" if src and src not in reason else reason))
                missing += [f for f in miss if f not in missing]
                unknown = unknown or status == "unknown"
                j += 2
            texts.append((j, self.questions(sorted(missing))))
            templates.append("".join(sheet.cell_xml(c, t) for c, t in texts))
            texts_of.append(texts)
            unknown_of.append(unknown)
        errors = table.codes("errors")
        return _Groups(templates, texts_of, unknown_of, inverse.tolist(), errors.values.tolist(), errors.codes.tolist())

    def _kept_templates(self, j: int, spec: Any, values: Sequence[Any]) -> list[str]:
        """The cell templates of kept column j: per distinct value once, mapped in C; an id
        column (nearly all values distinct) of plain ids straight from one format string."""
        sheet = self.sheet
        if j in sheet._xml.unique:
            try:
                plain = all(map(_PLAIN.match, values)) and max(map(len, values), default=0) <= 32767
            except TypeError:  # not all text
                plain = False
            if plain:
                letter = sheet._xml.letters[j]
                return list(map(f'<c r="{letter}\x00" t="inlineStr"><is><t>{{}}</t></is></c>'.format, values))
            return [sheet.cell_xml(j, xlsx_cell(spec, v)) for v in values]
        distinct = dict.fromkeys(values)
        kinds = {type(v) for v in distinct}
        if bool in kinds and kinds & {int, float}:
            # True == 1, but one is "ja" and the other 1: keyed by type as well.
            memo: dict[tuple[type, Any], str] = {}
            out = []
            for v in values:
                key = (type(v), v)
                if key not in memo:
                    memo[key] = sheet.cell_xml(j, xlsx_cell(spec, v))
                out.append(memo[key])
            return out
        by_value = {v: sheet.cell_xml(j, xlsx_cell(spec, v)) for v in distinct}
        return list(map(by_value.__getitem__, values))

    def _write_run(
        self, g: _Groups, numbers: Sequence[int], kept_cols: Sequence[Sequence[Any]], t0: int, record_of: Any
    ) -> None:
        """Rows t0.. of a table, none with a reading error, as one piece of sheet XML: each
        column's cell templates come from its distinct values, the rows' templates are
        joined from the columns and numbered with `str.format`, all in C."""
        n = len(numbers)
        if not n:
            return
        sheet = self.sheet
        cols = len(self.columns)
        groups = g.inverse[t0 : t0 + n]
        errs = list(map(g.err_values.__getitem__, g.err_codes[t0 : t0 + n]))
        err_rows = [k for k, e in enumerate(errs) if e]
        hints_col = cols - 3
        hint_tpls: Any = itertools.repeat("", n)
        hints: dict[int, str] = {}
        if err_rows:
            hint_list = [""] * n
            for k in err_rows:
                h = hints[k] = self.hints(record_of(k), errs[k])
                hint_list[k] = sheet.cell_xml(hints_col, h) if h else ""
            hint_tpls = hint_list
        keep_facts = [self.ent.facts[f] for f in self.keep]
        kept_tpls = [
            self._kept_templates(1 + c, spec, vals) for c, (spec, vals) in enumerate(zip(keep_facts, kept_cols))
        ]
        # The counts: an error row counts as error, else a row with an open outcome as unknown.
        unknown_rows = sum(map(g.unknown.__getitem__, groups))
        unknown_errors = sum(g.unknown[groups[k]] for k in err_rows)
        self.rows += n
        self.errors += len(err_rows)
        self.unknown += unknown_rows - unknown_errors
        self.decided += n - len(err_rows) - (unknown_rows - unknown_errors)
        # The widths are measured on the first WIDTH_SAMPLE rows, as the row-wise path does.
        if sheet.count < WIDTH_SAMPLE:
            sheet.measure(cols - 2, self._ruleset)
            sheet.measure(cols - 1, self._sha)
            for k in range(min(n, WIDTH_SAMPLE - sheet.count)):
                for c, (spec, vals) in enumerate(zip(keep_facts, kept_cols), start=1):
                    sheet.measure(c, xlsx_cell(spec, vals[k]))
                for c, v in g.texts[groups[k]]:
                    sheet.measure(c, v)
                sheet.measure(hints_col, hints.get(k, ""))
        tail = sheet.cell_xml(cols - 2, self._ruleset) + sheet.cell_xml(cols - 1, self._sha) + "</row>"
        base = sheet.count + 2  # sheet row of the run's first row (the header is row 1)
        offset = self.row_offset
        shown = (
            range(numbers.start + offset, numbers.stop + offset)
            if isinstance(numbers, range)
            else [x + offset for x in numbers]
        )
        heads = map('<row r="{0}"><c r="A{0}"><v>{1}</v></c>'.format, range(base, base + n), shown)
        rests = map(
            "".join, zip(*kept_tpls, map(g.templates.__getitem__, groups), hint_tpls, itertools.repeat(tail, n))
        )
        numbered = map(str.replace, rests, itertools.repeat("\x00", n), map(str, range(base, base + n)))
        sheet.write_block("".join(itertools.chain.from_iterable(zip(heads, numbered))), n)

    def close(self, ignored: Sequence[str] = ()) -> None:
        info = self.engine.info
        self.sheet.info_sheet(
            "Angaben zur Auswertung",
            [
                ("Stichtag", self.on),
                ("Regelwerk", info.name),
                ("Version", info.version),
                ("SHA-256 des Regelwerks", info.sha256),
                ("Eingabedatei", self.source_name),
                ("Zeilen gelesen", self.rows),
                ("davon entschieden", self.decided),
                ("davon mit offenen Fragen", self.unknown),
                ("davon mit Fehlern", self.errors),
                ("Nicht verwendete Spalten", ", ".join(ignored) if ignored else "keine"),
                (
                    "Spalte „Zeile“",
                    (
                        "Nummer der Datenzeile + 1, also die Zeile, wie Excel sie zeigt, wenn die "
                        "Kopfzeile in Zeile 1 steht (erste Datenzeile = 2); zugleich die Zeile in diesem "
                        "Blatt. Leerzeilen der Eingabe werden nicht mitgezählt."
                    )
                    if self.row_offset
                    else "Nummer des Datensatzes in der Eingabe (JSON Lines: Zeile n = Datensatz n; Leerzeilen nicht "
                    "mitgezählt).",
                ),
            ],
        )
        self.sheet.close()
