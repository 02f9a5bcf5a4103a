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
import functools
import io
import itertools
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from eligibility.decision.records import STRIP_CLASS
from eligibility.io.cells import neutralise
from eligibility.io.csv_format import CsvFormat
from eligibility.io.headers import SCAN_ROWS, Header, find_header, header_of
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


# ---------------------------------------------------------------- CSV


def detect_encoding(head: bytes) -> str:
    """The file's encoding from its first bytes. A sample with both UTF-8 characters and
    lines that are not UTF-8 is UTF-8 with some lines from elsewhere: those lines are read
    one by one (see `_Lines`), never the whole file re-decoded."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head.count(b"\x00") * 3 > len(head):
        # UTF-16 without a byte-order mark: every other byte of ASCII text is NUL.
        return "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if exc.start >= len(head) - 3:
            return "utf-8"
    utf8_lines = bad_lines = 0
    for line in head.split(b"\n")[:-1]:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines += 1
            continue
        if not line.isascii():
            utf8_lines += 1
    return "utf-8" if utf8_lines else "cp1252"


def _utf8_anywhere(raw: IO[bytes]) -> bool:
    """Whether any line of the file is UTF-8 with a non-ASCII character. Asked only when
    the first bytes look like Windows-1252: a UTF-8 file whose first 64 KB hold one pasted
    Windows-1252 line (and no umlaut yet) must not be read as Windows-1252 as a whole.
    Per 1 MB chunk, in C: decoded as UTF-8 with U+FFFD for what is not, anything non-ASCII
    left besides U+FFFD is a UTF-8 character (12 MB: 0.09 s)."""
    start = raw.tell()
    try:
        while chunk := raw.read(_CHUNK):
            chunk += raw.readline()
            if not chunk.isascii() and not chunk.decode("utf-8", errors="replace").replace("\ufffd", "").isascii():
                return True
        return False
    finally:
        raw.seek(start)


def detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


_CHUNK = 1 << 20


def _normalised_stream(raw: IO[bytes], enc: str) -> tuple[IO[bytes], str]:
    """A UTF-16 file, or one whose lines end in CR only (old Mac Excel), as a temporary
    UTF-8 file with LF line ends, converted in chunks; any other file as it is."""
    import tempfile

    head = raw.read(65536)
    raw.seek(0)
    utf16 = enc.startswith("utf-16")
    cr_only = not utf16 and b"\r" in head and b"\n" not in head
    if not utf16 and not cr_only:
        return raw, enc
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the roster
    if utf16:
        decoder = codecs.getincrementaldecoder(enc)(errors="replace")
        while True:
            chunk = raw.read(_CHUNK)
            text = decoder.decode(chunk, final=not chunk)
            out.write(text.replace("\ufeff", "", 1 if out.tell() == 0 else 0).encode("utf-8"))
            if not chunk:
                break
        enc = "utf-8"
    else:
        while chunk := raw.read(_CHUNK):
            out.write(chunk.replace(b"\r", b"\n"))
    raw.close()
    out.seek(0)
    return out, enc


class _Lines:
    """Physical lines of a byte stream as (line number, text, read in a fallback encoding),
    decoded one by one: a UTF-8 file with a line saved as Windows-1252 (copy and paste
    from an old file) keeps that line; its undecodable bytes are carried as surrogates
    and the fields that hold them are read as Windows-1252 (`_recode`)."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        self.raw = raw
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.first = True
        self.line_no = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> tuple[int, str, bool]:
        line = self.raw.readline()
        if not line:
            raise StopIteration
        self.line_no += 1
        if self.first:
            self.first = False
            if line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
        try:
            return self.line_no, line.decode(self.encoding), False
        except UnicodeDecodeError:
            if self.encoding == "utf-8":
                return self.line_no, line.decode("utf-8", errors="surrogateescape"), True
            return self.line_no, line.decode(self.encoding, errors="replace"), False


