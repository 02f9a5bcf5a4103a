"""The C scanner of sheet XML (`eligibility.io._xlsxscan`) is a translation of the Python
reader's `_simple_rows`: on every piece, in the simple form or not (hostile ones too: huge
column letters, rows out of order or given twice, NUL, truncated tags, non-ASCII text), it
gives exactly the rows the Python path gives, cell types included, or declines (None); and
on the form XlsxWriter and Excel write a roster in it does not decline. Run once under
PYTHONMALLOC=debug (bench/RESULTS.md)."""

from __future__ import annotations

import os
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xlsxwriter.utility import xl_col_to_name as _letters

from eligibility.io import xlsx_cells as xs
from eligibility.io import xlsx_native, xlsx_sheet

scanner = xlsx_native.scanner
needs_scanner = pytest.mark.skipif(scanner is None, reason="the C scanner is not built or switched off")

SHARED = ["Ja", "Nein", "Müller", "", "Aufenthaltsgestattung"]
STYLES = ["", "date", "duration", "", "date"]


def test_the_extension_is_built_where_ci_requires_it() -> None:
    if os.environ.get(xlsx_native.REQUIRE) != "1":
        pytest.skip(f"{xlsx_native.REQUIRE} is not set")
    assert os.environ.get(xlsx_native.SWITCH) != "0", "the scanner is switched off where it is required"
    from eligibility.io import _xlsxscan

    assert scanner is _xlsxscan


def _typed(rows: list[tuple[int, list[Any]]] | None) -> Any:
    # Cells compared with their types (1, 1.0 and True are equal in Python, not as cells).
    if rows is None:
        return None
    return [(n, [(type(c).__name__, repr(c)) for c in cells]) for n, cells in rows]


def _python(text: str, number: int, date1904: bool) -> Any:
    value = xs._Values(SHARED, STYLES, date1904)
    plain = "&" not in text and "_x" not in text
    return xs._simple_rows(text, plain, number, xs._ColumnIndex(), value)


def _native(text: str, number: int, date1904: bool, value: xs._Values | None = None) -> Any:
    assert scanner is not None
    value = value or xs._Values(SHARED, STYLES, date1904)
    return scanner.scan_rows(
        text, number, value.by_span, value.span, value.shared, xs.EXCEL_MAX_ROWS, xs.EXCEL_MAX_COLUMNS
    )


def assert_translates(text: str, number: int = 0, date1904: bool = False) -> Any:
    """The scanner's rows equal the reference's, or it declines; returns its answer."""
    try:
        want = _typed(_python(text, number, date1904))
    except (ValueError, IndexError, KeyError, OverflowError, xs._TooWide):
        want = "raises"
    got = _native(text, number, date1904)
    if got is not None:
        assert _typed(got) == want, text
    return got


# ---------------------------------------------------------------- pieces


