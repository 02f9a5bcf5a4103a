"""The sheet level of the streaming .xlsx/.xlsm reader (`xlsx_reader` reads rosters with it): the sheet XML is inflated from the zip in
1 MB pieces and its cells are picked out with one compiled regular expression, so memory
stays flat however long the roster is (python-calamine, used for .xls/.xlsb/.ods, loads a
whole sheet: ~1.2 GB at 10^6 rows) and the rows can go to the column-wise batch path in
blocks. Cells come out as calamine's cells through `rosters._cell`: text, bool, int for a
whole number, float, `datetime.date` for a date-formatted number (1900 or 1904 system),
"" for empty and error cells (a test compares both readers on generated workbooks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import posixpath
import re
import zipfile
import zlib
from collections.abc import Generator, Iterator
from typing import IO, Any
from xml.etree import ElementTree as ET

from eligibility.io import xlsx_native
from eligibility.io.archive_check import (
    DEFAULT_LIMITS,
    EXCEL_MAX_COLUMNS,
    EXCEL_MAX_ROWS,
    ArchiveLimits,
    ArchiveRefused,
    check_archive,
    extent_refused,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CHUNK = 1 << 20


class _TooWide(Exception):
    """A cell reference past Excel's last column (XFD), found before its row is padded."""

    def __init__(self, cols: int, row: int) -> None:
        super().__init__(cols, row)
        self.cols = cols
        self.row = row


class XlsxError(ValueError):
    """An .xlsx file this reader cannot read; the message is German."""


def _unreadable(why: str) -> XlsxError:
    return XlsxError(f"Tabellendatei nicht lesbar ({why})")


# Built-in number formats that show a date or a time (ECMA-376 §18.8.30); 45–47 are times.
_BUILTIN_DATES = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47})
_DURATION = re.compile(r"\[(?:h+|m+|s+)\]", re.I)


def _format_kind(code: str) -> str:
    """ "date", "duration" or "" for a custom number format: a date when it has a d, m, y,
    h or s token outside quoted text, brackets ([Red], [$-407]) and escaped characters."""
    elapsed = bool(_DURATION.search(code))
    plain = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code)
    plain = re.sub(r"\[[^\]]*\]", "", plain)
    if elapsed:
        return "duration"
    # "General" and "@" are no dates; an "e" is a scientific exponent, not an era.
    plain = plain.replace("General", "").replace("general", "")
    return "date" if re.search(r"[dmyhs]", plain, re.I) else ""


@dataclasses.dataclass(frozen=True)
class Sheet:
    name: str
    member: str  # the zip entry of its XML


_XML_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _entity(m: re.Match[str]) -> str:
    e = m.group(1)
    if e[0] == "#":
        return chr(int(e[2:], 16) if e[1] in "xX" else int(e[1:]))
    return _ENTITIES[e]


def unescape(text: str) -> str:
    """XML character references and entities as their characters."""
    return _XML_ENTITY.sub(_entity, text) if "&" in text else text


def _ooxml_unescape(text: str) -> str:
    """Excel writes characters XML cannot hold (control characters) as _xHHHH_."""
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _text_of(el: ET.Element) -> str:
    """A string item (<si> or <is>): its <t>, or its rich text runs' <t> joined; phonetic
    runs (<rPh>) are not part of the text."""
    parts: list[str] = []
    for child in el:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            for t in child:
                if t.tag.rsplit("}", 1)[-1] == "t":
                    parts.append(t.text or "")
    return _ooxml_unescape("".join(parts))