def _recode(field: str) -> str:
    """A field of a line that was not UTF-8: its bytes read as Windows-1252 (the encoding
    of Excel's CSV on German Windows); bytes Windows-1252 lacks become U+FFFD."""
    if not any("\udc80" <= ch <= "\udcff" for ch in field):
        return field
    raw = field.encode("utf-8", errors="surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


MAX_SPAN = 200  # physical lines one quoted cell may span before the quote counts as unbalanced

_OPEN = "open"


def _parse_one(text: str, delim: str) -> tuple[list[str] | None, str | None]:
    # Most lines have no quote and no stray CR: splitting them is what csv would do, faster.
    body = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if '"' not in body and "\r" not in body and "\n" not in body:
        return body.split(delim), None
    try:
        return next(csv.reader((text,), delimiter=delim, strict=True), []), None
    except csv.Error as exc:
        return None, (_OPEN if "unexpected end of data" in str(exc) else str(exc))


def _bad(number: int, de: str, en: str, line: int = 0) -> InputRow:
    return InputRow(number, None, de, en, line)


def _parse_rows(
    lines: Iterable[tuple[int, str, bool]],
    header: list[str],
    mapping: dict[int, str],
    delim: str,
    number: int,
    recoded: list[int] | None = None,
) -> Iterator[InputRow]:
    """Rows of a CSV body after `number` rows: one InputRow per record, unreadable ones
    with the reason; blank rows are skipped and not counted.

    Every physical line is a row, except a quoted cell that spans lines (Excel writes a
    cell with a line break so). A quote that opens a cell and is not closed properly within
    the line is taken as such a cell only if the joined record has the header's number of
    fields and no line it swallows looks like a row of its own (as many fields as the
    header); otherwise that one line is an error row and the lines after it are read
    again. So an unbalanced quote never swallows the rows below it."""
    width = len(header)
    source = iter(lines)
    back: list[tuple[int, str, bool]] = []  # lines to read again, last first
    while True:
        item = back.pop() if back else next(source, None)
        if item is None:
            break
        line_no, text, fallback = item
        if not text.strip():
            continue
        if "\x00" in text:
            number += 1
            yield _bad(
                number,
                "Zeile enthält ein NUL-Zeichen (Binärdaten?)",
                "row contains a NUL character (binary data?)",
                line_no,
            )
            continue
        fields, err = _parse_one(text, delim)
        if err == _OPEN:
            taken = [item]
            joined = text
            while len(taken) < MAX_SPAN:
                nxt = back.pop() if back else next(source, None)
                if nxt is None:
                    break
                taken.append(nxt)
                joined += nxt[1]
                fields, err = _parse_one(joined, delim)
                if err != _OPEN:
                    break
            if (
                err is None
                and fields is not None
                and len(fields) == width
                and not any(t[1].count(delim) + 1 >= width for t in taken[1:])
            ):
                fallback = any(t[2] for t in taken)
            else:
                back.extend(reversed(taken[1:]))
                number += 1
                yield _bad(
                    number,
                    "Anführungszeichen nicht geschlossen – Zeile nicht lesbar",
                    "unbalanced quote – row cannot be read",
                    line_no,
                )
                continue
        elif err is not None:
            number += 1
            if "new-line" in err:
                yield _bad(
                    number,
                    "Zeile enthält einen einzelnen Zeilenumbruch (CR) mitten in einem Feld",
                    "row contains a lone carriage return (CR) inside a field",
                    line_no,
                )
            else:
                yield _bad(
                    number,
                    "Zeile ist kein gültiges CSV (Anführungszeichen?)",
                    "row is not valid CSV (quotes?)",
                    line_no,
                )
            continue
        assert fields is not None
        if not fields or all(not f.strip() for f in fields):
            continue
        number += 1
        if fallback:
            fields = [_recode(f) for f in fields]
            if recoded is not None:
                recoded.append(number)
        if len(fields) > width:
            yield _bad(
                number,
                f"Zeile hat {len(fields)} Felder, die Kopfzeile {width}",
                f"row has {len(fields)} fields, the header {width}",
                line_no,
            )
            continue
        record = {fact: fields[i] for i, fact in mapping.items() if i < len(fields)}
        yield InputRow(number, record, line=line_no)


def _split(line: str, delim: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delim), [])
    except csv.Error:
        return [line]


