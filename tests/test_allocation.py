"""`eligibility allocation`: § 29d FAG shares computed as the law computes them (budget ÷ the
state-wide count), who is counted, and the Integrationsmanagement budget table."""

import csv
import datetime as dt
import io
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from eligibility import Engine
from eligibility.apps.allocation import (
    AllocationError,
    count_lastenausgleich,
    im_budgets,
    lastenausgleich,
    parse_amount,
    parse_count,
)
from eligibility.apps.evaluate import evaluated_rows, table_decisions
from eligibility.cli.main import main
from eligibility.io.rosters import read_roster

ROOT = Path(__file__).resolve().parents[1]
COUNTY = ROOT / "examples" / "roster_landkreis_beispiel.csv"
ENGINE = Engine.load()
FACTS = ENGINE.entity().facts
BUDGET = Decimal(90_000_000)
# a money amount as the command prints it, or any other number followed by €
MONEY = re.compile(r"\d[\d.]*(,\d+)?\s*€")
NON_CITATIONS = ("Seed", "domain.md", "Offene Frage", "Standard des Regelwerks")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def pairs_on(path, day, batch=False):
    _, rows = read_roster(path, FACTS)
    return list(table_decisions(ENGINE, rows, day) if batch else evaluated_rows(ENGINE, rows, day))


def cents(x):
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- hand-made rosters

HEADER = [
    "person_id",
    "aufenthaltsstatus",
    "aufenthaltstitel_datum",
    "aufnahme_uab_datum",
    "zugang_bw_datum",
    "asylentscheidung_unanfechtbar_datum",
    "unterbringung",
    "gemeinde",
    "herkunftsland",
    "familiennachzug",
    "geboren_nach_zugang",
]


def counted_person(pid, gemeinde, herkunftsland="SYR"):
    """In AUB on 15.09.2017 and 2018, taken in by the Land inside the § 29d window."""
    return [
        pid,
        "fluechtling",
        "2016-03-01",
        "2015-07-01",
        "2015-06-01",
        "2016-02-15",
        "anschluss",
        gemeinde,
        herkunftsland,
        "nein",
        "nein",
    ]


def im_only_person(pid, gemeinde):
    """In AUB (so in the IM target group) but taken in after the § 29d window: not counted."""
    return [
        pid,
        "fluechtling",
        "2017-05-01",
        "2017-01-20",
        "2017-01-10",
        "2017-04-20",
        "anschluss",
        gemeinde,
        "ERI",
        "nein",
        "nein",
    ]


def write(tmp_path, rows, name="liste.csv"):
    path = tmp_path / name
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def bodensee(tmp_path):
    """Tettnang-, Neukirch- and Meckenbeuren-like Gemeinden as counted on 15.09.2017."""
    rows = [counted_person(f"T{i}", "Tettnang") for i in range(166)]
    rows += [im_only_person(f"TI{i}", "Tettnang") for i in range(20)]
    rows += [counted_person(f"N{i}", "Neukirch") for i in range(13)]
    rows += [counted_person(f"M{i}", "Meckenbeuren") for i in range(76)]
    return write(tmp_path, rows)


# ---------------------------------------------------------------- § 29d: no money without a state-wide figure


def test_county_roster_without_a_statewide_figure_prints_counts_and_no_money():
    r = run("allocation", COUNTY, "--year", "2018")
    assert r.exit_code == 0, r.output
    assert not MONEY.search(r.output), MONEY.search(r.output)
    assert "Kein Geldbetrag berechnet" in r.output
    for option in ("--landesweit-anzahl", "--per-head", "--statewide"):
        assert option in r.output
    assert "Gesamt" in r.output and "Musterstadt" in r.output
    result = lastenausgleich(ENGINE, pairs_on(COUNTY, dt.date(2018, 9, 15)), 2018)
    assert result.per_head is None and result.county_part is None
    assert all(s.share is None for s in result.shares)
    assert result.missing and "--landesweit-anzahl" in result.missing


