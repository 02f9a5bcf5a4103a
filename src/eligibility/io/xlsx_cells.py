"""The cell level of the .xlsx reader (`xlsx_sheet` reads the sheet XML with it): a cell's
text and attributes to calamine's cell (`_Values`, memoised), the light per-row reading of a
piece in the simple form (`_simple_rows`, which the C scanner `_xlsxscan.c` translates), and
the general cell (formulas, rich text, other writers' attributes)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from xml.etree import ElementTree as ET

from eligibility.io.archive_check import EXCEL_MAX_COLUMNS, EXCEL_MAX_ROWS

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


class _TooWide(Exception):
    """A cell reference past Excel's last column (XFD), found before its row is padded."""

    def __init__(self, cols: int, row: int) -> None:
        super().__init__(cols, row)
        self.cols = cols
        self.row = row


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


_ATTR = re.compile(r'([\w:]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_REF = re.compile(r"([A-Z]{1,3})(\d*)")


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
