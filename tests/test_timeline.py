"""Timelines: exact intervals from change points, equal to `decide` on every day."""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import person_records

from eligibility import Engine

ENGINE = Engine.load()
BASE = {
    "aufenthaltsstatus": "gestattung",
    "aufenthaltstitel_datum": None,
    "asylentscheidung_unanfechtbar_datum": None,
    "gu_pflicht_ende_datum": None,
    "unterbringung": "vorlaeufig",
    "herkunftsland": "TUR",
    "zugang_bw_datum": "2016-01-10",
    "familiennachzug": False,
    "geboren_nach_zugang": False,
    "beratung_beginn_datum": None,
    "beratung_verlaengerung_begruendet": False,
}


def starts(record, outcome, value=True):
    t = ENGINE.timeline(record)
    return [iv.start for iv in t.outcomes[outcome] if iv.value == value]


@pytest.mark.parametrize(
    "intake,first_day", [("2016-03-15", "2018-03-16"), ("2016-02-29", "2018-03-01"), ("2015-12-31", "2018-01-01")]
)
def test_24_month_boundaries_are_interval_starts_to_the_day(intake, first_day):
    record = dict(BASE, aufnahme_uab_datum=intake)
    assert starts(record, "anschlussunterbringung") == [dt.date.fromisoformat(first_day)]
    iv = ENGINE.timeline(record).at("anschlussunterbringung", dt.date.fromisoformat(first_day))
    assert iv.rule == "aub.frist_24_monate"
    assert (
        iv.cause.de.startswith("Frist von 24 Monaten ab Aufnahme durch die untere Aufnahmebehörde")
        and " endet mit Ablauf des " in iv.cause.de
    )


def test_ukraine_erlass_starts_an_interval_on_11_03_2022():
    record = dict(
        BASE,
        aufenthaltsstatus="schutz_24",
        aufnahme_uab_datum="2022-03-01",
        zugang_bw_datum="2022-02-28",
        herkunftsland="UKR",
    )
    t = ENGINE.timeline(record)
    iv = t.at("integrationsmanagement", dt.date(2022, 3, 11))
    assert iv.start == dt.date(2022, 3, 11) and iv.value is True and iv.rule == "im.ukraine"
    assert iv.cause.de.startswith("ab diesem Tag gilt: Geflüchtete aus der Ukraine")
    assert t.at("integrationsmanagement", dt.date(2022, 3, 10)).value is False


def test_counselling_cap_ends_membership_on_06_06_2023():
    record = dict(
        BASE,
        aufenthaltsstatus="fluechtling",
        aufenthaltstitel_datum="2018-01-10",
        aufnahme_uab_datum="2016-05-01",
        unterbringung="anschluss",
        beratung_beginn_datum="2020-01-15",
    )
    t = ENGINE.timeline(record)
    iv = t.at("integrationsmanagement", dt.date(2023, 6, 6))
    assert iv.start == dt.date(2023, 6, 6) and iv.value is False and iv.rule == "im.beratung_3_jahre"
    # a snapshot record: living in AUB applies on every day, so membership starts with the programme
    assert t.since("integrationsmanagement", dt.date(2023, 6, 5)) == dt.date(2017, 1, 1)
    nxt = t.next_change("integrationsmanagement", dt.date(2023, 1, 1))
    assert nxt.start == dt.date(2023, 6, 6) and nxt.value is False
    extended = ENGINE.timeline(dict(record, beratung_verlaengerung_begruendet=True))
    assert extended.next_change("integrationsmanagement", dt.date(2023, 1, 1)).start == dt.date(2024, 1, 16)


def test_intervals_tile_the_span_without_gaps():
    t = ENGINE.timeline(dict(BASE, aufnahme_uab_datum="2016-03-15"), "2015-01-01", "2025-12-31")
    for ivs in t.outcomes.values():
        assert ivs[0].start == dt.date(2015, 1, 1) and ivs[-1].end == dt.date(2025, 12, 31)
        for a, b in zip(ivs, ivs[1:]):
            assert a.end + dt.timedelta(days=1) == b.start


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    person_records(),
    st.dates(min_value=dt.date(2014, 1, 1), max_value=dt.date(2025, 6, 30)),
    st.integers(min_value=0, max_value=400),
)
def test_timeline_equals_decide_on_every_day_of_a_random_span(record, start, length):
    end = start + dt.timedelta(days=length)
    t = ENGINE.timeline(record, start, end)
    day = start
    while day <= end:
        d = ENGINE.decide(record, day, explain=False)
        for oid, o in d.outcomes.items():
            iv = t.at(oid, day)
            assert iv is not None, (oid, day)
            assert (iv.value, iv.status, iv.rule) == (o.value, o.status, o.rule), (oid, day)
        day += dt.timedelta(days=1)


