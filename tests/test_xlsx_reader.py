"""The streaming .xlsx reader gives the cells calamine gives (through `rosters._cell`), on
workbooks written by XlsxWriter (shared and inline strings) and openpyxl, and the same
roster rows and decisions as the calamine path."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook
from xlsxwriter.utility import xl_col_to_name as letters

from eligibility import Engine
from eligibility.apps.evaluate import _pylist
from eligibility.io import xlsx_native
from eligibility.io.rosters import _cell
from eligibility.io.xlsx_reader import Workbook, XlsxError, is_xlsx, read_xlsx, read_xlsx_blocks


@pytest.fixture(autouse=True, params=["native", "python"])
def reader_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test of the reader runs with the C scanner (where it is built) and without it
    (ELIGIBILITY_NATIVE=0, also for the reader process): both give the same cells."""
    if request.param == "python":
        monkeypatch.setattr(xlsx_native, "scanner", None)
        monkeypatch.setenv(xlsx_native.SWITCH, "0")
    elif xlsx_native.scanner is None:
        pytest.skip("the C scanner is not built or switched off")
    return str(request.param)


TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("&<>\"' \t"),
    max_size=12,
)
CELL = st.one_of(
    st.none(),
    TEXT,
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda x: abs(x) < 1e300),
    st.booleans(),
    st.dates(dt.date(1900, 3, 1), dt.date(2200, 12, 31)),
    st.datetimes(dt.datetime(1900, 3, 1), dt.datetime(2200, 12, 31)).map(lambda d: d.replace(microsecond=0)),
)
SHEET = st.lists(st.lists(CELL, max_size=6), max_size=8)


def _write(path: Path, sheets: list[list[list[Any]]], writer: str, date1904: bool = False) -> None:
    if writer == "openpyxl":
        import openpyxl

        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        if date1904:
            wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
        for n, rows in enumerate(sheets):
            ws = wb.create_sheet(f"Blatt {n + 1}")
            for r, row in enumerate(rows, start=1):
                for c, v in enumerate(row, start=1):
                    if v is None or v == "":
                        continue
                    cell = ws.cell(r, c, v)
                    if isinstance(v, dt.datetime):
                        cell.number_format = "yyyy-mm-dd hh:mm:ss"
                    elif isinstance(v, dt.date):
                        cell.number_format = "dd.mm.yyyy"
        wb.save(path)
        return
    import xlsxwriter

    options: dict[str, Any] = {"constant_memory": writer == "inline", "date_1904": date1904}
    wb = xlsxwriter.Workbook(str(path), options)
    day = wb.add_format({"num_format": "dd.mm.yyyy"})
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for n, rows in enumerate(sheets):
        ws = wb.add_worksheet(f"Blatt {n + 1}")
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, bool):
                    ws.write_boolean(r, c, v)
                elif isinstance(v, dt.datetime):
                    ws.write_datetime(r, c, v, stamp)
                elif isinstance(v, dt.date):
                    ws.write_datetime(r, c, v, day)
                elif isinstance(v, (int, float)):
                    ws.write_number(r, c, v)
                else:
                    ws.write_string(r, c, v)
    wb.close()


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for r in rows:
        r = list(r)
        while r and r[-1] == "":
            r.pop()
        out.append(r)
    while out and not out[-1]:
        out.pop()
    return out


def calamine_rows(path: Path) -> dict[str, list[list[Any]]]:
    """Calamine's rows from column A (its rows start at the sheet's first used column)."""
    wb = CalamineWorkbook.from_path(str(path))
    out = {}
    for name in wb.sheet_names:
        sheet = wb.get_sheet_by_name(name)
        rows = [[_cell(c) for c in r] for r in sheet.iter_rows()]
        if rows and any(any(c != "" for c in r) for r in rows):
            left = sheet.start[1] if sheet.start else 0
            rows = [[""] * left + r for r in rows]
        out[name] = _trim(rows)
    wb.close()
    return out


def stream_rows(path: Path) -> dict[str, list[list[Any]]]:
    wb = Workbook(str(path))
    try:
        out = {}
        for name in wb.sheet_names:
            rows: list[list[Any]] = []
            for number, row in wb.rows(name):
                assert number == len(rows) + 1  # every sheet row, in order, numbered as Excel does
                rows.append(row)
            out[name] = _trim(rows)
        return out
    finally:
        wb.close()


