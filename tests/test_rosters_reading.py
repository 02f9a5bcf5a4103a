"""Reading rosters as German offices keep them: written forms of values, country names,
German numbers and dates, headers found not assumed, broken lines recovered."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from eligibility import Engine
from eligibility.cli.main import main
from eligibility.decision.records import convert_value, normalize
from eligibility.io import rosters as rosters_module
from eligibility.io.rosters import read_roster
from eligibility.lang.values import UNKNOWN
from eligibility.source.forms import countries, country_forms, declared_forms, fold

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
FACTS = ENGINE.entity().facts
STELLE = ENGINE.entity("stelle").facts


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def spellings(text):
    """The ways an office writes one form: as declared, upper case, without umlauts, with
    runs of spaces, and a § with or without its space."""
    plain = (
        text.replace("ä", "ae")
        .replace("ö", "oe")
        .replace("ü", "ue")
        .replace("Ä", "Ae")
        .replace("Ö", "Oe")
        .replace("Ü", "Ue")
        .replace("ß", "ss")
    )
    out = {text, text.upper(), plain, plain.lower(), "  " + text.replace(" ", "   ") + " "}
    if "§ " in text:
        out.add(text.replace("§ ", "§"))
    if "§" in text and "§ " not in text:
        out.add(text.replace("§", "§ "))
    return sorted(out)


def _cp1252(text):
    try:
        text.encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


def _form_rows(facts):
    """(fact, written, expected value) for every form the schema declares, every
    spelling of it, and every country name — so adding a form to the schema tests it."""
    rows = []
    for name, spec in facts.items():
        if spec.type == "enum" or spec.forms:
            for f in declared_forms(spec):
                for s in spellings(f.text):
                    rows.append((name, s, f.value))
        if spec.format == "iso3166_alpha3":
            names = countries()
            for written, code in country_forms():
                if fold(written) in names and _cp1252(written):  # shared names are refused (below)
                    rows.append((name, written, code))
    return [r for r in rows if _cp1252(r[1])]


@pytest.mark.parametrize("entity,id_field", [("person", "person_id"), ("stelle", "antrag_id")])
def test_every_declared_form_and_country_name_read_from_a_cp1252_semicolon_file(tmp_path, entity, id_field):
    facts = ENGINE.entity(entity).facts
    rows = _form_rows(facts)
    assert len(rows) > (1000 if entity == "person" else 40)
    fields = [id_field] + sorted({r[0] for r in rows})
    headers = [facts[f].aliases[0] if facts[f].aliases else f for f in fields]
    path = tmp_path / "formen.csv"
    with path.open("w", encoding="cp1252", newline="") as fh:
        w = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        w.writerow(headers)
        for i, (fact, written, _) in enumerate(rows):
            w.writerow([f"R{i}" if f == id_field else (written if f == fact else "") for f in fields])
    info, it = read_roster(path, facts)
    assert info.encoding == "cp1252" and info.delimiter == ";"
    got = list(it)
    assert len(got) == len(rows)
    for (fact, written, expected), row in zip(rows, got):
        typed, errors = normalize(row.record, facts)
        assert not errors, (fact, written, errors)
        assert typed[fact] == expected, (fact, written)
    # The table path (Arrow blocks, one conversion per distinct cell) reads them the same.
    out = tmp_path / "ergebnis.csv"
    r = run("evaluate", path, "--on", "2018-09-15", "--out", out, "--entity", entity, "--allow-missing")
    result = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert len(result) == len(rows)
    assert all(not row["fehler"] for row in result), [row["fehler"] for row in result if row["fehler"]][:3]
    assert r.exit_code == 0


@pytest.mark.parametrize(
    "written,expected",
    [
        ("Flüchtling", "fluechtling"),
        ("anerkannter Flüchtling", "fluechtling"),
        ("FLUECHTLING", "fluechtling"),
        ("subsidiärer Schutz", "subsidiaer"),
        ("Subsidiaerer  Schutz", "subsidiaer"),
        ("Aufenthaltsgestattung", "gestattung"),
        ("Gestattung", "gestattung"),
        ("Duldung", "duldung"),
        ("§ 24 AufenthG", "schutz_24"),
        ("§24 AufenthG", "schutz_24"),
        ("vorübergehender Schutz", "schutz_24"),
        ("Asylberechtigt", "asylberechtigt"),
        ("Abschiebungsverbot", "abschiebungsverbot"),
        ("ausreisepflichtig", "ausreisepflichtig"),
        ("eingebürgert", "eingebuergert"),
        ("§§ 22/23 AufenthG", "aufnahme_22_23"),
        ("§§22/23 AufenthG", "aufnahme_22_23"),
        ("Aufenthaltsgestattung (§ 55 AsylG)", "gestattung"),
    ],
)
def test_residence_status_as_people_write_it(written, expected):
    assert convert_value("aufenthaltsstatus", FACTS["aufenthaltsstatus"], written) == (expected, None)


@pytest.mark.parametrize(
    "written,expected",
    [
        ("vorläufig", "vorlaeufig"),
        ("vorläufige Unterbringung", "vorlaeufig"),
        ("GU", "vorlaeufig"),
        ("gu", "vorlaeufig"),
        ("Gemeinschaftsunterkunft", "vorlaeufig"),
        ("AUB", "anschluss"),
        ("Anschlussunterbringung", "anschluss"),
        ("eigene Wohnung", "privat"),
        ("privat", "privat"),
        ("LEA", "erstaufnahme"),
        ("EA", "erstaufnahme"),
        ("Erstaufnahme", "erstaufnahme"),
    ],
)
def test_housing_as_people_write_it(written, expected):
    assert convert_value("unterbringung", FACTS["unterbringung"], written) == (expected, None)


@pytest.mark.parametrize(
    "written,expected",
    [
        ("Syrien", "SYR"),
        ("Syria", "SYR"),
        ("SYR", "SYR"),
        ("syr", "SYR"),
        ("Iran", "IRN"),
        ("Türkei", "TUR"),
        ("Tuerkei", "TUR"),
        ("Turkey", "TUR"),
        ("Russland", "RUS"),
        ("Russische Föderation", "RUS"),
        ("Kosovo", "XKX"),
        ("Ukraine", "UKR"),
        ("Afghanistan", "AFG"),
        ("Eritrea", "ERI"),
        ("Irak", "IRQ"),
        ("Iraq", "IRQ"),
        ("Somalia", "SOM"),
        ("Syrien, Arabische Republik", "SYR"),
        ("Nordmazedonien", "MKD"),
    ],
)
def test_country_names_german_and_english_as_alpha3(written, expected):
    assert convert_value("herkunftsland", FACTS["herkunftsland"], written) == (expected, None)


def test_a_country_name_that_matches_nothing_suggests_the_closest():
    value, err = convert_value("herkunftsland", FACTS["herkunftsland"], "Syrein")
    assert value is UNKNOWN and "am nächsten: SYR" in err.de and "Syrein" not in err.de
    # "Korea" is two countries: no guess.
    assert convert_value("herkunftsland", FACTS["herkunftsland"], "Korea")[0] is UNKNOWN


def test_a_value_that_matches_nothing_names_label_and_closest_value():
    value, err = convert_value("aufenthaltsstatus", FACTS["aufenthaltsstatus"], "Dulding")
    assert value is UNKNOWN
    assert "„Aufenthaltsstatus“" in err.de and "am nächsten: duldung" in err.de
    assert "closest: duldung" in err.en
    assert "Dulding" not in err.de  # error texts reach terminals: no personal values


@pytest.mark.parametrize("field", sorted(FACTS))
def test_unbekannt_in_any_case_is_unknown_in_every_field(field):
    for w in ("unbekannt", "UNBEKANNT", "Unbekannt", " unbekannt "):
        assert convert_value(field, FACTS[field], w) == (UNKNOWN, None)


def test_stelle_enums_as_people_write_them():
    assert convert_value("antragsteller_art", STELLE["antragsteller_art"], "Landkreis")[0] == "landkreis"
    assert convert_value("antragsteller_art", STELLE["antragsteller_art"], "GVV")[0] == "gemeindeverbund"
    assert (
        convert_value("stelleninhaber_qualifikation", STELLE["stelleninhaber_qualifikation"], "Berufsausbildung")[0]
        == "ausbildung"
    )


@pytest.mark.parametrize(
    "written,expected",
    [
        ("1.500", 1500),
        ("1500", 1500),
        ("1 500", 1500),
        ("12.345.678", 12345678),
    ],
)
def test_german_whole_numbers(written, expected):
    assert convert_value("personen_stichtag_2017", STELLE["personen_stichtag_2017"], written) == (expected, None)


@pytest.mark.parametrize(
    "written,expected",
    [
        ("0,5", Decimal("0.5")),
        ("1.234,5", Decimal("1234.5")),
        ("0.5", Decimal("0.5")),
        ("0,25", Decimal("0.25")),
        ("2", Decimal("2")),
        ("1,500", Decimal("1.5")),
    ],
)
def test_german_decimals(written, expected):
    assert convert_value("vzae", STELLE["vzae"], written) == (expected, None)


@pytest.mark.parametrize(
    "field,written,reason",
    [
        ("vzae", "1.500", "mehrdeutige Zahl"),  # 1500 or 1,5?
        ("personen_stichtag_2017", "1,500", "mehrdeutige Zahl"),  # 1,5 or 1500?
        ("vzae", "1,234.5", "Tausenderkomma"),
        ("vzae", "1.2.3", "Zahl erwartet"),
        ("vzae", "٣", "Zahl erwartet"),
    ],
)
def test_ambiguous_or_foreign_numbers_are_refused_clearly(field, written, reason):
    value, err = convert_value(field, STELLE[field], written)
    assert value is UNKNOWN and reason in err.de and err.en


@pytest.mark.parametrize("written", ["01.02.17", "1.2.17"])
def test_two_digit_years_are_refused_with_a_clear_error(written):
    value, err = convert_value("aufnahme_uab_datum", FACTS["aufnahme_uab_datum"], written)
    assert value is UNKNOWN and "zweistellige Jahreszahl" in err.de


@pytest.mark.parametrize("written", ["٠١.٠٢.٢٠١٧", "２０１７-０２-０１", "2017-٠2-01"])
def test_dates_take_ascii_digits_only(written):
    value, err = convert_value("aufnahme_uab_datum", FACTS["aufnahme_uab_datum"], written)
    assert value is UNKNOWN and err.code == "date"


def test_dates_in_both_forms_still_read():
    spec = FACTS["aufnahme_uab_datum"]
    assert convert_value("aufnahme_uab_datum", spec, "01.02.2017")[0] == dt.date(2017, 2, 1)
    assert convert_value("aufnahme_uab_datum", spec, "2017-02-01")[0] == dt.date(2017, 2, 1)


# ---------------------------------------------------------------- headers

EXAMPLE = ROOT / "examples" / "roster_landkreis_beispiel.csv"


def _example_rows(n=40):
    text = EXAMPLE.read_bytes().decode("utf-8-sig", errors="replace")  # it holds a cp1252 line on purpose
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    return rows[0], rows[1 : n + 1]


def _evaluate(tmp_path, src, *extra):
    out = tmp_path / (Path(src).stem + "_erg.csv")
    r = run("evaluate", src, "--on", "2018-09-15", "--out", out, "--errors-ok", *extra)
    rows = (
        list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";")) if out.exists() else None
    )
    return r, rows


def _write_csv(path, rows):
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    header, body = _example_rows()
    r, rows = _evaluate(tmp, _write_csv(tmp / "plain.csv", [header] + body))
    assert r.exit_code == 0 and len(rows) == len(body)
    return rows


def test_a_mistyped_header_stops_the_run_with_the_closest_header(tmp_path):
    header, body = _example_rows()
    bad = [
        "Aufenthaltstatus" if h == "Aufenthaltsstatus" else "Unterbingung" if h == "Unterbringung" else h
        for h in header
    ]
    r, rows = _evaluate(tmp_path, _write_csv(tmp_path / "typo.csv", [bad] + body))
    assert r.exit_code == 2 and rows is None
    assert "(aufenthaltsstatus) fehlt" in r.output and "„Aufenthaltstatus“" in r.output
    assert "(unterbringung) fehlt" in r.output and "„Unterbingung“" in r.output
    assert "--missing-column aufenthaltsstatus" in r.output
    # and each unrecognised column is named with the field it probably means
    assert "Spalte „Unterbingung“ nicht erkannt – gemeint ist vielleicht „unterbringung“" in r.output


def test_a_title_row_above_the_header_is_skipped(tmp_path, baseline):
    header, body = _example_rows()
    rows = [
        ["Personenliste Landkreis Beispiel, Stand 15.09.2018"],
        [],
        ["erstellt von: Sachgebiet Integration"],
        header,
    ] + body
    r, got = _evaluate(tmp_path, _write_csv(tmp_path / "titel.csv", rows))
    assert r.exit_code == 0, r.output
    assert got == baseline


def _two_row(header):
    """A header as offices build it: a group cell over its sub-headers."""
    groups = {
        "Aufnahme UAB": ("Aufnahme", "UAB"),
        "Zugang BW": ("Zugang", "BW"),
        "Asylentscheidung unanfechtbar": ("Asylentscheidung", "unanfechtbar"),
    }
    top, bottom = [], []
    for h in header:
        t, b = groups.get(h, (h, ""))
        top.append(t)
        bottom.append(b)
    return top, bottom


def test_a_two_row_header_is_joined(tmp_path, baseline):
    header, body = _example_rows()
    top, bottom = _two_row(header)
    r, got = _evaluate(tmp_path, _write_csv(tmp_path / "zweizeilig.csv", [top, bottom] + body))
    assert r.exit_code == 0, r.output
    assert got == baseline


def test_a_merged_group_cell_over_two_columns_is_joined():
    from eligibility.io.headers import find_header

    h = find_header(
        [
            ["Personen-ID", "Aufnahme", "", "Status"],
            ["", "UAB", "untere Aufnahmebehörde", ""],
            ["X1", "01.01.2017", "", "duldung"],
        ],
        FACTS,
    )
    assert h.height == 2 and h.mapping == {0: "person_id", 1: "aufnahme_uab_datum", 3: "aufenthaltsstatus"}
    assert "Aufnahme untere Aufnahmebehörde" in h.ignored  # the same fact twice: the first column is read


def _xlsx(path, sheets):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append([_typed_cell(c) for c in row])
    wb.save(path)
    return path


def _typed_cell(c):
    """Cells as Excel users have them: dates as dates, numbers as numbers."""
    if isinstance(c, str) and len(c) == 10 and c[2] == "." and c[5] == ".":
        return dt.date(int(c[6:]), int(c[3:5]), int(c[:2]))
    return c if c != "" else None


def test_data_on_the_second_sheet_is_found_and_sheet_names_a_missing_one(tmp_path, baseline):
    header, body = _example_rows()
    top, bottom = _two_row(header)
    path = _xlsx(
        tmp_path / "export.xlsx",
        [
            ("Deckblatt", [["Landkreis Beispiel"], ["Personenliste"], ["Stand", "15.09.2018"]]),
            ("Personen", [["Personenliste Stand 15.09.2018"], top, bottom] + body),
        ],
    )
    r, got = _evaluate(tmp_path, path)
    assert r.exit_code == 0, r.output
    assert got == baseline
    r, _ = _evaluate(tmp_path, path, "--sheet", "Daten")
    assert r.exit_code == 2 and "Tabellenblatt „Daten“ gibt es nicht" in r.output
    assert "„Deckblatt“, „Personen“" in r.output
    r, got = _evaluate(tmp_path, path, "--sheet", "Personen")
    assert r.exit_code == 0 and got == baseline


def test_a_column_missing_on_purpose_is_unknown_for_every_row(tmp_path):
    header, body = _example_rows()
    drop = header.index("Herkunftsland")
    rows = [[c for i, c in enumerate(row) if i != drop] for row in [header] + body]
    src = _write_csv(tmp_path / "ohne_land.csv", rows)
    r, got = _evaluate(tmp_path, src)
    assert r.exit_code == 2 and got is None and "(herkunftsland) fehlt" in r.output
    r, got = _evaluate(tmp_path, src, "--missing-column", "herkunftsland")
    assert r.exit_code == 0, r.output
    assert len(got) == len(body) and "fehlt absichtlich" in r.output
    # the rules read it for Gestattung only (Bleibeperspektive): those rows stay open, naming it
    # (unless the person had not arrived yet on the Stichtag: then the priority is "nein" anyway)
    gest = [
        g
        for g, row in zip(got, body)
        if row[header.index("Aufenthaltsstatus")] == "gestattung" and g["prioritaet"] != "nein"
    ]
    assert gest and all("herkunftsland" in g["fehlende_angaben"] for g in gest)
    r, _ = _evaluate(tmp_path, src, "--missing-column", "herkunftland")
    assert r.exit_code == 2 and "herkunftsland" in r.output
    r, got = _evaluate(tmp_path, src, "--allow-missing")
    assert r.exit_code == 0 and len(got) == len(body)


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--out", "{tmp}/b.html"],
        ["allocation", "--year", "2018"],
        ["upcoming"],
        ["impact", "--old", str(ROOT / "rules"), "--new", str(ROOT / "rules")],
    ],
)
def test_every_roster_command_stops_on_a_missing_column(tmp_path, command):
    header, body = _example_rows()
    bad = ["Aufenthaltstatus" if h == "Aufenthaltsstatus" else h for h in header]
    src = _write_csv(tmp_path / "typo.csv", [bad] + body)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    r = run(*args[:1], src, *args[1:]) if command[0] != "impact" else run(*args, src)
    assert r.exit_code == 2 and "(aufenthaltsstatus) fehlt" in r.output, r.output


# ---------------------------------------------------------------- broken lines

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from eligibility.apps.evaluate import evaluate_roster  # noqa: E402
from eligibility.apps.synth import GERMAN_HEADERS  # noqa: E402

COLS = list(GERMAN_HEADERS)
BROKEN = [
    "unbalanced_quote",
    "unbalanced_quote_last",
    "lone_cr",
    "nul",
    "too_many",
    "cp1252_line",
    "cp1252_undefined_byte",
    "newline_in_cell",
]
# (kind, is the row readable, is its id kept as written)
READABLE = {"good": True, "cp1252_line": True, "cp1252_undefined_byte": True, "newline_in_cell": True}


def _broken_line(kind, pid):
    cells = [
        pid,
        "duldung",
        "",
        "01.02.2017",
        "",
        "",
        "",
        "anschluss",
        "Göppingen",
        "Kreis",
        "SYR",
        "nein",
        "nein",
        "",
        "nein",
    ]
    text = ";".join(cells)
    if kind == "unbalanced_quote":
        return f'{pid};"duldung;' + ";".join(cells[2:]), None
    if kind == "unbalanced_quote_last":
        return ";".join(cells[:-1]) + ';"nein', None
    if kind == "lone_cr":
        return text.replace("Göppingen", "Göp\rpingen"), None
    if kind == "nul":
        return text.replace("Kreis", "Kr\x00eis"), None
    if kind == "too_many":
        return text + ";x;y", None
    if kind == "cp1252_line":
        return text.encode("cp1252"), pid
    if kind == "cp1252_undefined_byte":  # 0x81 is in neither: that cell (Gemeinde, not read by rules) gets U+FFFD
        return text.encode("cp1252").replace(b"Kreis", b"Kr\x81eis"), pid
    if kind == "newline_in_cell":
        return text.replace("Göppingen", '"Göppingen\r\nOst"'), pid
    return text, pid


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(["good"] * 4 + BROKEN), min_size=1, max_size=30), st.sampled_from(["csv", "jsonl", "xlsx"])
)
def test_broken_lines_yield_error_rows_where_they_stand_and_the_rest_is_read(tmp_path, kinds, out_fmt):
    data = io.BytesIO()
    data.write(("\ufeff" + ";".join(GERMAN_HEADERS[c] for c in COLS) + "\r\n").encode())
    expected = []
    for i, kind in enumerate(kinds, start=1):
        line, pid = _broken_line(kind, f"P{i:04d}")
        data.write((line if isinstance(line, bytes) else line.encode()) + b"\r\n")
        expected.append(pid)
    src = tmp_path / "kaputt.csv"
    src.write_bytes(data.getvalue())
    out = tmp_path / f"erg.{out_fmt}"
    summary = evaluate_roster(ENGINE, src, dt.date(2018, 9, 15), out)
    assert summary.rows == len(kinds)  # rows in = rows out
    if out_fmt == "jsonl":
        got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        got = [(g["row"], g.get("record_id"), g.get("errors")) for g in got]
    elif out_fmt == "xlsx":
        import openpyxl

        ws = openpyxl.load_workbook(out, read_only=True).worksheets[0]
        it = ws.iter_rows(values_only=True)
        head = list(next(it))
        # The caseworker file: "Zeile" as Excel shows it (header = row 1), the reason in "Hinweise".
        got = [(r[0] - 1, r[1] or None, r[head.index("Hinweise")]) for r in it]
    else:
        reader = csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";")
        got = [(int(r["zeile"]), r["person_id"] or None, r["fehler"]) for r in reader]
    assert [g[0] for g in got] == list(range(1, len(kinds) + 1))
    for kind, pid, (_, gid, errors) in zip(kinds, expected, got):
        if pid is None:
            assert errors, kind
        else:
            assert gid == pid and not errors, (kind, errors)


def test_a_cp1252_line_in_a_utf8_file_is_read_as_cp1252_not_the_whole_file(tmp_path):
    header = ";".join(GERMAN_HEADERS[c] for c in COLS)
    good = "P1;duldung;;01.02.2017;;;;anschluss;Göppingen;Kreis;SYR;nein;nein;;nein"
    src = tmp_path / "gemischt.csv"
    src.write_bytes(
        (header + "\r\n" + good + "\r\n").encode()
        + good.replace("P1", "P2").encode("cp1252")
        + b"\r\n"
        + (good.replace("P1", "P3") + "\r\n").encode()
    )
    info, rows = read_roster(src, FACTS)
    rows = list(rows)
    assert info.encoding == "utf-8"
    assert [r.record["gemeinde"] for r in rows] == ["Göppingen"] * 3  # one spelling, counted once
    assert info.recoded == [2]
    r = run("evaluate", src, "--on", "2018-09-15", "--out", tmp_path / "e.csv", "--allow-missing")
    assert "1 Zeile nicht UTF-8, als Windows-1252 gelesen (Zeile 2)" in r.output


@pytest.mark.parametrize("encoding,eol", [("utf-16", "\r\n"), ("utf-16-le", "\r\n"), ("utf-8", "\r"), ("cp1252", "\r")])
def test_utf16_and_cr_only_files_are_read(tmp_path, encoding, eol):
    header = "\t".join(GERMAN_HEADERS[c] for c in COLS)
    good = "\t".join(
        [
            "P1",
            "duldung",
            "",
            "01.02.2017",
            "",
            "",
            "",
            "anschluss",
            "Göppingen",
            "Kreis",
            "SYR",
            "nein",
            "nein",
            "",
            "nein",
        ]
    )
    src = tmp_path / "unicode.txt"
    src.write_bytes((header + eol + good + eol + good.replace("P1", "P2") + eol).encode(encoding))
    info, rows = read_roster(src, FACTS)
    rows = list(rows)
    assert [r.record["person_id"] for r in rows] == ["P1", "P2"]
    assert rows[0].record["gemeinde"] == "Göppingen" and info.delimiter == "\t"


# ---------------------------------------------------------------- JSON, stdin

REC = {"person_id": "J1", "aufenthaltsstatus": "Duldung", "unterbringung": "AUB", "aufnahme_uab_datum": "01.02.2017"}


def test_a_json_file_with_an_array_of_records(tmp_path):
    src = tmp_path / "liste.json"
    src.write_text(json.dumps([REC, dict(REC, person_id="J2"), 42, dict(REC, person_id="J4")]), encoding="utf-8")
    _, rows = read_roster(src, FACTS)
    rows = list(rows)
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert [r.record and r.record["person_id"] for r in rows] == ["J1", "J2", None, "J4"]
    assert rows[2].error == "Zeile ist kein JSON-Objekt"


def test_duplicate_keys_in_a_json_record_are_an_error_not_last_wins(tmp_path):
    line = '{"person_id": "J1", "aufenthaltsstatus": "duldung", "aufenthaltsstatus": "gestattung"}'
    src = tmp_path / "liste.jsonl"
    src.write_text(line + "\n" + json.dumps(REC) + "\n", encoding="utf-8")
    rows = list(read_roster(src, FACTS)[1])
    assert rows[0].record is None and "„aufenthaltsstatus“ kommt zweimal vor" in rows[0].error
    assert rows[1].record["person_id"] == "J1"
    arr = tmp_path / "liste.json"
    arr.write_text("[" + line + ", " + json.dumps(REC) + "]", encoding="utf-8")
    rows = list(read_roster(arr, FACTS)[1])
    assert len(rows) == 2 and rows[0].record is None and rows[1].record["person_id"] == "J1"
    person = tmp_path / "p.json"
    person.write_text(line, encoding="utf-8")
    r = run("check", person, "--on", "2018-09-15")
    assert r.exit_code == 2 and "kommt zweimal vor" in r.output


def test_a_broken_json_array_says_where_reading_stops(tmp_path):
    src = tmp_path / "liste.json"
    src.write_text("[" + json.dumps(REC) + ", {kaputt", encoding="utf-8")
    rows = list(read_roster(src, FACTS)[1])
    assert [r.number for r in rows] == [1, 2] and "Rest der Liste" in rows[1].error


@pytest.mark.parametrize("fmt", [None, "csv"])
def test_a_roster_from_standard_input(tmp_path, fmt):
    header, body = _example_rows(5)
    text = "\r\n".join(";".join(r) for r in [header] + body) + "\r\n"
    out = tmp_path / "erg.csv"
    r = run(
        "evaluate",
        "-",
        "--on",
        "2018-09-15",
        "--out",
        out,
        *(["--in-format", fmt] if fmt else []),
        input=text.encode("utf-8"),
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert [x["person_id"] for x in rows] == [b[0] for b in body]
    r = run("evaluate", "-", "--on", "2018-09-15", input=text.encode("utf-8"))
    assert r.exit_code == 2 and "--out" in r.output


def test_jsonl_from_standard_input_is_sniffed(tmp_path):
    out = tmp_path / "erg.jsonl"
    r = run("evaluate", "-", "--on", "2018-09-15", "--out", out, input=(json.dumps(REC) + "\n").encode())
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["record_id"] == "J1"


@pytest.mark.parametrize("text", [json.dumps(REC), "person_id: J1\naufenthaltsstatus: Duldung\nunterbringung: AUB\n"])
def test_check_reads_a_record_from_standard_input(text):
    r = run("check", "-", "--on", "2018-09-15", "--format", "json", input=text.encode())
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["record_id"] == "J1"


def test_a_json_array_from_standard_input(tmp_path):
    out = tmp_path / "erg.jsonl"
    r = run(
        "evaluate", "-", "--on", "2018-09-15", "--out", out, input=json.dumps([REC, dict(REC, person_id="J2")]).encode()
    )
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["record_id"] for x in out.read_text(encoding="utf-8").splitlines()] == ["J1", "J2"]


def test_input_rows_know_where_they_stand_in_the_file(tmp_path, baseline):
    header, body = _example_rows(3)
    path = _xlsx(tmp_path / "x.xlsx", [("Personen", [["Titel"], [], header, body[0], [], body[1], body[2]])])
    info, rows = read_roster(path, FACTS)
    assert [(r.number, r.line) for r in rows] == [(1, 4), (2, 6), (3, 7)] and info.header_row == 3
    src = _write_csv(tmp_path / "t.csv", [["Titel"], header, body[0], body[1]])
    info, rows = read_roster(src, FACTS)
    assert [(r.number, r.line) for r in rows] == [(1, 3), (2, 4)] and info.header_row == 2


def test_a_line_that_is_not_utf8_in_json_lines_is_an_error_row(tmp_path):
    # Issue 15 changed this (issue 13 read such a line as Windows-1252): JSON is UTF-8 by
    # definition and no spreadsheet writes JSON lines, so the bytes are damage, not a guess.
    src = tmp_path / "l.jsonl"
    src.write_bytes(
        json.dumps(REC).encode()
        + b"\n"
        + json.dumps(dict(REC, person_id="J2", gemeinde="Göppingen"), ensure_ascii=False).encode("cp1252")
        + b"\n"
        + json.dumps(dict(REC, person_id="J3")).encode()
        + b"\n"
    )
    info, rows = read_roster(src, FACTS)
    rows = list(rows)
    assert [r.number for r in rows] == [1, 2, 3]
    assert rows[1].record is None and "UTF-8" in rows[1].error and "UTF-8" in rows[1].error_en
    assert rows[2].record["person_id"] == "J3"
    assert info.recoded == []


def test_a_cp1252_line_early_and_utf8_only_after_the_sample_is_still_utf8(tmp_path):
    header = ";".join(GERMAN_HEADERS[c] for c in COLS)
    row = "P{};duldung;;01.02.2017;;;;anschluss;{};Kreis;SYR;nein;nein;;nein"
    lines = [header.encode(), row.format(0, "Göppingen").encode("cp1252")]
    lines += [row.format(i, "Uhingen").encode() for i in range(1, 2000)]  # > 64 KB of ASCII
    lines += [row.format(2000, "Göppingen").encode()]
    src = tmp_path / "spaet.csv"
    src.write_bytes(b"\r\n".join(lines) + b"\r\n")
    for read in (
        lambda: read_roster(src, FACTS),
        lambda: rosters_module.read_csv(src, FACTS),
    ):
        info, rows = read()
        rows = list(rows)
        assert info.encoding == "utf-8" and info.recoded == [1]
        assert rows[0].record["gemeinde"] == rows[-1].record["gemeinde"] == "Göppingen"
    # a file that is Windows-1252 throughout stays that
    cp = tmp_path / "cp.csv"
    cp.write_bytes(b"\r\n".join([header.encode("cp1252"), row.format(1, "Göppingen").encode("cp1252")]) + b"\r\n")
    info, rows = read_roster(cp, FACTS)
    assert info.encoding == "cp1252" and next(rows).record["gemeinde"] == "Göppingen"


@pytest.mark.parametrize(
    "content,message",
    [
        # Since issue 15 the archive pre-check says what is wrong instead of "nicht lesbar".
        (b"PK\x03\x04 kaputt", "Tabellendatei ist beschädigt"),
        (b"kein Zip", "keine gültige Tabellendatei"),
        (b"", "Tabellendatei ist leer"),
    ],
)
def test_an_unreadable_spreadsheet_is_exit_2_with_a_message(tmp_path, content, message):
    src = tmp_path / "kaputt.xlsx"
    src.write_bytes(content)
    r = run("evaluate", src, "--on", "2018-09-15", "--out", tmp_path / "e.csv")
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output