def _csv_head(
    path: str | Path, facts: Mapping[str, FactSpec], encoding: str | None, delimiter: str | None
) -> tuple[IO[bytes], _Lines, list[str] | None, dict[int, str], RosterInfo]:
    """Open a CSV roster at its first data line: the header is searched among the first
    lines (title rows above it are skipped, two header rows joined), for each delimiter
    unless one is given; the delimiter whose header matches most fields wins."""
    raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the caller's generator
    head = raw.read(65536)
    raw.seek(0)
    enc = encoding or detect_encoding(head)
    if encoding is None and enc == "cp1252" and _utf8_anywhere(raw):
        enc = "utf-8"  # UTF-8 with Windows-1252 lines: those are read line by line
    raw, enc = _normalised_stream(raw, enc)
    py_enc = "utf-8" if enc == "utf-8-sig" else enc
    sample: list[str] = []
    ends: list[int] = []
    while len(sample) < SCAN_ROWS:
        line = raw.readline()
        if not line:
            break
        if not sample and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        try:
            text = line.decode(py_enc)
        except UnicodeDecodeError:
            text = line.decode("cp1252" if py_enc == "utf-8" else py_enc, errors="replace")
        sample.append(text.rstrip("\r\n"))
        ends.append(raw.tell())
    found: tuple[int, str, Header] | None = None
    for d in [delimiter] if delimiter else [";", ",", "\t", "|"]:
        h = find_header([_split(line, d) for line in sample], facts)
        if h is None:
            continue
        if (
            found is None
            or h.score > found[0]
            or (h.score == found[0] and sample[h.index].count(d) > sample[found[2].index].count(found[1]))
        ):
            found = (h.score, d, h)
    if found is None:
        raw.seek(0, 2)
        return raw, _Lines(raw, enc), None, {}, RosterInfo("csv", enc, delimiter or ",")
    _, delim, header = found
    if not delimiter and header.score == 0:
        delim = detect_delimiter(sample[header.index])
        header = find_header([_split(line, delim) for line in sample], facts) or header
    mapping, info = _info_of(header, "csv")
    raw.seek(ends[header.index + header.height - 1])
    lines = _Lines(raw, enc)
    lines.first = False
    lines.line_no = header.index + header.height
    info.encoding, info.delimiter = enc, delim
    info.german = delim == ";" or enc == "cp1252"
    return raw, lines, list(header.names), mapping, info


def read_csv(
    path: str | Path, facts: Mapping[str, FactSpec], encoding: str | None = None, delimiter: str | None = None
) -> tuple[RosterInfo, Iterator[InputRow]]:
    raw, lines, header, mapping, info = _csv_head(path, facts, encoding, delimiter)
    if header is None:
        raw.close()
        return info, iter(())

    def rows() -> Iterator[InputRow]:
        try:
            yield from _parse_rows(lines, header, mapping, str(info.delimiter), 0, info.recoded)
        finally:
            raw.close()

    return info, rows()


@dataclasses.dataclass
class Block:
    """Consecutive roster rows: typed columns read by Arrow (`columns`, every row readable),
    or InputRows read by the exact Python reader (`rows`)."""

    first: int  # number of the first row
    n: int
    columns: dict[str, Any] | None = None  # fact -> Arrow string array (CSV) or list of cells (XLSX)
    rows: list[InputRow] | None = None


BLOCK_BYTES = 1 << 20  # ~7,000 rows: memory stays flat (measured: 2 and 4 MB blocks grow with the roster)