def test_per_head_shares_are_count_times_amount(tmp_path):
    pairs = pairs_on(COUNTY, dt.date(2018, 9, 15))
    result = lastenausgleich(ENGINE, pairs, 2018, per_head=Decimal("1125"))
    assert result.count.total > 0
    assert all(s.share == s.counted * Decimal("1125") for s in result.shares)
    assert result.county_part == result.total_share == result.count.total * Decimal("1125")
    out = tmp_path / "la.csv"
    r = run("allocation", COUNTY, "--year", "2018", "--per-head", "1125", "--out", out)
    assert r.exit_code == 0, r.output
    assert "Betrag je Person: 1.125,00 € (vorgegeben mit --per-head)" in r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows[-1]["gemeinde"] == "Gesamt"
    assert all(Decimal(x["gezaehlt"]) * 1125 == Decimal(x["anteil_eur"].replace(",", ".")) for x in rows)
    assert Decimal(rows[-1]["gezaehlt"]) == sum(Decimal(x["gezaehlt"]) for x in rows[:-1]) == result.count.total
    # the same shares when the amount is typed the German way
    again = tmp_path / "la2.csv"
    assert run("allocation", COUNTY, "--year", "2018", "--per-head", "1.125,00", "--out", again).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("statewide", [80_000, 77_777, 123_457])
def test_statewide_count_shares_sum_to_the_countys_part_of_the_budget(statewide):
    pairs = pairs_on(COUNTY, dt.date(2018, 9, 15))
    result = lastenausgleich(ENGINE, pairs, 2018, statewide_count=statewide)
    n = result.count.total
    assert result.budget == BUDGET
    assert result.county_part == cents(Decimal(n) * BUDGET / Decimal(statewide))
    for s in result.shares:
        assert s.share == cents(Decimal(s.counted) * BUDGET / Decimal(statewide))
    assert result.total_share == sum(s.share for s in result.shares)
    assert result.rounding_difference == result.county_part - result.total_share
    assert abs(result.rounding_difference) <= Decimal("0.005") * len(result.shares)
    text = run("allocation", COUNTY, "--year", "2018", "--landesweit-anzahl", statewide).output
    assert "Gesamt" in text
    assert ("Rundungsdifferenz" in text) == (result.rounding_difference != 0)
    assert "kaufmännisch" in text


def test_a_statewide_count_with_a_rounding_difference_reports_it():
    pairs = pairs_on(COUNTY, dt.date(2018, 9, 15))
    diffs = {
        n: lastenausgleich(ENGINE, pairs, 2018, statewide_count=n).rounding_difference for n in range(70_001, 70_040)
    }
    n, diff = next((n, d) for n, d in diffs.items() if d)
    r = run("allocation", COUNTY, "--year", "2018", "--statewide-count", n)
    expected = f"{diff:.2f}".replace(".", ",")
    assert f"Rundungsdifferenz zum Anteil dieser Liste: {expected} €" in r.output


def test_statewide_roster_shares_sum_to_the_whole_budget():
    result = lastenausgleich(ENGINE, pairs_on(COUNTY, dt.date(2018, 9, 15)), 2018, statewide=True)
    assert result.statewide_count == result.count.total
    assert result.county_part == BUDGET
    assert abs(result.total_share - BUDGET) <= Decimal("0.005") * len(result.shares)
    r = run("allocation", COUNTY, "--year", "2018", "--statewide")
    assert "als landesweit erklärt (--statewide)" in r.output and "90.000.000,00 €" in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--per-head", "1125", "--landesweit-anzahl", "80000"], "schließen sich aus"),
        (["--per-head", "1125", "--statewide"], "schließen sich aus"),
        (["--statewide-count", "80000", "--statewide"], "schließen sich aus"),
        (["--landesweit-anzahl", "100"], "ist kleiner als die Zahl der in dieser Liste gezählten Personen"),
        (["--landesweit-anzahl", "viele"], "ganze Zahl"),
        (["--per-head", "0"], "größer als 0"),
        (["--per-head", "elf"], "keine Zahl"),
    ],
)
def test_option_combinations_that_cannot_give_a_lawful_amount_are_clear_errors(args, message):
    r = run("allocation", COUNTY, "--year", "2018", *args)
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output
    assert not MONEY.search(r.output)


