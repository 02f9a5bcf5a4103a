"""A streaming reader for .xlsx/.xlsm sheets: the sheet XML is inflated from the zip in
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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree as ET

from .headers import SCAN_ROWS, Header, find_header
from .model import FactSpec
from .rosters import Block, InputRow, RosterInfo, _info_of

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CHUNK = 1 << 20

SUFFIXES = (".xlsx", ".xlsm")


class XlsxError(ValueError):
    """An .xlsx file this reader cannot read; the message is German."""


def _unreadable(why: str) -> XlsxError:
    return XlsxError(f"Tabellendatei nicht lesbar ({why})")


# Built-in number formats that show a date or a time (ECMA-376 §18.8.30); 45–47 are times.
_BUILTIN_DATES = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47})
_DURATION = re.compile(r"\[(?:h+|m+|s+)\]", re.I)


def _format_kind(code: str) -> str:
    """"date", "duration" or "" for a custom number format: a date when it has a d, m, y,
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
                kind = custom[fid] if fid in custom else ("date" if fid in _BUILTIN_DATES else "")
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

    def rows(self, name: str) -> Iterator[tuple[int, list[Any]]]:
        """(sheet row number, cells from column A on) for every row from row 1, rows the
        file leaves out as empty lists; a row's cells end at its last cell in the file."""
        sheet = next(s for s in self.sheets if s.name == name)
        try:
            with self.zip.open(sheet.member) as f:
                yield from _sheet_rows(f, self.shared, self.style_kind, self.date1904)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError, IndexError) as exc:
            raise _unreadable(f"Tabellenblatt „{name}“: {type(exc).__name__}") from exc


def _resolve(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base, target))