def _same(a: Any, b: Any) -> bool:
    # -0.0 and 0.0 are the same cell; floats are compared exactly otherwise.
    return type(a) is type(b) and a == b


def assert_same(path: Path) -> None:
    got, want = stream_rows(path), calamine_rows(path)
    assert list(got) == list(want)
    for name in want:
        assert len(got[name]) == len(want[name]), name
        for g, w in zip(got[name], want[name]):
            assert len(g) == len(w) and all(_same(x, y) for x, y in zip(g, w)), (name, g, w)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sheets=st.lists(SHEET, min_size=1, max_size=3),
    writer=st.sampled_from(["shared", "inline", "openpyxl"]),
    date1904=st.booleans(),
)
def test_stream_reader_gives_calamines_cells(tmp_path: Path, sheets: Any, writer: str, date1904: bool) -> None:
    if writer == "openpyxl":
        # openpyxl writes a text of only spaces, tabs or line feeds without xml:space="preserve";
        # calamine trims such a <t> to "", this reader keeps its characters (the engine strips
        # cell text, so no decision differs). A known difference, not what this test compares.
        sheets = [
            [[("" if isinstance(v, str) and not v.strip(" \t\n\r") else v) for v in row] for row in rows]
            for rows in sheets
        ]
    path = tmp_path / "w.xlsx"
    _write(path, sheets, writer, date1904)
    assert_same(path)


def test_rich_text_inline_strings_sparse_rows_and_errors(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "rich.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Liste")
    bold = wb.add_format({"bold": True})
    ws.write_rich_string(0, 0, "Auf", bold, "enthalts", "status")
    ws.write_string(0, 3, "  Zugang & <BW>  ")
    ws.write_formula(1, 0, "=1/0", None, "#DIV/0!")
    ws.write_formula(1, 1, '="a"&"b"', None, "ab")
    ws.write_formula(1, 2, "=1+1", None, 2)
    ws.write_number(9, 5, 44197, wb.add_format({"num_format": "[$-407]d. mmmm yyyy"}))
    ws.write_number(9, 6, 7, wb.add_format({"num_format": '"Tag "0'}))
    ws.write_number(9, 7, 44197.5, wb.add_format({"num_format": 14}))
    ws.write_number(10, 0, 1.25, wb.add_format({"num_format": "0.00"}))
    wb.close()
    assert_same(path)
    rows = stream_rows(path)["Liste"]
    assert rows[0] == ["Aufenthaltsstatus", "", "", "  Zugang & <BW>  "]
    assert rows[9][5:] == [dt.date(2021, 1, 1), 7, dt.date(2021, 1, 1)]


def _rewrite(path: Path, member: str, fn: Any) -> Path:
    """A copy of the workbook with one part changed (as other programs write it)."""
    out = path.with_name("anders.xlsx")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, fn(data) if info.filename == member else data)
    return out


def test_other_writers_forms_of_the_sheet_xml(tmp_path: Path) -> None:
    """Cells without r (positional), rows without r, attributes in another order and a
    namespace prefix: read as calamine reads them."""
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<x:dimension ref="A1:B1"/><x:sheetData>'
        b'<x:row r="2"><x:c t="inlineStr"><x:is><x:t>a&amp;b</x:t></x:is></x:c><x:c><x:v>2.5</x:v></x:c></x:row>'
        b'<x:row><x:c t="b" r=\'C3\'><x:v>0</x:v></x:c><x:c r="E3" t="str"><x:f>X</x:f><x:v>&lt;y&gt;</x:v></x:c>'
        b'<x:c r="F3"/></x:row>'
        b'<x:row r="5" spans="1:2"><x:c r="B5" t="inlineStr"><x:is><x:r><x:t xml:space="preserve">&#xE4; </x:t></x:r>'
        b"<x:r><x:t>&#246;</x:t></x:r><x:rPh><x:t>phon</x:t></x:rPh></x:is></x:c></x:row>"
        b"</x:sheetData></x:worksheet>"
    )
    base = tmp_path / "base.xlsx"
    _write(base, [[["x"]]], "shared")
    path = _rewrite(base, "xl/worksheets/sheet1.xml", lambda _: sheet)
    rows = stream_rows(path)["Blatt 1"]
    assert rows == [[], ["a&b", 2.5], ["", "", False, "", "<y>"], [], ["", "ä ö"]]
    assert_same(path)