def test_a_year_without_a_budget_says_so_and_never_zero():
    r = run("allocation", COUNTY, "--year", "2019", "--landesweit-anzahl", "100000")
    assert r.exit_code == 0
    assert "Budget des Landes: kein Betrag festgelegt" in r.output and "--budget" in r.output
    assert not MONEY.search(r.output)
    r = run("allocation", COUNTY, "--year", "2019", "--per-head", "1003")
    assert "Budget des Landes: kein Betrag festgelegt" in r.output and "1.003,00 €" in r.output
    r = run("allocation", COUNTY, "--year", "2019", "--landesweit-anzahl", "100000", "--budget", "90.000.000")
    assert "Betrag je Person: 900,00 €" in r.output


def test_allocation_rejects_a_year_without_law():
    r = run("allocation", COUNTY, "--year", "2021")
    assert r.exit_code == 2 and "2017 und 2018" in r.output


def test_amounts_and_counts_are_read_as_people_type_them():
    assert parse_amount("1125", "x") == parse_amount("1.125", "x") == parse_amount("1.125,00 €", "x") == 1125
    assert parse_amount("1125,50", "x") == parse_amount("1125.50", "x") == Decimal("1125.50")
    assert parse_amount("90.000.000", "x") == BUDGET
    assert parse_count("80.000", "x") == parse_count("80000", "x") == 80_000
    for bad in ("", "abc", "-5", "0", "NaN", "Infinity"):
        with pytest.raises(AllocationError):
            parse_amount(bad, "--per-head")
    for bad in ("", "1,5", "-3", "0", "8.00"):
        with pytest.raises(AllocationError):
            parse_count(bad, "--landesweit-anzahl")


# ---------------------------------------------------------------- who is counted


def test_a_row_with_an_unread_field_the_count_does_not_need_is_still_counted(tmp_path):
    rows = [
        counted_person("A1", "Tettnang"),
        counted_person("A2", "Tettnang", herkunftsland="Narnia"),
        counted_person("A3", "Tettnang"),
    ]
    rows.append(
        ["A4", "fluechtling", "2016-03-01", "2015-07-01", "2015-06-01", "", "", "Tettnang", "SYR", "nein", "nein"]
    )  # housing unknown: the outcome is unknown, reported, not counted
    rows.append(counted_person("A5", "Tettnang") + ["zu viel"])  # one field too many: the row cannot be read
    path = write(tmp_path, rows)
    for batch in (False, True):
        count = count_lastenausgleich(ENGINE, pairs_on(path, dt.date(2018, 9, 15), batch), dt.date(2018, 9, 15))
        assert count.total == 3, batch
        assert count.unknown == 1 and count.unread == 1
        (note,) = count.notes
        # A2 is the second data row: row 3 of the file as Excel shows it (header = row 1)
        assert note.row == 3 and note.record_id == "A2" and note.counted
        assert note.fields == (FACTS["herkunftsland"].label.de,)
    r = run("allocation", path, "--year", "2018", "--per-head", "1125")
    assert "Gezählte Personen: 3" in r.output and "gezählt trotz einer ungültigen Angabe: 1" in r.output
    assert "Zeile 3 (A2), Tettnang: Angabe „" + FACTS["herkunftsland"].label.de + "“ ungültig – gezählt" in r.output
    assert "3.375,00 €" in r.output
    assert "Narnia" not in r.output  # the row is named by its number and id, never by its values


# ---------------------------------------------------------------- IM budget