@functools.lru_cache(maxsize=None)
def _patterns(prefix: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """The token pattern of a sheet whose elements carry `prefix` ("" or "x:"). The first
    alternative is the cell as Excel and XlsxWriter write it (r, s, t in this order; a
    <v> or a plain inline string): one match gives all of it. Any other cell (other
    attributes, formulas, rich text, self-closing) takes the second, parsed in Python."""
    p = re.escape(prefix)
    token = re.compile(
        rb"<"
        + p
        + rb'c r="([A-Z]{1,3})\d+"(?: s="(\d+)")?(?: t="([a-zA-Z]+)")?>(?:<'
        + p
        + rb"v>([^<]*)</"
        + p
        + rb"v>|<"
        + p
        + rb"is><"
        + p
        + rb"t>([^<]*)</"
        + p
        + rb"t></"
        + p
        + rb"is>)</"
        + p
        + rb"c>"
        + rb"|(<"
        + p
        + rb"c\b[^>]*?)(?:/>|>(.*?)</"
        + p
        + rb"c>)"
        + rb"|(<"
        + p
        + rb"row\b[^>]*?)(/?)>"
        + rb"|(</"
        + p
        + rb"row>)",
        re.S,
    )
    inner = re.compile(
        rb"<" + p + rb"v>([^<]*)</" + p + rb"v>|<" + p + rb"is>(.*?)</" + p + rb"is>|<" + p + rb"v/>", re.S
    )
    return token, inner


_ATTR = re.compile(rb'([\w:]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_REF = re.compile(rb"([A-Z]{1,3})(\d*)")
_ROW_R = re.compile(rb'\br\s*=\s*["\'](\d+)["\']')


@functools.lru_cache(maxsize=4096)
def column_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


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
        self.memo: dict[tuple[bytes, bytes, bytes], Any] = {}

    def __call__(self, t: bytes, s: bytes, v: bytes) -> Any:
        key = (t, s, v)
        hit = self.memo.get(key, self)
        if hit is not self:
            return hit
        value = self._convert(t, s, v)
        if len(self.memo) < 200_000 and t != b"str":
            self.memo[key] = value
        return value

    def _convert(self, t: bytes, s: bytes, v: bytes) -> Any:
        if t == b"s":
            return self.shared[int(v)] if v.strip() else ""
        if t in (b"", b"n"):
            if not v.strip():
                return ""
            x = float(v)
            kind = self.kind[int(s)] if s and int(s) < len(self.kind) else ""
            if kind == "date":
                try:
                    day = _excel_day(x, self.date1904)
                except (OverflowError, ValueError):
                    return _number(x)
                return day
            if kind == "duration":
                return dt.timedelta(days=x)
            return _number(x)
        if t == b"b":
            return v.strip() in (b"1", b"true")
        if t == b"e":
            return ""
        if t == b"d":
            try:
                return dt.datetime.fromisoformat(v.decode().strip()).date()
            except ValueError:
                return unescape(v.decode())
        return _ooxml_unescape(unescape(v.decode("utf-8")))  # "str", "inlineStr" with <v>


def _number(x: float) -> Any:
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


def _sheet_rows(f: IO[bytes], shared: list[str], style_kind: list[str], date1904: bool) -> Iterator[tuple[int, list[Any]]]:
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
    prefix = m.group(1) or b""
    token, inner = _patterns(prefix)
    row_end = b"</" + prefix + b"row>"
    data_end = b"</" + prefix + b"sheetData>"
    value = _Values(shared, style_kind, date1904)
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
        for col, s, t, v, inl, attrs, body, rattrs, rclose, rend in token.findall(buf, 0, cut):
            if col:  # a plain cell
                i = column_index(col)
                x = _ooxml_unescape(unescape(inl.decode("utf-8"))) if t == b"inlineStr" else value(t, s, v)
            elif rend:
                in_row = False
                yield number, cells
                cells = []
                continue
            elif rattrs:
                if in_row:  # a row not closed before the next: given all the same
                    yield number, cells
                    cells = []
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
                if i < 0:
                    continue
            if i == len(cells):
                cells.append(x)
            elif i > len(cells):
                cells.extend([""] * (i - len(cells)))
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


def _general_cell(attrs: bytes, body: bytes, position: int, inner: re.Pattern[bytes], value: _Values) -> tuple[int, Any]:
    a: dict[bytes, bytes] = {}
    for k, v1, v2 in _ATTR.findall(attrs):
        a[k.split(b":")[-1]] = v1 or v2
    ref = a.get(b"r")
    i = position
    if ref:
        m = _REF.match(ref.strip().upper())
        if m is None:
            raise ValueError("bad cell reference")
        i = column_index(m.group(1))
    t = a.get(b"t", b"")
    s = a.get(b"s", b"")
    if not body:
        return i, ""
    v = b""
    inline: bytes | None = None
    for vm in inner.finditer(body):
        if vm.group(1) is not None and vm.group(2) is None:
            v = vm.group(1)
        elif vm.group(2) is not None:
            inline = vm.group(2)
    if t == b"inlineStr":
        if inline is None:
            return i, value(b"str", b"", v) if v else ""
        return i, _inline_text(inline)
    return i, value(t, s, v)


def _inline_text(body: bytes) -> str:
    root = ET.fromstring(b'<is xmlns="' + MAIN.encode() + b'">' + _strip_prefix(body) + b"</is>")
    return _text_of(root)


def _strip_prefix(body: bytes) -> bytes:
    return re.sub(rb"<(/?)\w+:", rb"<\1", body)


# ---------------------------------------------------------------- rosters


@dataclasses.dataclass(frozen=True)
class Opened:
    """A sheet chosen by its header: the rows read to find it and the rest to come."""

    workbook: Workbook
    name: str
    header: Header
    head: list[tuple[int, list[Any]]]
    rest: Iterator[tuple[int, list[Any]]]


def open_roster(path: str, facts: Mapping[str, FactSpec], sheet: str | None = None) -> Opened | None:
    """The workbook's sheet with the best header (or `sheet`), None if no sheet has one."""
    wb = Workbook(path)
    names = wb.sheet_names
    if sheet is not None and sheet not in names:
        wb.close()
        raise ValueError(f"Tabellenblatt „{sheet}“ gibt es nicht; die Datei hat: " + ", ".join(f"„{n}“" for n in names))
    chosen: Opened | None = None
    try:
        for name in [sheet] if sheet is not None else names:
            it = wb.rows(name)
            head: list[tuple[int, list[Any]]] = []
            for row in it:
                head.append(row)
                if len(head) >= SCAN_ROWS:
                    break
            h = find_header([r for _, r in head], facts)
            if h is not None and (chosen is None or h.score > chosen.header.score):
                if chosen is not None:
                    chosen.rest.close()  # type: ignore[attr-defined]
                chosen = Opened(wb, name, h, head, it)
            else:
                it.close()
    except BaseException:
        wb.close()
        raise
    if chosen is None:
        wb.close()
    return chosen


def data_rows(opened: Opened) -> Iterator[tuple[int, list[Any]]]:
    """The rows below the header, with their sheet row numbers."""
    h = opened.header
    yield from opened.head[h.index + h.height :]
    yield from opened.rest


def _blank(row: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in row)


def read_xlsx(
    path: str | Path, facts: Mapping[str, FactSpec], sheet: str | None = None
) -> tuple[RosterInfo, Iterator[InputRow]]:
    """The roster of an .xlsx sheet row by row, as `rosters.read_xlsx` gives it."""
    opened, info = _open(path, facts, sheet)
    if opened is None:
        return info, iter(())
    mapping = dict(opened.header.mapping)
    width = len(opened.header.names)

    def rows() -> Iterator[InputRow]:
        try:
            number = 0
            for sheet_row, row in data_rows(opened):
                if not row or _blank(row):
                    continue
                number += 1
                if len(row) < width:
                    row = row + [""] * (width - len(row))
                yield InputRow(number, {fact: row[i] for i, fact in mapping.items()}, line=sheet_row)
        finally:
            opened.workbook.close()

    return info, rows()


def read_xlsx_blocks(
    path: str | Path, facts: Mapping[str, FactSpec], sheet: str | None = None, block_rows: int = 20_000
) -> tuple[RosterInfo, Iterator[Block]]:
    """The same rows in blocks of columns (fact -> list of cells) for the batch path."""
    opened, info = _open(path, facts, sheet)
    if opened is None:
        return info, iter(())
    mapping = sorted(opened.header.mapping.items())
    width = max([len(opened.header.names)] + [i + 1 for i, _ in mapping])
    pad = [""] * width

    def flush(first: int, chunk: list[list[Any]]) -> Block:
        # Rows are cut or padded to the header's width and turned into columns in C.
        cols = list(zip(*chunk))
        return Block(first, len(chunk), columns={fact: list(cols[i]) for i, fact in mapping})

    def blocks() -> Iterator[Block]:
        try:
            number = 0
            chunk: list[list[Any]] = []
            for _, row in data_rows(opened):
                if not row or _blank(row):
                    continue
                number += 1
                n = len(row)
                chunk.append(row if n == width else row[:width] if n > width else row + pad[n:])
                if len(chunk) >= block_rows:
                    yield flush(number - len(chunk) + 1, chunk)
                    chunk = []
            if chunk:
                yield flush(number - len(chunk) + 1, chunk)
        finally:
            opened.workbook.close()

    return info, blocks()


def _open(path: str | Path, facts: Mapping[str, FactSpec], sheet: str | None) -> tuple[Opened | None, RosterInfo]:
    opened = open_roster(str(path), facts, sheet)
    if opened is None:
        return None, RosterInfo("xlsx", sheet=sheet)
    _, info = _info_of(opened.header, "xlsx")
    info.german = True
    info.sheet = opened.name
    return opened, info


def is_xlsx(path: str | Path) -> bool:
    """An Office Open XML workbook (.xlsx, .xlsm) by its content, whatever its name:
    a zip with an XML workbook part (.xlsb holds a binary one, .ods no workbook part)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return False
        with zipfile.ZipFile(path) as z:
            return any(n.lower().endswith("workbook.xml") for n in z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