def read_csv_blocks(
    path: str | Path,
    facts: Mapping[str, FactSpec],
    encoding: str | None = None,
    delimiter: str | None = None,
    block_rows: int = 20_000,
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
        for row in _parse_rows(sub, header, mapping, delim, number, info.recoded):
            row.line = 0  # a block does not know its first line in the file; rows are numbered by `number`
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
                        yield Block(
                            number + lo + 1, hi - lo, columns={k: v.slice(lo, hi - lo) for k, v in columns.items()}
                        )
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


def _arrow_block(
    data: bytes, enc: str, delim: str, header: list[str], mapping: dict[int, str]
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
            parse_options=pacsv.ParseOptions(
                delimiter=delim,
                quote_char=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
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


# ---------------------------------------------------------------- JSON lines


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json `object_pairs_hook`: a key given twice is an error, not last-wins (which of
    two Aufenthaltsstatus is meant cannot be guessed)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKey(k)
        out[k] = v
    return out


def _reraise(exc: BaseException) -> Any:
    raise exc


def _identity(value: Any) -> Any:
    return value


# A \uD800-\uDFFF escape: JSON can spell a lone surrogate, which no UTF-8 output (CSV,
# JSON, XLSX) can hold; a valid pair decodes to one character and passes.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def lone_surrogate(text: str, data: Any) -> bool:
    """Whether the parsed JSON `data` of `text` holds a lone surrogate (checked only when
    the text has such an escape, so ordinary lines cost one regex search)."""
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


SURROGATE_DE = "Zeile enthält ein ungültiges Zeichen (einzelnes UTF-16-Surrogat \\uD800–\\uDFFF)"
SURROGATE_EN = "row holds an invalid character (a lone UTF-16 surrogate \\uD800–\\uDFFF)"


def _json_row(number: int, parse: Callable[[], Any], text: str = "") -> InputRow:
    try:
        data = parse()
    except DuplicateKey as exc:
        key = exc.key if len(exc.key) <= 60 else exc.key[:60] + "…"
        return InputRow(number, None, f"Schlüssel „{key}“ kommt zweimal vor", f"key '{key}' occurs twice")
    except UnicodeDecodeError:
        return InputRow(
            number, None, "Zeichenkodierung defekt (erwartet UTF-8)", "broken character encoding (expected UTF-8)"
        )
    except RecursionError:
        return InputRow(number, None, "Zeile zu tief verschachtelt", "row is nested too deeply")
    except json.JSONDecodeError:
        return InputRow(number, None, "Zeile ist kein gültiges JSON", "row is not valid JSON")
    if not isinstance(data, dict):
        return InputRow(number, None, "Zeile ist kein JSON-Objekt", "row is not a JSON object")
    if text and lone_surrogate(text, data):
        return InputRow(number, None, SURROGATE_DE, SURROGATE_EN)
    return InputRow(number, data)


def _is_json_array(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return head.lstrip(codecs.BOM_UTF8).lstrip()[:1] == b"["


def read_jsonl(path: str | Path, facts: Mapping[str, FactSpec]) -> tuple[RosterInfo, Iterator[InputRow]]:
    """JSON lines (one record a line, streamed), or a .json file holding an array of
    records (read whole: an array is one JSON text; each element is one row)."""
    info = RosterInfo("jsonl", "utf-8")
    info.columns = {n: n for n in facts}
    decoder = json.JSONDecoder(object_pairs_hook=no_duplicate_keys)

    def lines() -> Iterator[InputRow]:
        with open(path, "rb") as fh:
            number = 0
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                number += 1
                enc = "utf-8-sig" if number == 1 else "utf-8"
                try:
                    text = line.decode(enc)
                except UnicodeDecodeError:
                    # JSON is UTF-8 by definition (RFC 8259), and no spreadsheet writes JSON
                    # lines: bytes that are not UTF-8 are damage, not Windows-1252. The
                    # record gets an error row instead of a guess or replacement characters.
                    row = InputRow(
                        number,
                        None,
                        "Zeile ist nicht UTF-8-kodiert (JSON ist immer UTF-8)",
                        "line is not UTF-8 encoded (JSON is always UTF-8)",
                    )
                else:
                    row = _json_row(number, functools.partial(decoder.decode, text), text)
                row.line = line_no
                yield row

    def array() -> Iterator[InputRow]:
        try:
            text = Path(path).read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            yield InputRow(
                1, None, "Zeichenkodierung defekt (erwartet UTF-8)", "broken character encoding (expected UTF-8)"
            )
            return
        pos = text.index("[") + 1
        number = 0
        ws = re.compile(r"[\s,]*")
        while True:
            pos = ws.match(text, pos).end()  # type: ignore[union-attr]
            if pos >= len(text) or text[pos] == "]":
                if pos >= len(text):
                    yield InputRow(
                        number + 1,
                        None,
                        "JSON-Liste nicht geschlossen (fehlt „]“?)",
                        "JSON array not closed (missing ']'?)",
                    )
                return
            number += 1
            try:
                data, end = decoder.raw_decode(text, pos)
            except (json.JSONDecodeError, DuplicateKey, RecursionError) as exc:
                if not isinstance(exc, DuplicateKey):
                    # Past a syntax error the elements cannot be told apart: this one row says so.
                    yield InputRow(
                        number,
                        None,
                        "Element ist kein gültiges JSON – der Rest der Liste ist nicht lesbar",
                        "element is not valid JSON – the rest of the array cannot be read",
                    )
                    return
                yield _json_row(number, functools.partial(_reraise, exc))
                if isinstance(exc, DuplicateKey):
                    # the element itself is well-formed: skip it and go on
                    try:
                        _, end = json.JSONDecoder().raw_decode(text, pos)
                    except json.JSONDecodeError:
                        return
                    pos = end
                    continue
                return
            element, pos = text[pos:end], end
            yield _json_row(number, functools.partial(_identity, data), element)

    # JSON lines may start with a line "[1, 2]" (an error row): only a .json file is an array.
    is_array = Path(path).suffix.lower() == ".json" and _is_json_array(path)
    return info, (array() if is_array else lines())


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