def test_im_budget_is_the_2017_lastenausgleich_count_times_the_rate_for_24_months(bodensee):
    pairs = pairs_on(bodensee, dt.date(2017, 9, 15))
    # the 20 persons taken in in 2017 are in the IM target group but not in the § 29d count
    assert sum(1 for _, d in pairs if d.outcomes["integrationsmanagement"].value is True) == 166 + 20 + 13 + 76
    table = im_budgets(ENGINE, pairs)
    rows = {r.name: r for r in table.rows}
    assert table.months == 24
    assert table.months_fallback == ("im_budget_zeitraum_monate" not in ENGINE.compiled.model.parameters)
    t, n, m = rows["Tettnang"], rows["Neukirch"], rows["Meckenbeuren"]
    assert (t.persons, t.budget) == (166, Decimal("132149.28"))
    assert (n.persons, n.budget) == (13, Decimal("10349.04"))
    assert (m.persons, m.budget) == (76, Decimal("60502.08"))
    assert t.posts["foerdersatz_hochschule_eur"] == Decimal("1.03")
    assert t.posts["foerdersatz_ausbildung_eur"] == Decimal("1.29")
    assert not t.below_one_post and n.below_one_post and m.below_one_post
    assert not table.total.below_one_post
    for row in table.rows:
        for name, vzae in row.posts.items():
            rate = table.rates[name]
            # rounded down to two decimals: never funded beyond the budget
            assert vzae * rate * 2 <= row.budget < (vzae + Decimal("0.01")) * rate * 2


def test_im_table_text_shows_the_posts_per_year_rate_and_the_ways_out(bodensee):
    r = run("allocation", bodensee, "--im-budget")
    assert r.exit_code == 0, r.output
    lines = {line.split("  ")[0]: line for line in r.output.splitlines()}
    assert "132.149,28 €" in lines["Tettnang"] and " 1,03 " in lines["Tettnang"] + " "
    assert not lines["Tettnang"].endswith("*")
    assert "10.349,04 €" in lines["Neukirch"] and lines["Neukirch"].endswith("*")
    assert "VZÄ zu 64.000 €/Jahr" in r.output and "VZÄ zu 51.000 €/Jahr" in r.output
    assert "Budget reicht für keine volle Stelle" in r.output
    assert "Nachbargemeinden" in r.output and "Landratsamt übertragen" in r.output
    assert "Informationen zum Integrationspakt" in r.output
    assert "VwV Integrationsmanagement vom 11.12.2017" in r.output
    assert "§ 29d FAG BW i. d. F. vom 21.02.2017" in r.output
    assert "2,00" not in lines["Tettnang"]


def test_no_output_names_a_non_citation(bodensee, tmp_path):
    for args in (
        ["--year", "2018"],
        ["--year", "2018", "--per-head", "1125", "--im-budget"],
        ["--year", "2019", "--statewide"],
        ["--year", "2017", "--landesweit-anzahl", "90000"],
    ):
        for roster in (COUNTY, bodensee):
            out = run("allocation", roster, *args).output
            for word in NON_CITATIONS:
                assert word not in out, (args, word)