def test_a_broken_file_is_a_german_error_not_a_traceback(tmp_path: Path) -> None:
    base = tmp_path / "base.xlsx"
    _write(base, [[["ID"], ["1"]]], "shared")
    cut = _rewrite(base, "xl/worksheets/sheet1.xml", lambda d: d[: len(d) // 2])
    wb = Workbook(str(cut))
    with pytest.raises(XlsxError, match="Tabellendatei nicht lesbar"):
        list(wb.rows("Blatt 1"))
    wb.close()
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    # The archive check runs before the reader opens the file (issue 15) and says what is wrong.
    with pytest.raises(ValueError, match="Tabellendatei ist beschädigt"):
        Workbook(str(junk))
    assert is_xlsx(base) and not is_xlsx(junk)


@pytest.mark.parametrize(
    "cell",
    [b'<c r="A2" s="1"><v>1e300</v>', b'<c r="A2" t="str"><v>&#99999999999999999999;</v>'],
    ids=["duration", "char-reference"],
)
def test_a_cell_past_what_python_holds_is_a_german_error_not_a_traceback(tmp_path: Path, cell: bytes) -> None:
    """A [h]:mm:ss cell whose number no timedelta holds (1e300 days; calamine raises too), or a
    character reference past any int: the conversion's OverflowError is a broken file like any
    other, not a traceback on the command line nor an English message in the service."""
    import xlsxwriter

    base = tmp_path / "base.xlsx"
    wb = xlsxwriter.Workbook(str(base))
    ws = wb.add_worksheet("Blatt 1")
    ws.write_string(0, 0, "Dauer")
    ws.write_number(1, 0, 1.5, wb.add_format({"num_format": 46}))
    wb.close()
    huge = _rewrite(base, "xl/worksheets/sheet1.xml", lambda d: re.sub(rb'<c r="A2"[^>]*><v>1.5</v>', cell, d))
    wb2 = Workbook(str(huge))
    with pytest.raises(XlsxError, match="Tabellendatei nicht lesbar"):
        list(wb2.rows("Blatt 1"))
    wb2.close()


def test_a_row_given_cell_by_cell_past_xfd_is_refused(tmp_path: Path) -> None:
    """A row with every cell from A to XFE: the cell at XFE lands where the row ends (no
    padding, where the reader checks the grid), yet is past Excel's last column all the same
    and refused as XFE alone is."""
    from eligibility.io.archive_check import ArchiveRefused

    row = '<row r="1">' + "".join(f'<c r="{letters(i)}1"><v>{i}</v></c>' for i in range(16385)) + "</row>"
    base = tmp_path / "base.xlsx"
    _write(base, [[[1]]], "shared")
    wide = _rewrite(
        base,
        "xl/worksheets/sheet1.xml",
        lambda d: re.sub(rb"<sheetData>.*</sheetData>", f"<sheetData>{row}</sheetData>".encode(), d, flags=re.S),
    )
    wb = Workbook(str(wide))
    with pytest.raises(ArchiveRefused, match="reicht bis Zelle XFE1"):
        list(wb.rows("Blatt 1"))
    wb.close()


def test_bench_roster_rows_equal_calamines(tmp_path: Path) -> None:
    """A roster as `bench/roster_bench.py` makes it (generate-roster, then convert): the
    same InputRows from both readers, and the same blocks."""
    from click.testing import CliRunner

    from eligibility.cli.main import main

    engine = Engine.load()
    csv_src, xlsx_src = tmp_path / "r.csv", tmp_path / "r.xlsx"
    for args in (
        ["generate-roster", "--rows", "3000", "--out", str(csv_src), "--dirty-rate", "0.05"],
        ["convert", str(csv_src), "--out", str(xlsx_src)],
    ):
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code in (0, 1), result.output
    facts = engine.entity(None).facts
    assert_same(xlsx_src)
    info, rows = read_xlsx(xlsx_src, facts)
    got = [(r.number, r.record, r.error, r.line) for r in rows]
    want = [(r.number, r.record, r.error, r.line) for r in _calamine_roster(xlsx_src, facts)]
    assert got == want and len(got) > 2900
    assert info.columns and info.sheet
    _, blocks = read_xlsx_blocks(xlsx_src, facts, block_rows=700)
    flat = []
    for b in blocks:
        assert b.columns is not None
        cols = {k: _pylist(v) for k, v in b.columns.items()}
        flat += [(b.first + i, {k: v[i] for k, v in cols.items()}) for i in range(b.n)]
    assert flat == [(n, rec) for n, rec, _, _ in got]


def _calamine_roster(path: Path, facts: Any) -> list[Any]:
    """The roster rows of the calamine path (as rosters.read_xlsx read .xlsx before)."""
    from eligibility.io import rosters, xlsx_reader

    real = xlsx_reader.is_xlsx
    try:
        xlsx_reader.is_xlsx = lambda p: False  # type: ignore[assignment]
        _, rows = rosters.read_xlsx(path, facts)
        return list(rows)
    finally:
        xlsx_reader.is_xlsx = real  # type: ignore[assignment]


def test_is_xlsx_tells_xlsx_from_other_zips(tmp_path: Path) -> None:
    ods = tmp_path / "a.ods"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("content.xml", "<x/>")
    ods.write_bytes(buf.getvalue())
    assert not is_xlsx(ods)


def _dirty_workbook(path: Path, n: int = 1500, mixed_dates: bool = True) -> None:
    """A roster as an office keeps it in Excel: a title row, real date cells and dates typed
    as text, numbers as ids, yes/no as text and as booleans, blank and half-blank rows,
    sparse rows, wrong values, an error cell, a time, a date too late to compute with, and
    one column the rules do not know. Without `mixed_dates` the date columns hold date cells
    (one in year 9999) and empty cells only, as a program's export does."""
    import random

    import xlsxwriter

    from eligibility.apps.synth import records

    rnd = random.Random(7)
    engine = Engine.load()
    facts = engine.entity(None).facts
    header = list(facts)
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Personen")
    day = wb.add_format({"num_format": "dd.mm.yyyy"})
    ws.write_string(0, 0, "Liste Landkreis Beispiel, Stand September")
    for c, h in enumerate(header + ["Bemerkung"]):
        ws.write_string(2, c, h)
    r = 3
    for k, rec in enumerate(records(n, dirty_rate=0.1)):
        r += 1
        if k % 97 == 5:
            r += 1  # a blank row between
        if k % 211 == 3:
            ws.write_string(r, 2, "   ")  # a row of spaces only
            r += 1
        for c, fact in enumerate(header):
            v = rec.get(fact)
            roll = rnd.random()
            if v is None:
                if roll < 0.1:
                    ws.write_string(r, c, "")
                continue
            if isinstance(v, dt.date):
                if not mixed_dates:
                    late = roll < 0.002
                    ws.write_datetime(
                        r, c, dt.datetime(9999, 12, 31) if late else dt.datetime(v.year, v.month, v.day), day
                    )
                elif roll < 0.15:
                    ws.write_string(r, c, v.strftime("%d.%m.%Y"))
                elif roll < 0.17:
                    ws.write_string(r, c, "31.02.2017")
                elif roll < 0.175:
                    ws.write_datetime(r, c, dt.datetime(9999, 12, 31), day)
                elif roll < 0.18:
                    ws.write_number(r, c, 0.25, wb.add_format({"num_format": "hh:mm"}))
                else:
                    ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), day)
            elif isinstance(v, bool):
                if roll < 0.3:
                    ws.write_boolean(r, c, v)
                elif roll < 0.32:
                    ws.write_number(r, c, 1)
                else:
                    ws.write_string(r, c, "ja" if v else "nein")
            elif fact == header[0] and roll < 0.05:
                ws.write_number(r, c, k)
            elif roll < 0.01:
                ws.write_formula(r, c, "=1/0", None, "#DIV/0!")
            else:
                ws.write_string(r, c, f" {v}" if roll < 0.03 else str(v))
        if rnd.random() < 0.05:
            ws.write_string(r, len(header), "Akte & <Nachweis> fehlt")
    wb.close()