class Workbook:
    """An .xlsx workbook's sheet list, shared strings and date styles; `rows` streams a sheet."""

    def __init__(self, path: str) -> None:
        # The archive is checked first (entries, sizes, ratio, shared strings, DTD, declared
        # dimension: issue 15); the scan of every cell reference is for calamine's dense ranges,
        # not for this reader, which never allocates by extent.
        check_archive(path, ArchiveLimits(scan_extent=False))
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _unreadable(type(exc).__name__) from exc
        try:
            self._read_parts()
        except XlsxError:
            self.zip.close()
            raise
        except (ET.ParseError, KeyError, ValueError, zipfile.BadZipFile, zlib.error, OSError, IndexError) as exc:
            self.zip.close()
            raise _unreadable(type(exc).__name__) from exc

    def close(self) -> None:
        self.zip.close()

    def _member(self, name: str) -> str | None:
        names = self.zip.NameToInfo
        if name in names:
            return name
        low = name.lower()  # some writers differ in case from what the rels say
        return next((n for n in names if n.lower() == low), None)

    def _read_parts(self) -> None:
        wb_name = self._workbook_part()
        root = ET.fromstring(self.zip.read(wb_name))
        pr = root.find(f"{{{MAIN}}}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        rels = self._rels(wb_name)
        base = posixpath.dirname(wb_name)
        self.sheets: list[Sheet] = []
        sheets = root.find(f"{{{MAIN}}}sheets")
        for s in sheets if sheets is not None else []:
            rid = s.get(f"{{{REL}}}id")
            target = rels.get(rid or "")
            if target is None:
                continue
            member = self._member(_resolve(base, target))
            if member is not None:
                self.sheets.append(Sheet(s.get("name", ""), member))
        types = {r.get("Type", "").rsplit("/", 1)[-1]: r.get("Target", "") for r in self._rel_elements(wb_name)}
        self.shared: list[str] = []
        ss = self._member(_resolve(base, types["sharedStrings"])) if "sharedStrings" in types else None
        ss = ss or self._member(posixpath.join(base, "sharedStrings.xml"))
        if ss is not None:
            with self.zip.open(ss) as f:
                for _, el in ET.iterparse(f):
                    if el.tag == f"{{{MAIN}}}si":
                        self.shared.append(_text_of(el))
                        el.clear()
        st = self._member(_resolve(base, types["styles"])) if "styles" in types else None
        st = st or self._member(posixpath.join(base, "styles.xml"))
        self.style_kind: list[str] = []  # per cellXfs index: "date", "duration" or ""
        if st is not None:
            sroot = ET.fromstring(self.zip.read(st))
            custom: dict[int, str] = {}
            fmts = sroot.find(f"{{{MAIN}}}numFmts")
            for nf in fmts if fmts is not None else []:
                custom[int(nf.get("numFmtId", "0"))] = _format_kind(nf.get("formatCode", ""))
            xfs = sroot.find(f"{{{MAIN}}}cellXfs")
            for xf in xfs if xfs is not None else []:
                fid = int(xf.get("numFmtId", "0"))
                kind = custom.get(fid, "date" if fid in _BUILTIN_DATES else "")
                if fid == 46 and fid not in custom:
                    kind = "duration"  # [h]:mm:ss
                self.style_kind.append(kind)

    def _workbook_part(self) -> str:
        for r in self._rel_elements(""):
            if r.get("Type", "").endswith("/officeDocument"):
                member = self._member(_resolve("", r.get("Target", "")))
                if member is not None:
                    return member
        member = self._member("xl/workbook.xml")
        if member is None:
            raise _unreadable("keine Arbeitsmappe in der ZIP-Datei")
        return member

    def _rel_elements(self, part: str) -> list[ET.Element]:
        rels = self._member(posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels"))
        if rels is None:
            return []
        return list(ET.fromstring(self.zip.read(rels)).iter(f"{{{PKG_REL}}}Relationship"))

    def _rels(self, part: str) -> dict[str, str]:
        return {r.get("Id", ""): r.get("Target", "") for r in self._rel_elements(part)}

    @property
    def sheet_names(self) -> list[str]:
        return [s.name for s in self.sheets]

    def rows(self, name: str) -> Generator[tuple[int, list[Any]], None, None]:
        """(sheet row number, cells from column A on) for every row from row 1, rows the
        file leaves out as empty lists; a row's cells end at its last cell in the file."""
        sheet = next(s for s in self.sheets if s.name == name)
        limit = DEFAULT_LIMITS.max_cells
        widest = 0
        try:
            with self.zip.open(sheet.member) as f:
                # The extent is bounded while reading, never taken from <dimension>: a row
                # number or column past Excel's grid, or more cells up to the last one than the
                # cell limit, is refused as the archive check refuses it (issue 15).
                for number, cells in _sheet_rows(f, self.shared, self.style_kind, self.date1904):
                    if len(cells) > widest:
                        widest = len(cells)
                    if number > EXCEL_MAX_ROWS or number * max(widest, 1) > limit:
                        raise extent_refused(sheet.member, max(widest, 1), number, None)
                    yield number, cells
        except _TooWide as wide:
            raise extent_refused(sheet.member, wide.cols, wide.row, None) from None
        except (XlsxError, ArchiveRefused):
            raise
        except (
            ET.ParseError,
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
            KeyError,
            IndexError,
        ) as exc:
            raise _unreadable(f"Tabellenblatt „{name}“: {type(exc).__name__}") from exc


def _resolve(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base, target))


@functools.cache
def _patterns(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The token pattern of a sheet whose elements carry `prefix` ("" or "x:"). The first
    alternative is the cell as Excel and XlsxWriter write it (r, s, t in this order; a
    <v> or a plain inline string): one match gives all of it. Any other cell (other
    attributes, formulas, rich text, self-closing) takes the second, parsed in Python."""
    p = re.escape(prefix)
    token = re.compile(
        rf'<{p}c r="([A-Z]{{1,3}})\d+"(?: s="(\d+)")?(?: t="([a-zA-Z]+)")?>'
        rf"(?:<{p}v>([^<]*)</{p}v>|<{p}is><{p}t>([^<]*)</{p}t></{p}is>)</{p}c>"
        rf"|(<{p}c\b[^>]*?)(?:/>|>(.*?)</{p}c>)"
        rf'|(<{p}row\b(?: r="(\d+)")?[^>]*?)(/?)>'
        rf"|(</{p}row>)",
        re.S,
    )
    inner = re.compile(rf"<{p}v>([^<]*)</{p}v>|<{p}is>(.*?)</{p}is>|<{p}v/>", re.S)
    return token, inner


_ATTR = re.compile(r'([\w:]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_REF = re.compile(r"([A-Z]{1,3})(\d*)")
_ROW_R = re.compile(r'\sr\s*=\s*["\'](\d+)["\']')


def column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


class _ColumnIndex(dict[str, int]):
    """Column letters -> 0-based index, computed once per distinct letters."""

    def __missing__(self, letters: str) -> int:
        i = self[letters] = column_index(letters)
        return i


def _excel_day(value: float, date1904: bool) -> Any:
    """A date-formatted number as calamine gives it: counted from 1899-12-30 (1904 system:
    1462 days later; before 1 March 1900 one day more, Excel's phantom 29 February), a
    time of day for a value below 1, else a date (the record path keeps a timestamp's day)."""
    f = value + 1462 if date1904 else value
    if f < 60:
        f += 1
    stamp = dt.datetime(1899, 12, 30) + dt.timedelta(milliseconds=round(f * 86_400_000))
    if value < 1:
        return stamp.time()
    return stamp.date()


class _Values:
    """Cell text to value, memoised: a roster repeats the same dates and numbers."""

    def __init__(self, shared: list[str], style_kind: list[str], date1904: bool) -> None:
        self.shared = shared
        self.kind = style_kind
        self.date1904 = date1904
        self.memo: dict[tuple[str, str, str], Any] = {}
        self.by_attrs: dict[tuple[str, str], Any] = {}
        self.by_span: dict[str, Any] = {}  # the C scanner's memo, filled by `span`

    def __call__(self, t: str, s: str, v: str) -> Any:
        key = (t, s, v)
        hit = self.memo.get(key, self)
        if hit is not self:
            return hit
        value = self._convert(t, s, v)
        if len(self.memo) < 200_000 and t != "str":
            self.memo[key] = value
        return value

    def _convert(self, t: str, s: str, v: str) -> Any:
        if t == "s":
            return self.shared[int(v)] if v.strip() else ""
        if t in ("", "n"):
            if not v.strip():
                return ""
            x = float(v)
            kind = self.kind[int(s)] if s and int(s) < len(self.kind) else ""
            if kind == "date":
                try:
                    return _excel_day(x, self.date1904)
                except (OverflowError, ValueError):
                    return _number(x)
            if kind == "duration":
                return dt.timedelta(days=x)
            return _number(x)
        if t == "b":
            return v.strip() in ("1", "true")
        if t == "e":
            return ""
        if t == "d":
            try:
                return dt.datetime.fromisoformat(v.strip()).date()
            except ValueError:
                return unescape(v)
        return _ooxml_unescape(unescape(v))  # "str", "inlineStr" with <v>

    def span(self, key: str) -> Any:
        """The cell of a <v> the C scanner met: `key` is the span of the input from after the
        cell's r to its text (` s="3" t="s"><v>12`), so the attributes and text are those that
        `_simple_rows` passes to `_attr_cell`, and what is memoised is the same."""
        k = key.index(">")
        x, keep = _attr_cell(key[:k], key[k + 4 :], self)
        if keep and len(self.by_span) < 200_000:
            self.by_span[key] = x
        return x


def _number(x: float) -> Any:
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


def _sheet_rows(
    f: IO[bytes], shared: list[str], style_kind: list[str], date1904: bool
) -> Iterator[tuple[int, list[Any]]]:
    head = f.read(CHUNK)
    m = re.search(rb"<(\w+:)?sheetData\b[^>]*?(/?)>", head)
    while m is None:
        more = f.read(CHUNK)
        if not more:
            if re.search(rb"</(\w+:)?(worksheet|dialogsheet|chartsheet)>", head):
                return  # a sheet without cells
            raise EOFError("sheet ends early")
        head += more
        m = re.search(rb"<(\w+:)?sheetData\b[^>]*?(/?)>", head)
    if m.group(2):
        return
    prefix = (m.group(1) or b"").decode("ascii")
    token, inner = _patterns(prefix)
    row_end = f"</{prefix}row>".encode()
    data_end = f"</{prefix}sheetData>".encode()
    value = _Values(shared, style_kind, date1904)
    columns = _ColumnIndex()
    buf = head[m.end() :]
    number = 0  # the last row given
    cells: list[Any] = []
    in_row = False
    done = False
    while True:
        end = buf.find(data_end)
        if end >= 0:
            cut, done = end, True
        else:
            cut = buf.rfind(row_end)
            if cut < 0:
                more = f.read(CHUNK)
                if not more:
                    raise EOFError("sheetData not closed")
                buf += more
                continue
            cut += len(row_end)
        # Cut after a tag, so never inside a UTF-8 sequence: the piece decodes on its own.
        text = buf[:cut].decode("utf-8")
        plain = "&" not in text and "_x" not in text  # no entity, no _xHHHH_ escape
        fast = None
        if not (in_row or prefix):
            scanner = xlsx_native.scanner
            if scanner is not None:  # the C translation of _simple_rows; None: it declines
                fast = scanner.scan_rows(
                    text, number, value.by_span, value.span, value.shared, EXCEL_MAX_ROWS, EXCEL_MAX_COLUMNS
                )
            if fast is None:
                fast = _simple_rows(text, plain, number, columns, value)
        if fast is not None:
            yield from fast
            if fast:
                number = fast[-1][0]
            text = ""
        for col, s, t, v, inl, attrs, body, rattrs, rnum, rclose, rend in token.findall(text):
            if col:  # a plain cell
                i = columns[col]
                if t == "inlineStr":
                    x = inl if plain else _ooxml_unescape(unescape(inl))
                else:
                    x = value(t, s, v)
            elif rend:
                in_row = False
                yield number, cells
                cells = []
                continue
            elif rattrs:
                if in_row:  # a row not closed before the next: given all the same
                    yield number, cells
                    cells = []
                if rnum:
                    at = int(rnum)
                else:
                    r = _ROW_R.search(rattrs)
                    at = int(r.group(1)) if r else number + 1
                while number + 1 < at:
                    number += 1
                    yield number, []
                number = max(at, number + 1)
                in_row = not rclose
                if rclose:
                    yield number, []
                continue
            else:  # any other cell
                i, x = _general_cell(attrs, body, len(cells), inner, value)
            n = len(cells)
            if i == n:
                cells.append(x)
            elif i > n:
                if i >= EXCEL_MAX_COLUMNS:
                    raise _TooWide(i + 1, number)
                cells.extend([""] * (i - n))
                cells.append(x)
            else:
                cells[i] = x  # a cell given twice: the last counts
        if done:
            if in_row:
                yield number, cells
            return
        buf = buf[cut:]
        more = f.read(CHUNK)
        if not more and data_end not in buf:
            raise EOFError("sheetData not closed")
        buf += more


_SIMPLE_CELL = re.compile(r'<c r="([A-Z]{1,3})\d+"([^>]*)>(<v>|<is><t>)([^<]*)')


def _simple_rows(
    text: str, plain: bool, number: int, columns: dict[str, int], value: _Values
) -> list[tuple[int, list[Any]]] | None:
    """The rows of a piece of sheet XML in which every row has its r and every cell is
    `<c r=".." ...><v>..</v></c>` or a plain inline string (how XlsxWriter and Excel write
    a roster), by a lighter pattern and counting; None if the piece has anything else, for
    the full token pattern. A well-formed piece whose '<' count is what those forms make
    has no other element."""
    pieces = text.split("</row>")
    if pieces[-1].strip() or text.count("<row") != len(pieces) - 1 or "<row r=" not in text:
        return None
    n_cells = text.count("<c")
    n_v, n_is = text.count("<v>"), text.count("<is>")
    if n_cells != text.count('<c r="') or n_v + n_is != n_cells:
        return None
    if text.count("<") != 2 * (len(pieces) - 1) + 4 * n_v + 6 * n_is:
        return None
    # (attributes after r, <v> text) -> cell: a roster repeats its codes, dates and numbers.
    memo = value.by_attrs
    out: list[tuple[int, list[Any]]] = []
    found = 0
    for piece in pieces[:-1]:
        start = piece.find('<row r="')
        if start < 0 or piece[:start].strip():
            return None
        q = piece.find('"', start + 8)
        head_end = piece.find(">", q)
        if not piece[start + 8 : q].isdigit() or piece[head_end - 1] == "/":
            return None
        at = int(piece[start + 8 : q])
        if at <= number or at > EXCEL_MAX_ROWS:
            # Rows out of order: the full pattern's rules apply; a row past the grid too, whose
            # gap rows that pattern gives one by one (refused at once), never as one list here.
            return None
        while number + 1 < at:
            number += 1
            out.append((number, []))
        number = at
        cells: list[Any] = []
        matches = _SIMPLE_CELL.findall(piece, head_end)
        found += len(matches)
        for col, attrs, tag, v in matches:
            if tag == "<is><t>":
                x: Any = v if plain else _ooxml_unescape(unescape(v))
            else:
                x = memo.get((attrs, v), memo)
                if x is memo:
                    x = _attr_value(attrs, v, value)
            i = columns[col]
            n = len(cells)
            if i == n:
                cells.append(x)
            elif i > n:
                if i >= EXCEL_MAX_COLUMNS:
                    raise _TooWide(i + 1, number)
                cells.extend([""] * (i - n))
                cells.append(x)
            else:
                cells[i] = x
        out.append((number, cells))
    return out if found == n_cells else None


def _attr_value(attrs: str, v: str, value: _Values) -> Any:
    """The cell of a <v> whose cell has these attributes (after r), memoised by both."""
    x, keep = _attr_cell(attrs, v, value)
    if keep and len(value.by_attrs) < 200_000:
        value.by_attrs[(attrs, v)] = x
    return x


def _attr_cell(attrs: str, v: str, value: _Values) -> tuple[Any, bool]:
    """The cell of a <v> with these attributes, and whether it may be memoised (a text
    cell's value is not: `str` cells are few and their texts many)."""
    a = {k.split(":")[-1]: v1 or v2 for k, v1, v2 in _ATTR.findall(attrs)}
    t = a.get("t", "")
    x = value("str" if t == "inlineStr" else t, a.get("s", ""), v)
    return x, t != "str" and t != "inlineStr"


def _general_cell(attrs: str, body: str, position: int, inner: re.Pattern[str], value: _Values) -> tuple[int, Any]:
    a: dict[str, str] = {}
    for k, v1, v2 in _ATTR.findall(attrs):
        a[k.split(":")[-1]] = v1 or v2
    ref = a.get("r")
    i = position
    if ref:
        m = _REF.match(ref.strip().upper())
        if m is None:
            raise ValueError("bad cell reference")
        i = column_index(m.group(1))
    t = a.get("t", "")
    s = a.get("s", "")
    if not body:
        return i, ""
    v = ""
    inline: str | None = None
    for vm in inner.finditer(body):
        if vm.group(1) is not None and vm.group(2) is None:
            v = vm.group(1)
        elif vm.group(2) is not None:
            inline = vm.group(2)
    if t == "inlineStr":
        if inline is None:
            return i, value("str", "", v) if v else ""
        return i, _inline_text(inline)
    return i, value(t, s, v)


def _inline_text(body: str) -> str:
    root = ET.fromstring(f'<is xmlns="{MAIN}">' + _strip_prefix(body) + "</is>")
    return _text_of(root)


def _strip_prefix(body: str) -> str:
    return re.sub(r"<(/?)\w+:", r"<\1", body)