def test_csv_is_deterministic_and_carries_both_tables(bodensee, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (a, b):
        assert (
            run(
                "allocation", bodensee, "--year", "2017", "--landesweit-anzahl", "90000", "--im-budget", "--out", out
            ).exit_code
            == 0
        )
    assert a.read_bytes() == b.read_bytes()
    rows = {x["gemeinde"]: x for x in csv.DictReader(io.StringIO(a.read_text(encoding="utf-8-sig")), delimiter=";")}
    assert rows["Tettnang"]["im_budget_eur"] == "132149,28" and rows["Tettnang"]["vzae_hochschule"] == "1,03"
    assert rows["Tettnang"]["anteil_eur"] == "166000,00"
    assert rows["Gesamt"]["gezaehlt"] == str(166 + 13 + 76)
    none = tmp_path / "none.csv"
    run("allocation", bodensee, "--year", "2018", "--out", none)
    rows = list(csv.DictReader(io.StringIO(none.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert all(x["anteil_eur"] == "" for x in rows)  # no amount: an empty cell, never 0


def test_a_kreis_is_never_told_to_hand_the_task_to_itself(tmp_path):
    rows = [counted_person(f"S{i}", "Stuttgart") + ["Stadtkreis Stuttgart"] for i in range(20)]
    rows += [counted_person(f"K{i}", "Kleinort") + ["Landkreis Beispiel"] for i in range(20)]
    rows += [counted_person(f"L{i}", "Landkreis Beispiel") + ["Landkreis Beispiel"] for i in range(3)]
    path = tmp_path / "kreise.csv"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER + ["kreis"])
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    table = im_budgets(ENGINE, pairs_on(path, dt.date(2017, 9, 15)))
    flagged = {r.name: r.below_one_post for r in table.rows}
    assert flagged == {"Stuttgart": False, "Kleinort": True, "Landkreis Beispiel": False}


def test_xlsx_has_money_as_numbers_with_a_euro_format_and_is_deterministic(bodensee, tmp_path):
    import openpyxl

    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    for out in (a, b):
        assert (
            run("allocation", bodensee, "--year", "2018", "--per-head", "1125", "--im-budget", "--out", out).exit_code
            == 0
        )
    assert a.read_bytes() == b.read_bytes()
    ws = openpyxl.load_workbook(a).active
    header = [c.value for c in ws[1]]
    rows = {r[0].value: dict(zip(header, r)) for r in ws.iter_rows(min_row=2)}
    t = rows["Tettnang"]
    assert t["anteil_eur"].value == 166 * 1125 and "€" in t["anteil_eur"].number_format
    assert t["im_budget_eur"].value == pytest.approx(132149.28) and "€" in t["im_budget_eur"].number_format
    assert t["vzae_hochschule"].value == pytest.approx(1.03)
    assert rows["Gesamt"]["gezaehlt"].value == 166 + 13 + 76


def test_json_carries_the_rows_and_the_figures_they_rest_on(tmp_path):
    import json

    out = tmp_path / "a.json"
    assert run("allocation", COUNTY, "--year", "2019", "--landesweit-anzahl", "100000", "--out", out).exit_code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["lastenausgleich"]["budget_eur"] == "kein Betrag festgelegt"
    assert all(r["anteil_eur"] == "kein Betrag festgelegt" for r in doc["zeilen"])
    assert doc["zeilen"][-1]["gemeinde"] == "Gesamt"
    out2 = tmp_path / "b.json"
    run("allocation", COUNTY, "--year", "2018", "--landesweit-anzahl", "77777", "--out", out2)
    la = json.loads(out2.read_text(encoding="utf-8"))["lastenausgleich"]
    shares = sum(Decimal(str(r["anteil_eur"])) for r in json.loads(out2.read_text())["zeilen"][:-1])
    assert Decimal(str(la["anteil_liste_eur"])) - shares == Decimal(str(la["rundungsdifferenz_eur"]))
    r = run("allocation", COUNTY, "--year", "2018", "--out", tmp_path / "a.pdf")
    assert r.exit_code == 2 and ".xlsx" in r.output


def test_hinweise_of_one_day_are_listed_once(tmp_path):
    path = write(tmp_path, [counted_person("A1", "Tettnang", herkunftsland="Narnia")])
    both = run("allocation", path, "--year", "2017", "--per-head", "1125", "--im-budget").output
    assert both.count("Hinweise zur Zählung vom 15.09.2017") == 1
    later = run("allocation", path, "--year", "2018", "--per-head", "1125", "--im-budget").output
    assert later.count("Hinweise zur Zählung vom 15.09.2017") == 1
    assert later.count("Hinweise zur Zählung vom 15.09.2018") == 1
