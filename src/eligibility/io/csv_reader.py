"""CSV rosters as German Excel writes them or as programs write them: encoding and delimiter
detected, read row by row by the exact Python reader (`read_csv`) or in blocks of Arrow
columns for the batch path (`read_csv_blocks`), a block with anything unusual falling back
to the exact reader. Every input row yields exactly one row, in order; a row that cannot be
read is an error row with the reason, never quoting a value."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from eligibility.decision.records import STRIP_CLASS
from eligibility.io.headers import SCAN_ROWS, Header, find_header
from eligibility.io.roster_rows import Block, InputRow, RosterInfo, _info_of
from eligibility.source.model import FactSpec


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