def rarely(common: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the common form, one draw in ~12 hostile: a piece is then often read whole by
    the scanner (and compared), and often declined somewhere (and checked to decline)."""
    return st.integers(0, 11).flatmap(lambda k: hostile if k == 0 else common)


COLUMN = rarely(
    st.integers(0, 40).map(_letters),
    st.sampled_from(["XFD", "XFE", "ZZZ", "AAAA", "a", ""]),  # the grid's edge and past it
)
VALUE_TEXT = rarely(
    st.sampled_from(["0", "1", "2", "4", "17", "-3", "1.5", "43000", "43000.25", "0.5", "1e3", "-0", "007"]),
    st.one_of(
        st.sampled_from(["nan", " ", "", "2018-09-15", "true", "TRUE", "#N/A", "abc", "&amp;", "_x0009_", "5\x00"]),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=6).filter(lambda s: "<" not in s),
    ),
)
ATTRS = rarely(
    st.sampled_from(["", ' s="1"', ' s="2"', ' s="4"', ' t="s"', ' s="1" t="n"', ' t="b"', ' t="e"', ' t="str"']),
    st.sampled_from([' t="inlineStr"', ' t="d"', " t='s'", ' s="9"', ' s="x"', ' x:t="s"', " /", ' t="s"/', ' t="ü"']),
)
INLINE_TEXT = rarely(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<&_"), max_size=8),
    st.sampled_from(["a&amp;b", "_x000A_", "x_y", "\x00", "<", "_"]),
)
ROW_HEAD = rarely(
    st.sampled_from(['<row r="{}">', '<row r="{}" spans="1:3">']), st.sampled_from(["<row>", '<row r="{}"/>'])
)
STEP = rarely(st.sampled_from([1, 1, 1, 2, 5]), st.sampled_from([0, -1, 1_048_576]))


@st.composite
def cell(draw: st.DrawFn, row: int) -> str:
    ref = f'r="{draw(COLUMN)}{row}"'
    if draw(st.integers(0, 3)):
        return f"<c {ref}{draw(ATTRS)}><v>{draw(VALUE_TEXT)}</v></c>"
    attrs = draw(st.sampled_from(["", ' t="inlineStr"', ' s="1"']))
    return f"<c {ref}{attrs}><is><t>{draw(INLINE_TEXT)}</t></is></c>"


@st.composite
def piece(draw: st.DrawFn) -> tuple[str, int]:
    start = draw(st.integers(0, 5))
    at = start
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        at = max(at + draw(STEP), 0)  # gaps, dupes, rows out of order and past the grid
        sep = draw(st.sampled_from(["", "", "\n", " "]))
        cells = "".join(draw(st.lists(cell(at), max_size=5)))
        rows.append(sep + draw(ROW_HEAD).format(at) + cells + "</row>")
    text = "".join(rows)
    if draw(st.integers(0, 5)) == 0:  # a hostile edit: cut, or junk in between
        k = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(["", "<f>1</f>", "&", "<", ">", "\x00", "ü", '"', '<row r="99999999999">']))
        text = text[:k] + junk + (text[k:] if draw(st.booleans()) else "")
    return text, start


@needs_scanner
@settings(max_examples=1500, deadline=None)
@given(p=piece(), date1904=st.booleans())
def test_scanner_gives_the_python_rows_or_declines(p: tuple[str, int], date1904: bool) -> None:
    text, number = p
    assert_translates(text, number, date1904)


@needs_scanner
@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from(list('<>/"= rcvistw123ABZ\n&_x\x00ü')), max_size=80))
def test_scanner_on_arbitrary_text(text: str) -> None:
    assert_translates(text)


@st.composite
def roster_piece(draw: st.DrawFn) -> tuple[str, list[tuple[int, list[Any]]]]:
    """A piece as XlsxWriter writes a roster (shared strings, numbers, dates, inline text)."""
    rows = []
    at = draw(st.integers(0, 3))
    for _ in range(draw(st.integers(1, 6))):
        at += draw(st.sampled_from([1, 1, 2]))
        cells = []
        for c in sorted(draw(st.sets(st.integers(0, 30), max_size=6))):
            ref = f'r="{_letters(c)}{at}"'
            kind = draw(st.sampled_from(["s", "n", "date", "inline"]))
            if kind == "s":
                cells.append(f'<c {ref} t="s"><v>{draw(st.integers(0, len(SHARED) - 1))}</v></c>')
            elif kind == "n":
                cells.append(f"<c {ref}><v>{draw(st.integers(-(10**6), 10**6))}</v></c>")
            elif kind == "date":
                cells.append(f'<c {ref} s="1"><v>{draw(st.integers(1, 80000))}</v></c>')
            else:
                text = draw(
                    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<&_"), max_size=8)
                )
                cells.append(f'<c {ref} t="inlineStr"><is><t>{text}</t></is></c>')
        rows.append(f'<row r="{at}" spans="1:31">' + "".join(cells) + "</row>")
    text = "".join(rows)
    return text, _python(text, 0, False)


@needs_scanner
@settings(max_examples=300, deadline=None)
@given(p=roster_piece())
def test_scanner_reads_the_roster_form_itself(p: tuple[str, Any]) -> None:
    text, want = p
    got = _native(text, 0, False)
    assert got is not None, text  # the form it is for: no decline
    assert _typed(got) == _typed(want)


@needs_scanner
def test_scanner_declines_what_only_the_python_path_reads() -> None:
    cases = [
        '<row r="1"><c r="A1"><v>1</v></c><c r="B1"><f>1+1</f><v>2</v></c></row>',  # a formula
        '<row r="1"><c r="A1" t="inlineStr"><is><t>a&amp;b</t></is></c></row>',  # an entity
        '<row r="1"><c r="A1" t="inlineStr"><is><t>a_x000A_b</t></is></c></row>',  # an _x escape
        '<row r="2"><c r="A2"><v>1</v></c></row><row r="1"></row>',  # out of order
        '<row r="1"><c r="XFE1"><v>1</v></c></row>',  # past the last column
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048577"></row>',  # past the last row
        '<row r="1"><c r="A1" t="s"><v>99</v></c></row>',  # a shared string that is not there
        '<row r="1"><c r="A1"><v>1</v></c>',  # a row not closed in the piece
        '<row r="1"><c r="A1"/></row>',  # a self-closing cell
        "",
    ]
    for text in cases:
        assert assert_translates(text) is None, text


@needs_scanner
def test_scanner_memoises_as_the_python_path_does() -> None:
    value = xs._Values(SHARED, STYLES, False)
    text = '<row r="1"><c r="A1" t="s"><v>2</v></c><c r="B1" t="str"><v>x</v></c><c r="C1" s="1"><v>43000</v></c></row>'
    rows = _native(text, 0, False, value)
    assert rows is not None and rows[0][1][0] == "Müller"
    # a number is memoised by its span; a formula's text is not, and a shared string in
    # XlsxWriter's form is taken from the table itself (its index is unique per name)
    assert set(value.by_span) == {' s="1"><v>43000'}


@needs_scanner
@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, MemoryError])
def test_scanner_lets_an_interrupt_in_a_conversion_through(exc: type[BaseException]) -> None:
    """The scanner declines where a conversion fails (the Python path then raises its error),
    but Ctrl-C, an exit or a memory error raised inside one is not the piece's failure: the
    Python path lets it through, so must the scanner. While the scanner runs, the conversion is
    the only Python code, so an interrupt of a long read is raised there; swallowed, it is lost."""
    assert scanner is not None

    def convert(key: str) -> Any:
        raise exc

    text = '<row r="1"><c r="A1"><v>1</v></c></row>'
    with pytest.raises(exc):
        scanner.scan_rows(text, 0, {}, convert, [], xs.EXCEL_MAX_ROWS, xs.EXCEL_MAX_COLUMNS)

    def fails(key: str) -> Any:
        raise ValueError(key)

    assert scanner.scan_rows(text, 0, {}, fails, [], xs.EXCEL_MAX_ROWS, xs.EXCEL_MAX_COLUMNS) is None


def test_workbook_tests_run_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch: with the scanner set to None (what ELIGIBILITY_NATIVE=0 gives) a sheet is
    read by the Python path alone, with the same rows."""
    text = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    sheet = ("<worksheet><sheetData>" + text + "</sheetData></worksheet>").encode()
    import io

    def read() -> list[tuple[int, list[Any]]]:
        return [row for rows in xlsx_sheet._sheet_rows(io.BytesIO(sheet), SHARED, STYLES, False) for row in rows]

    with_scanner = read()
    monkeypatch.setattr(xlsx_native, "scanner", None)
    assert read() == with_scanner == [(1, ["Ja"])]


def test_letters_helper() -> None:
    assert [_letters(i) for i in (0, 25, 26, 16383)] == ["A", "Z", "AA", "XFD"]
    assert all(xs.column_index(_letters(i)) == i for i in range(0, 800, 7))
    assert set(_letters(5)) <= set(string.ascii_uppercase)


# ---------------------------------------------------------------- the string table

SST = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
SST_TEXT = rarely(
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<&_\ufffe\uffff"), max_size=10),
    st.one_of(
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
        st.sampled_from(["a&amp;b", "_x000A_", "x_y", "\x00", "\x01", "\r\n", "]]>", "\t\n", "\ufffe", "&#10;", "<"]),
    ),
)
SI = rarely(
    st.sampled_from(["<si><t>{}</t></si>", '<si><t xml:space="preserve">{}</t></si>']),
    st.sampled_from(
        ["<si><r><t>{}</t></r></si>", "<si><t>{}</t><rPh><t>x</t></rPh></si>", "<si><t/></si>", "<x:si>{}</x:si>"]
    ),
)


@st.composite
def string_table(draw: st.DrawFn) -> bytes:
    head = draw(rarely(st.sampled_from([DECL + "\n", DECL + "\r\n", ""]), st.sampled_from(["\ufeff", " ", DECL])))
    attrs = draw(
        rarely(
            st.sampled_from(["", ' count="3" uniqueCount="2"', ' uniqueCount="2"', ' uniqueCount="2" count="9"']),
            st.sampled_from([' count="1" count="2"', " count='1'", ' count=""', ' foo="1"', "/"]),
        )
    )
    items = "".join(draw(SI).format(draw(SST_TEXT)) for _ in range(draw(st.integers(0, 6))))
    tail = draw(
        rarely(st.sampled_from(["</sst>", "</sst>\n"]), st.sampled_from(["", "</sst><x/>", "</sst>x", "</ss>"]))
    )
    text = head + SST + attrs + ">" + items + tail
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 7)) == 0:  # a cut, or a broken byte
        k = draw(st.integers(0, len(data)))
        data = data[:k] + draw(st.sampled_from([b"", b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[k:]
    return data


@needs_scanner
@settings(max_examples=1000, deadline=None)
@given(data=string_table())
def test_string_table_scan_gives_the_reference_strings_or_declines(data: bytes) -> None:
    import io

    assert scanner is not None
    got = scanner.scan_shared(data)
    try:
        want: Any = xlsx_sheet.shared_strings(io.BytesIO(data))
    except xlsx_sheet.ET.ParseError:
        want = "raises"
    if got is not None:
        assert got == want, data


@needs_scanner
@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<&_\ufffe\uffff")).filter(
            lambda t: "]]>" not in t  # not allowed in XML text: the reference's parser refuses it
        )
    )
)
def test_string_table_scan_reads_xlsxwriters_form_itself(texts: list[str]) -> None:
    import io

    assert scanner is not None
    data = (DECL + "\n" + SST + f' count="{len(texts)}" uniqueCount="{len(texts)}">').encode()
    data += "".join(f"<si><t>{t}</t></si>" for t in texts).encode() + b"</sst>"
    assert scanner.scan_shared(data) == xlsx_sheet.shared_strings(io.BytesIO(data)) == texts
