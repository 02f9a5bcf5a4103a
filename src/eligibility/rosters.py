"""Read and write rosters: CSV as German Excel writes it or as programs write it, XLSX,
and JSON lines. Streaming, one input row at a time.

The one promise: every input row yields exactly one row out, in order. A row that cannot
be read (broken encoding, wrong number of fields, invalid JSON) becomes an error row with
the reason; the run goes on. Blank lines are not rows. Error texts never quote a value."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .cells import neutralise
from .model import FactSpec
from .records import STRIP_CLASS

FORMATS = ("csv", "xlsx", "jsonl")


def format_of(path: str | Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("csv", "txt"):
        return "csv"
    if suffix in ("xlsx", "xlsm"):
        return "xlsx"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise ValueError(f"unbekanntes Dateiformat '.{suffix}' (erwartet .csv, .xlsx oder .jsonl)")


@dataclasses.dataclass
class InputRow:
    number: int  # 1-based data row number (header not counted)
    record: dict[str, Any] | None
    error: str | None = None  # why the row could not be read (German)
    error_en: str | None = None


@dataclasses.dataclass
class RosterInfo:
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    german: bool = False  # German Excel dialect (";" or TT.MM.JJJJ dates)
    columns: dict[str, str] = dataclasses.field(default_factory=dict)  # header -> fact
    ignored: list[str] = dataclasses.field(default_factory=list)


def _norm(header: str) -> str:
    h = header.replace("\ufeff", "").strip().lower()
    h = h.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return re.sub(r"[\s_\-./]+", " ", h).strip()


def header_map(headers: list[str], facts: Mapping[str, FactSpec]) -> tuple[dict[int, str], RosterInfo]:
    """Column index -> fact name, by field name or any German alias of the schema."""
    lookup: dict[str, str] = {}
    for name, spec in facts.items():
        lookup[_norm(name)] = name
        for alias in spec.aliases:
            lookup.setdefault(_norm(alias), name)
    mapping: dict[int, str] = {}
    info = RosterInfo("")
    for i, h in enumerate(headers):
        fact = lookup.get(_norm(str(h or "")))
        if fact is not None and fact not in mapping.values():
            mapping[i] = fact
            info.columns[str(h)] = fact
        elif str(h or "").strip():
            info.ignored.append(str(h))
    return mapping, info


# ---------------------------------------------------------------- CSV


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if exc.start >= len(head) - 3:
            return "utf-8"
        return "cp1252"


def detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class _Lines:
    """Physical lines of a byte stream, decoded one by one, so that a line with a broken
    encoding spoils only its own record."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        self.raw = raw
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.first = True
        self.bad_lines: set[int] = set()
        self.line_no = 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = self.raw.readline()
        if not line:
            raise StopIteration
        self.line_no += 1
        if self.first:
            self.first = False
            if line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
        try:
            return line.decode(self.encoding)
        except UnicodeDecodeError:
            self.bad_lines.add(self.line_no)
            return line.decode(self.encoding, errors="replace")


def _parse_rows(lines: Iterable[str], line_no: Callable[[], int], bad_lines: set[int], header: list[str],
                mapping: dict[int, str], enc: str, delim: str, number: int) -> Iterator[InputRow]:
    """Rows of a CSV body after `number` rows: one InputRow per record, unreadable ones
    with the reason; blank rows are skipped and not counted."""
    reader = csv.reader(lines, delimiter=delim)
    previous_line = line_no()
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            number += 1
            previous_line = line_no()
            yield InputRow(number, None, "Zeile ist kein gültiges CSV (Anführungszeichen?)",
                           "row is not valid CSV (quotes?)")
            continue
        spanned = set(range(previous_line + 1, line_no() + 1))
        previous_line = line_no()
        if not fields or all(not f.strip() for f in fields):
            continue
        number += 1
        if spanned & bad_lines:
            yield InputRow(number, None, f"Zeichenkodierung defekt (erwartet {enc})",
                           f"broken character encoding (expected {enc})")
            continue
        if len(fields) > len(header):
            yield InputRow(number, None,
                           f"Zeile hat {len(fields)} Felder, die Kopfzeile {len(header)}",
                           f"row has {len(fields)} fields, the header {len(header)}")
            continue
        record = {fact: fields[i] for i, fact in mapping.items() if i < len(fields)}
        yield InputRow(number, record)