def test_timeline_cli_text_json_html(tmp_path):
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from eligibility.cli.main import main

    example = Path(__file__).resolve().parents[1] / "examples" / "ukraine_in_gu.yaml"
    r = CliRunner().invoke(main, ["timeline", str(example), "--from", "2022-01-01", "--to", "2024-12-31"])
    assert r.exit_code == 0
    # Counselled from the Erlass on, but nobody before arriving: this person arrived on 14.03.2022.
    # The deciding rule by its label, never its id (ids stay in the JSON).
    assert "14.03.2022 – 31.12.2024  ja  ← Erste Registrierung" in r.output
    assert "im.ukraine" not in r.output and "aufnahme_uab_datum" not in r.output
    assert "Frist von 6 Monaten ab Aufnahme" in r.output
    assert "Erste Registrierung in der Aufnahme des Landes Baden-Württemberg: 14.03.2022" in r.output
    r = CliRunner().invoke(
        main, ["timeline", str(example), "--from", "2022-01-01", "--to", "2024-12-31", "--format", "json"]
    )
    data = json.loads(r.output)
    assert data["outcomes"]["integrationsmanagement"][1]["from"] == "2022-03-14"
    out = tmp_path / "t.html"
    r = CliRunner().invoke(main, ["timeline", str(example), "--format", "html", "--out", str(out)])
    assert r.exit_code == 0 and "<svg" in out.read_text(encoding="utf-8")
    assert "Stichtag 01.06.2023" not in out.read_text(encoding="utf-8") and "<code>im." not in out.read_text(
        encoding="utf-8"
    )
    r = CliRunner().invoke(
        main, ["timeline", str(example), "--format", "html", "--on", "01.06.2023", "--out", str(out)]
    )
    assert r.exit_code == 0 and "Stichtag 01.06.2023" in out.read_text(encoding="utf-8")


def test_check_shows_since_and_next_change():
    from pathlib import Path

    from click.testing import CliRunner

    from eligibility.cli.main import main

    example = Path(__file__).resolve().parents[1] / "examples" / "anerkannter_fluechtling.yaml"
    r = CliRunner().invoke(main, ["check", str(example), "--brief"])
    assert "Zielgruppe Integrationsmanagement: JA  (seit 01.01.2017)" in r.output
    assert (
        "nächste Änderung: 06.06.2023 → nein, ab diesem Tag gilt: Die Beratung hat die Höchstdauer von 3 Jahren"
        in r.output
    )


def test_upcoming_on_the_example_roster(tmp_path):
    import csv
    import io
    from pathlib import Path

    from click.testing import CliRunner

    from eligibility.cli.main import main

    roster = Path(__file__).resolve().parents[1] / "examples" / "roster_landkreis_beispiel.csv"
    out = tmp_path / "anstehend.csv"
    r = CliRunner().invoke(main, ["upcoming", str(roster), "--within", "90d", "--on", "2018-09-15", "--out", str(out)])
    assert r.exit_code == 0, r.output
    all_rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    # One line per person and date with every outcome that changes then (issue 13), then
    # one line per error row.
    rows = [x for x in all_rows if x["datum"]]
    assert rows and all(x["fehler"] for x in all_rows if not x["datum"])
    assert len({(x["zeile"], x["datum"]) for x in rows}) == len(rows)
    dates = [dt.datetime.strptime(x["datum"], "%d.%m.%Y").date() for x in rows]
    assert dates == sorted(dates) and all(dt.date(2018, 9, 15) < d <= dt.date(2018, 12, 14) for d in dates)
    # each listed change really happens: decide the day before and the day
    engine = ENGINE
    from eligibility.io.rosters import read_roster

    _, roster_rows = read_roster(roster, engine.entity().facts)
    records = {r.number: r.record for r in roster_rows}
    for x in rows[:40]:
        rec, day = records[int(x["zeile"])], dt.datetime.strptime(x["datum"], "%d.%m.%Y").date()
        for oid in x["ergebnisse"].split(", "):
            before = engine.decide(rec, day - dt.timedelta(days=1), explain=False).outcomes[oid]
            after = engine.decide(rec, day, explain=False).outcomes[oid]
            assert (before.value, before.status) != (after.value, after.status)
    html = tmp_path / "anstehend.html"
    r = CliRunner().invoke(main, ["upcoming", str(roster), "--within", "12w", "--on", "2018-09-15", "--out", str(html)])
    assert r.exit_code == 0 and '<table id="upcoming">' in html.read_text(encoding="utf-8")
