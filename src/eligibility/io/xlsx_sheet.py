"""The sheet level of the streaming .xlsx/.xlsm reader (`xlsx_reader` reads rosters with it): the sheet XML is inflated from the zip in
1 MB pieces and its cells are picked out with one compiled regular expression, so memory
stays flat however long the roster is (python-calamine, used for .xls/.xlsb/.ods, loads a
whole sheet: ~1.2 GB at 10^6 rows) and the rows can go to the column-wise batch path in
blocks. Cells come out as calamine's cells through `rosters._cell`: text, bool, int for a
whole number, float, `datetime.date` for a date-formatted number (1900 or 1904 system),
"" for empty and error cells (a test compares both readers on generated workbooks)."""

from __future__ import annotations

import dataclasses
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
from eligibility.io.xlsx_cells import MAIN as MAIN
from eligibility.io.xlsx_cells import (
    _ColumnIndex,
    _general_cell,
    _ooxml_unescape,
    _simple_rows,
    _text_of,
    _TooWide,
    _Values,
    unescape,
)

REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CHUNK = 1 << 20


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
            self.shared = self._shared_strings(ss)
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

    def _shared_strings(self, member: str) -> list[str]:
        """The string table: by the C scanner when it is built and the part is in its form and
        at most SHARED_IN_ONE bytes (it reads the part whole), else by `shared_strings`."""
        scanner = xlsx_native.scanner
        if scanner is not None and self.zip.getinfo(member).file_size <= SHARED_IN_ONE:
            found: list[str] | None = scanner.scan_shared(self.zip.read(member))
            if found is not None:
                return found
        with self.zip.open(member) as f:
            return shared_strings(f)

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
        for batch in self.row_lists(name):
            yield from batch

    def row_lists(self, name: str) -> Generator[list[tuple[int, list[Any]]], None, None]:
        """The same rows in lists of consecutive rows (a piece's rows, or one), for the block
        path: no generator step per row."""
        sheet = next(s for s in self.sheets if s.name == name)
        limit = DEFAULT_LIMITS.max_cells
        widest = 0
        try:
            with self.zip.open(sheet.member) as f:
                # The extent is bounded while reading, never taken from <dimension>: a row
                # number or column past Excel's grid, or more cells up to the last one than the
                # cell limit, is refused as the archive check refuses it (issue 15). Row numbers
                # rise within a list and `widest` only grows, so its last row settles the whole
                # list; a list that fails is checked row by row to refuse at the same row.
                for batch in _sheet_rows(f, self.shared, self.style_kind, self.date1904):
                    wide = max(map(len, [cells for _, cells in batch]), default=0)
                    number = batch[-1][0] if batch else 0
                    # A row given cell by cell from A on reaches past XFD without the padding
                    # that refuses a column there (_TooWide): its width settles it.
                    if (
                        number <= EXCEL_MAX_ROWS
                        and wide <= EXCEL_MAX_COLUMNS
                        and number * max(widest, wide, 1) <= limit
                    ):
                        widest = max(widest, wide)
                        yield batch
                        continue
                    for number, cells in batch:
                        if len(cells) > widest:
                            widest = len(cells)
                        if number > EXCEL_MAX_ROWS or widest > EXCEL_MAX_COLUMNS or number * max(widest, 1) > limit:
                            raise extent_refused(sheet.member, max(widest, 1), number, None)
                        yield [(number, cells)]
        except _TooWide as wide_:
            raise extent_refused(sheet.member, wide_.cols, wide_.row, None) from None
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
            OverflowError,  # a cell's number no timedelta holds (a [h]:mm:ss cell of 1e300)
        ) as exc:
            raise _unreadable(f"Tabellenblatt „{name}“: {type(exc).__name__}") from exc


# The C scanner reads a string table whole (a roster's 100,000 names: ~3 MB); a larger one is
# streamed by ElementTree, so memory stays bounded by the table's strings.
SHARED_IN_ONE = 64 << 20


def shared_strings(f: IO[bytes]) -> list[str]:
    """The strings of a sharedStrings.xml, streamed (the reference the C scanner translates)."""
    out: list[str] = []
    for _, el in ET.iterparse(f):
        if el.tag == f"{{{MAIN}}}si":
            out.append(_text_of(el))
            el.clear()
    return out


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


_ROW_R = re.compile(r'\sr\s*=\s*["\'](\d+)["\']')


def _sheet_rows(
    f: IO[bytes], shared: list[str], style_kind: list[str], date1904: bool
) -> Iterator[list[tuple[int, list[Any]]]]:
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
            if fast:
                yield fast
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
                yield [(number, cells)]
                cells = []
                continue
            elif rattrs:
                if in_row:  # a row not closed before the next: given all the same
                    yield [(number, cells)]
                    cells = []
                if rnum:
                    at = int(rnum)
                else:
                    r = _ROW_R.search(rattrs)
                    at = int(r.group(1)) if r else number + 1
                while number + 1 < at:
                    number += 1
                    yield [(number, [])]
                number = max(at, number + 1)
                in_row = not rclose
                if rclose:
                    yield [(number, [])]
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
                yield [(number, cells)]
            return
        buf = buf[cut:]
        more = f.read(CHUNK)
        if not more and data_end not in buf:
            raise EOFError("sheetData not closed")
        buf += more