def _csv_head(path: str | Path, facts: Mapping[str, FactSpec], encoding: str | None, delimiter: str | None
              ) -> tuple[IO[bytes], _Lines, list[str] | None, dict[int, str], RosterInfo]:
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller's generator
    head = raw.read(65536)
    raw.seek(0)
    enc = encoding or detect_encoding(head)
    lines = _Lines(raw, enc)
    try:
        header_line = next(lines)
    except StopIteration:
        return raw, lines, None, {}, RosterInfo("csv", enc, delimiter or ",")
    delim = delimiter or detect_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delim))
    mapping, info = header_map(header, facts)
    info.format, info.encoding, info.delimiter = "csv", enc, delim
    info.german = delim == ";" or enc == "cp1252"
    return raw, lines, header, mapping, info


def read_csv(path: str | Path, facts: Mapping[str, FactSpec], encoding: str | None = None,
             delimiter: str | None = None) -> tuple[RosterInfo, Iterator[InputRow]]:
    raw, lines, header, mapping, info = _csv_head(path, facts, encoding, delimiter)
    if header is None:
        raw.close()
        return info, iter(())

    def rows() -> Iterator[InputRow]:
        try:
            yield from _parse_rows(lines, lambda: lines.line_no, lines.bad_lines, header, mapping,
                                   str(info.encoding), str(info.delimiter), 0)
        finally:
            raw.close()

    return info, rows()


@dataclasses.dataclass
class Block:
    """Consecutive roster rows: typed columns read by Arrow (`columns`, every row readable),
    or InputRows read by the exact Python reader (`rows`)."""

    first: int  # number of the first row
    n: int
    columns: dict[str, Any] | None = None  # fact -> Arrow string array
    rows: list[InputRow] | None = None


BLOCK_BYTES = 1 << 20  # ~7,000 rows: memory stays flat (measured: 2 and 4 MB blocks grow with the roster)


def read_csv_blocks(path: str | Path, facts: Mapping[str, FactSpec], encoding: str | None = None,
                    delimiter: str | None = None, block_rows: int = 20_000
                    ) -> tuple[RosterInfo, Iterator[Block]]:
    """The roster in blocks. A block of plain lines (no quote character, no NUL, no lone
    carriage return, valid in its encoding, as many fields as the header in every line) is
    parsed by Arrow's CSV reader in C++; any other block by the exact reader above — for a
    quote character (a field may span lines) from there to the end. Both give the same
    records: a test reads rosters both ways."""
    raw, lines, header, mapping, info = _csv_head(path, facts, encoding, delimiter)
    if header is None:
        raw.close()
        return info, iter(())
    enc, delim = str(info.encoding), str(info.delimiter)
    py_enc = "utf-8" if enc == "utf-8-sig" else enc

    def exact(data: IO[bytes], number: int) -> Iterator[Block]:
        sub = _Lines(data, enc)
        sub.first = False
        chunk: list[InputRow] = []
        for row in _parse_rows(sub, lambda: sub.line_no, sub.bad_lines, header, mapping, enc, delim, number):
            chunk.append(row)
            if len(chunk) >= block_rows:
                yield Block(chunk[0].number, len(chunk), rows=chunk)
                chunk = []
        if chunk:
            yield Block(chunk[0].number, len(chunk), rows=chunk)

    def blocks() -> Iterator[Block]:
        number = 0
        try:
            while True:
                start = raw.tell()
                data = raw.read(BLOCK_BYTES)
                if not data:
                    break
                data += raw.readline()
                if b'"' in data:
                    raw.seek(start)
                    # The rest goes through the exact reader, which counts on.
                    yield from exact(raw, number)
                    return
                for part, ok in _decodable_parts(data, py_enc):
                    fast = _arrow_block(part, py_enc, delim, header, mapping) if ok else None
                    if fast is None:
                        for block in exact(io.BytesIO(part), number):
                            number = block.first + block.n - 1
                            yield block
                        continue
                    columns, n = fast
                    for lo in range(0, n, block_rows):
                        hi = min(n, lo + block_rows)
                        yield Block(number + lo + 1, hi - lo,
                                    columns={k: v.slice(lo, hi - lo) for k, v in columns.items()})
                    number += n
        finally:
            raw.close()

    return info, blocks()