@pytest.mark.parametrize("mixed_dates", [True, False])
@pytest.mark.parametrize("out_suffix", ["csv", "xlsx"])
def test_block_path_output_is_byte_identical_to_the_row_path(
    tmp_path: Path, out_suffix: str, mixed_dates: bool
) -> None:
    """XLSX in: the blocks of typed columns (lists of cells; date columns as Arrow dates
    where they hold only dates) give the very bytes that calamine's rows through the
    per-row path gave, error rows included, to CSV and to the XLSX result."""
    import pyarrow as pa

    from eligibility.apps.evaluate import evaluate_roster
    from eligibility.io import xlsx_reader

    src = tmp_path / "dirty.xlsx"
    _dirty_workbook(src, mixed_dates=mixed_dates)
    facts = Engine.load().entity(None).facts
    _, blocks = read_xlsx_blocks(src, facts)
    arrow = [k for b in blocks for k, v in (b.columns or {}).items() if isinstance(v, pa.Array)]
    assert bool(arrow) is not mixed_dates  # the Arrow date path is what this case tests
    engine = Engine.load()
    on = dt.date(2018, 9, 15)
    new = evaluate_roster(engine, src, on, tmp_path / f"new.{out_suffix}")
    real = xlsx_reader.is_xlsx
    try:
        xlsx_reader.is_xlsx = lambda p: False  # type: ignore[assignment]
        old = evaluate_roster(engine, src, on, tmp_path / f"old.{out_suffix}")
    finally:
        xlsx_reader.is_xlsx = real  # type: ignore[assignment]
    assert (tmp_path / f"new.{out_suffix}").read_bytes() == (tmp_path / f"old.{out_suffix}").read_bytes()
    assert (new.rows, new.decided, new.unknown, new.errors) == (old.rows, old.decided, old.unknown, old.errors)
    assert new.rows == 1500 and new.errors > 0 and new.unknown > 0


