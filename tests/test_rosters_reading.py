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
from eligibility.cli import main
from eligibility.forms import country_forms, countries, declared_forms, fold
from eligibility.records import convert_value, normalize
from eligibility.rosters import read_roster
from eligibility.values import UNKNOWN

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
FACTS = ENGINE.entity().facts
STELLE = ENGINE.entity("stelle").facts


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def spellings(text):
    """The ways an office writes one form: as declared, upper case, without umlauts, with
    runs of spaces, and a § with or without its space."""
    plain = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("Ä", "Ae").replace(
        "Ö", "Oe").replace("Ü", "Ue").replace("ß", "ss")
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
    r = run("evaluate", path, "--on", "2018-09-15", "--out", out, "--entity", entity)
    result = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert len(result) == len(rows)
    assert all(not row["fehler"] for row in result), [row["fehler"] for row in result if row["fehler"]][:3]
    assert r.exit_code == 0


@pytest.mark.parametrize("written,expected", [
    ("Flüchtling", "fluechtling"), ("anerkannter Flüchtling", "fluechtling"), ("FLUECHTLING", "fluechtling"),
    ("subsidiärer Schutz", "subsidiaer"), ("Subsidiaerer  Schutz", "subsidiaer"),
    ("Aufenthaltsgestattung", "gestattung"), ("Gestattung", "gestattung"), ("Duldung", "duldung"),
    ("§ 24 AufenthG", "schutz_24"), ("§24 AufenthG", "schutz_24"), ("vorübergehender Schutz", "schutz_24"),
    ("Asylberechtigt", "asylberechtigt"), ("Abschiebungsverbot", "abschiebungsverbot"),
    ("ausreisepflichtig", "ausreisepflichtig"), ("eingebürgert", "eingebuergert"),
    ("§§ 22/23 AufenthG", "aufnahme_22_23"), ("§§22/23 AufenthG", "aufnahme_22_23"),
    ("Aufenthaltsgestattung (§ 55 AsylG)", "gestattung"),
])
def test_residence_status_as_people_write_it(written, expected):
    assert convert_value("aufenthaltsstatus", FACTS["aufenthaltsstatus"], written) == (expected, None)


@pytest.mark.parametrize("written,expected", [
    ("vorläufig", "vorlaeufig"), ("vorläufige Unterbringung", "vorlaeufig"), ("GU", "vorlaeufig"),
    ("gu", "vorlaeufig"), ("Gemeinschaftsunterkunft", "vorlaeufig"), ("AUB", "anschluss"),
    ("Anschlussunterbringung", "anschluss"), ("eigene Wohnung", "privat"), ("privat", "privat"),
    ("LEA", "erstaufnahme"), ("EA", "erstaufnahme"), ("Erstaufnahme", "erstaufnahme"),
])
def test_housing_as_people_write_it(written, expected):
    assert convert_value("unterbringung", FACTS["unterbringung"], written) == (expected, None)


@pytest.mark.parametrize("written,expected", [
    ("Syrien", "SYR"), ("Syria", "SYR"), ("SYR", "SYR"), ("syr", "SYR"), ("Iran", "IRN"), ("Türkei", "TUR"),
    ("Tuerkei", "TUR"), ("Turkey", "TUR"), ("Russland", "RUS"), ("Russische Föderation", "RUS"),
    ("Kosovo", "XKX"), ("Ukraine", "UKR"), ("Afghanistan", "AFG"), ("Eritrea", "ERI"), ("Irak", "IRQ"),
    ("Iraq", "IRQ"), ("Somalia", "SOM"), ("Syrien, Arabische Republik", "SYR"), ("Nordmazedonien", "MKD"),
])
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
    assert convert_value("stelleninhaber_qualifikation", STELLE["stelleninhaber_qualifikation"],
                         "Berufsausbildung")[0] == "ausbildung"


@pytest.mark.parametrize("written,expected", [
    ("1.500", 1500), ("1500", 1500), ("1 500", 1500), ("12.345.678", 12345678),
])
def test_german_whole_numbers(written, expected):
    assert convert_value("personen_stichtag_2017", STELLE["personen_stichtag_2017"], written) == (expected, None)


@pytest.mark.parametrize("written,expected", [
    ("0,5", Decimal("0.5")), ("1.234,5", Decimal("1234.5")), ("0.5", Decimal("0.5")), ("0,25", Decimal("0.25")),
    ("2", Decimal("2")), ("1,500", Decimal("1.5")),
])
def test_german_decimals(written, expected):
    assert convert_value("vzae", STELLE["vzae"], written) == (expected, None)


@pytest.mark.parametrize("field,written,reason", [
    ("vzae", "1.500", "mehrdeutige Zahl"),  # 1500 or 1,5?
    ("personen_stichtag_2017", "1,500", "mehrdeutige Zahl"),  # 1,5 or 1500?
    ("vzae", "1,234.5", "Tausenderkomma"),
    ("vzae", "1.2.3", "Zahl erwartet"),
    ("vzae", "٣", "Zahl erwartet"),
])
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