def _decodable_parts(data: bytes, enc: str) -> Iterator[tuple[bytes, bool]]:
    """A block without quote characters (so a line is a record) cut around the lines that
    do not decode: those go to the exact reader, which reports them one by one."""
    while data:
        try:
            data.decode(enc)
        except UnicodeDecodeError as exc:
            start = data.rfind(b"\n", 0, exc.start) + 1
            end = data.find(b"\n", exc.start)
            end = len(data) if end < 0 else end + 1
            if start:
                yield data[:start], True
            yield data[start:end], False
            data = data[end:]
            continue
        yield data, True
        return


_BLANK = rf"^{STRIP_CLASS}*$"  # what str.strip() turns into ""


def _arrow_block(data: bytes, enc: str, delim: str, header: list[str], mapping: dict[int, str]
                 ) -> tuple[dict[str, Any], int] | None:
    """Columns of a block of plain lines, or None if the block needs the exact reader."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if b"\x00" in data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    try:
        text = data.decode(enc)
    except UnicodeDecodeError:
        return None
    if enc not in ("utf-8", "ascii"):
        data = text.encode("utf-8")
    invalid: list[int] = []

    def on_invalid(row: Any) -> str:
        invalid.append(1)
        return "skip"

    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, block_size=max(1 << 20, len(data) + 1)),
            parse_options=pacsv.ParseOptions(delimiter=delim, quote_char=False, escape_char=False,
                                             newlines_in_values=False, ignore_empty_lines=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, null_values=[],
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowException, ValueError):
        return None
    if invalid:
        return None
    # Rows whose every field is blank are skipped and not counted, as by the exact reader.
    blank = None
    for c in names:  # the first column is seldom blank: usually one test settles it
        b = pc.match_substring_regex(table.column(c), _BLANK)
        blank = b if blank is None else pc.and_(blank, b)
        if not pc.any(blank).as_py():
            blank = None
            break
    if blank is not None:
        table = table.filter(pc.invert(blank))
    columns = {fact: table.column(f"c{i}").combine_chunks() for i, fact in mapping.items()}
    return columns, table.num_rows


# ---------------------------------------------------------------- XLSX


def read_xlsx(path: str | Path, facts: Mapping[str, FactSpec], sheet: str | None = None
              ) -> tuple[RosterInfo, Iterator[InputRow]]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header: list[Any] | None = None
    for row in it:
        if row and any(c is not None and str(c).strip() for c in row):
            header = list(row)
            break
    if header is None:
        wb.close()
        return RosterInfo("xlsx"), iter(())
    mapping, info = header_map([str(h) if h is not None else "" for h in header], facts)
    info.format = "xlsx"
    info.german = True

    def cell(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.date()
        if v is None:
            return ""
        return v

    def rows() -> Iterator[InputRow]:
        try:
            number = 0
            for row in it:
                if not row or all(c is None or (isinstance(c, str) and not c.strip()) for c in row):
                    continue
                number += 1
                record = {fact: cell(row[i]) for i, fact in mapping.items() if i < len(row)}
                yield InputRow(number, record)
        finally:
            wb.close()

    return info, rows()


# ---------------------------------------------------------------- JSON lines


def read_jsonl(path: str | Path, facts: Mapping[str, FactSpec]) -> tuple[RosterInfo, Iterator[InputRow]]:
    info = RosterInfo("jsonl", "utf-8")
    info.columns = {n: n for n in facts}

    def rows() -> Iterator[InputRow]:
        with open(path, "rb") as fh:
            number = 0
            for line in fh:
                if not line.strip():
                    continue
                number += 1
                try:
                    data = json.loads(line.decode("utf-8-sig" if number == 1 else "utf-8"))
                except UnicodeDecodeError:
                    yield InputRow(number, None, "Zeichenkodierung defekt (erwartet UTF-8)",
                                   "broken character encoding (expected UTF-8)")
                    continue
                except json.JSONDecodeError:
                    yield InputRow(number, None, "Zeile ist kein gültiges JSON", "row is not valid JSON")
                    continue
                if not isinstance(data, dict):
                    yield InputRow(number, None, "Zeile ist kein JSON-Objekt", "row is not a JSON object")
                    continue
                yield InputRow(number, data)

    return info, rows()


def read_roster(path: str | Path, facts: Mapping[str, FactSpec], fmt: str | None = None,
                encoding: str | None = None, delimiter: str | None = None,
                sheet: str | None = None) -> tuple[RosterInfo, Iterator[InputRow]]:
    kind = format_of(path, fmt)
    if kind == "csv":
        return read_csv(path, facts, encoding, delimiter)
    if kind == "xlsx":
        return read_xlsx(path, facts, sheet)
    return read_jsonl(path, facts)


# ---------------------------------------------------------------- writers


class RosterWriter:
    """Writes rows of cells; CSV, JSON lines and XLSX (XlsxWriter, constant memory) all
    stream. Text cells are neutralised against formula injection (`cells.neutralise`).
    Output is deterministic: XLSX timestamps are fixed."""

    def __init__(self, path: str | Path, fmt: str, columns: list[str], delimiter: str = ";",
                 bom: bool = True, header: list[str] | None = None) -> None:
        """`columns`: the keys of the rows written; `header`: the names written for them
        (default: the keys)."""
        self.path = Path(path)
        self.fmt = fmt
        self.columns = columns
        self.count = 0
        if fmt == "csv":
            self._fh: IO[str] | None = open(self.path, "w", encoding="utf-8-sig" if bom else "utf-8",
                                            newline="")
            self._csv = csv.writer(self._fh, delimiter=delimiter, lineterminator="\r\n" if bom else "\n")
            self._csv.writerow(header or columns)
        elif fmt == "jsonl":
            self._fh = open(self.path, "w", encoding="utf-8", newline="\n")
        elif fmt == "xlsx":
            from .xlsx_result import XlsxSheet

            self._sheet = XlsxSheet(self.path, header or columns)
            self._fh = None
        else:
            raise ValueError(fmt)

    def write(self, row: Mapping[str, Any], document: Mapping[str, Any] | None = None) -> None:
        self.count += 1
        if self.fmt == "jsonl":
            assert self._fh is not None
            self._fh.write(json.dumps(document if document is not None else dict(row), ensure_ascii=False,
                                      sort_keys=False, separators=(",", ":")) + "\n")
        elif self.fmt == "csv":
            self._csv.writerow(["" if row.get(c) is None else neutralise(row.get(c)) for c in self.columns])
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
                content = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>2000-01-01T00:00:00Z\g<2>",
                                 content)
            dst.writestr(fixed, content)


def _as_text(value: Any, german: bool) -> Any:
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y") if german else value.isoformat()
    if isinstance(value, bool):
        return ("ja" if value else "nein") if german else ("true" if value else "false")
    return value


def convert(src: str | Path, dst: str | Path, facts: Mapping[str, FactSpec], style: str = "excel",
            in_format: str | None = None, encoding: str | None = None, delimiter: str | None = None,
            sheet: str | None = None) -> tuple[int, list[InputRow]]:
    """Copy a roster into another format (the columns the engine knows, in schema order).
    Rows that cannot be read are returned, not written: nothing is silently dropped."""
    info, rows = read_roster(src, facts, in_format, encoding, delimiter, sheet)
    german = style == "excel"
    names = list(facts)
    headers = [(facts[n].aliases[0] if german and facts[n].aliases else n) for n in names]
    fmt = format_of(dst)
    from .xlsx_result import xlsx_cell

    writer = RosterWriter(dst, fmt, headers, delimiter=";" if german else ",", bom=german)
    failed: list[InputRow] = []
    written = 0
    try:
        for row in rows:
            if row.record is None:
                failed.append(row)
                continue
            # XLSX gets real dates; CSV writes them as text in the chosen style.
            cells = {h: (xlsx_cell(facts[n], row.record[n]) if fmt == "xlsx" else _as_text(row.record[n], german))
                     if n in row.record else None for h, n in zip(headers, names)}
            doc = {n: (_as_text(row.record[n], False) if n in row.record else None) for n in names if n in row.record}
            writer.write(cells, doc)
            written += 1
    finally:
        writer.close()
    return written, failed