def test_blocks_from_the_reader_process_equal_the_in_process_blocks(tmp_path: Path) -> None:
    """A large sheet is parsed by a child process: the same blocks, numbers and cells."""
    src = tmp_path / "dirty.xlsx"
    _dirty_workbook(src, n=800)
    facts = Engine.load().entity(None).facts
    runs = []
    for parallel in (False, True):
        info, blocks = read_xlsx_blocks(src, facts, block_rows=300, parallel=parallel)
        runs.append((info, [(b.first, b.n, b.columns) for b in blocks]))
    assert runs[0] == runs[1] and sum(n for _, n, _ in runs[0][1]) == 800


def test_the_reader_process_reports_a_broken_sheet_in_german(tmp_path: Path) -> None:
    base = tmp_path / "base.xlsx"
    _write(base, [[["person_id"]] + [[f"P{i}"] for i in range(100)]], "shared")
    cut = _rewrite(base, "xl/worksheets/sheet1.xml", lambda d: d.replace(b"</sheetData>", b""))
    facts = Engine.load().entity(None).facts
    info, blocks = read_xlsx_blocks(cut, facts, parallel=True)  # the header is read here
    assert info.columns == {"person_id": "person_id"}
    with pytest.raises(XlsxError, match="Tabellendatei nicht lesbar"):
        list(blocks)


@pytest.fixture(scope="module")
def broken_roster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A roster whose sheet XML ends two thirds in: the header reads, the rows break."""
    tmp = tmp_path_factory.mktemp("broken")
    good = tmp / "gut.xlsx"
    _dirty_workbook(good, n=600)
    return _rewrite(good, "xl/worksheets/sheet1.xml", lambda d: d[: len(d) * 2 // 3])


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "{src}", "--on", "15.09.2018", "--out", "{tmp}/e.csv"],
        ["evaluate", "{src}", "--on", "15.09.2018", "--out", "{tmp}/e.xlsx"],
        ["convert", "{src}", "--out", "{tmp}/c.csv"],
        ["report", "{src}", "--on", "15.09.2018", "--out", "{tmp}/r.html"],
        ["allocation", "{src}", "--year", "2018"],
        ["upcoming", "{src}", "--on", "15.09.2018", "--within", "90d"],
    ],
)
def test_a_sheet_broken_midway_is_exit_2_with_a_german_message(
    broken_roster: Path, tmp_path: Path, args: list[str]
) -> None:
    from click.testing import CliRunner

    from eligibility.cli.main import main

    argv = [a.format(src=broken_roster, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "Tabellendatei nicht lesbar" in result.output and "Traceback" not in result.output


def test_the_upload_page_answers_a_broken_workbook_with_a_message(broken_roster: Path) -> None:
    from starlette.testclient import TestClient

    from eligibility.service import create_app

    client = TestClient(create_app())
    for what in ("ergebnis", "bericht"):
        r = client.post(
            "/liste",
            data={"stichtag": "15.09.2018", "ausgabe": what},
            files={"datei": ("liste.xlsx", broken_roster.read_bytes())},
        )
        assert r.status_code == 422 and "Tabellendatei nicht lesbar" in r.text
