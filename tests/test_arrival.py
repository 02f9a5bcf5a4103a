"""Nobody before arriving: timelines and "seit" start no earlier than the record's own arrival
dates, and a roster exported later and judged on an earlier Stichtag counts nobody who was not
there yet."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Engine

ENGINE = Engine.load()


def test_a_person_taken_in_on_20_11_2015_is_in_aub_from_that_day_not_from_2014():
    record = {
        "person_id": "T-1",
        "aufenthaltsstatus": "duldung",
        "zugang_bw_datum": "2015-11-02",
        "aufnahme_uab_datum": "2015-11-20",
        "unterbringung": "anschluss",
    }
    t = ENGINE.timeline(record, end="2016-12-31")
    aub = t.outcomes["anschlussunterbringung"]
    yes = [iv for iv in aub if iv.value is True]
    assert yes[0].start == dt.date(2015, 11, 20)
    assert all(iv.value is False for iv in aub if iv.start < dt.date(2015, 11, 20))
    assert t.since("anschlussunterbringung", dt.date(2016, 6, 1)) == dt.date(2015, 11, 20)
    prio = t.outcomes["prioritaet"]
    assert [iv.value for iv in prio if iv.start < dt.date(2015, 11, 2)] == [False]
    assert t.at("prioritaet", dt.date(2015, 11, 2)).value == "niedrig"


@settings(max_examples=150, deadline=None)
@given(
    st.dates(dt.date(2014, 6, 1), dt.date(2023, 12, 31)),
    st.integers(0, 400),
    st.sampled_from(["duldung", "fluechtling", "gestattung", "schutz_24"]),
)
def test_timelines_never_say_yes_before_arrival(zugang, delay, status):
    aufnahme = zugang + dt.timedelta(days=delay)
    record = {
        "person_id": "T-2",
        "aufenthaltsstatus": status,
        "zugang_bw_datum": zugang.isoformat(),
        "aufnahme_uab_datum": aufnahme.isoformat(),
        "unterbringung": "anschluss",
        "aufenthaltstitel_datum": zugang.isoformat(),
        "familiennachzug": True,
    }
    t = ENGINE.timeline(record, end=aufnahme + dt.timedelta(days=800))
    for oid, ivs in t.outcomes.items():
        for iv in ivs:
            if iv.value not in (False, None):
                assert iv.start >= zugang, (oid, iv)
                if oid in ("anschlussunterbringung", "aub_berechtigt_in_gu", "lastenausgleich"):
                    assert iv.start >= aufnahme, (oid, iv)


def test_a_roster_exported_later_counts_nobody_who_came_after_the_stichtag():
    came_later = {
        "person_id": "L-1",
        "aufenthaltsstatus": "fluechtling",
        "zugang_bw_datum": "2016-02-15",
        "aufnahme_uab_datum": "2017-10-01",
        "aufenthaltstitel_datum": "2018-01-10",
        "unterbringung": "anschluss",
        "familiennachzug": False,
        "geboren_nach_zugang": False,
    }
    joined_later = {
        "person_id": "L-2",
        "aufenthaltsstatus": "sonstiger_titel",
        "zugang_bw_datum": "2018-01-10",
        "aufnahme_uab_datum": "2018-01-20",
        "aufenthaltstitel_datum": "2018-01-20",
        "unterbringung": "anschluss",
        "familiennachzug": True,
    }
    there = {
        "person_id": "L-3",
        "aufenthaltsstatus": "fluechtling",
        "zugang_bw_datum": "2015-06-01",
        "aufnahme_uab_datum": "2015-07-01",
        "aufenthaltstitel_datum": "2016-05-01",
        "unterbringung": "anschluss",
        "familiennachzug": False,
        "geboren_nach_zugang": False,
    }
    roster = [came_later, joined_later, there]
    counted_2017 = [
        d.record_id for d in ENGINE.decide_many(roster, on="2017-09-15") if d.outcomes["lastenausgleich"].value is True
    ]
    counted_2018 = [
        d.record_id for d in ENGINE.decide_many(roster, on="2018-09-15") if d.outcomes["lastenausgleich"].value is True
    ]
    assert counted_2017 == ["L-3"]
    assert counted_2018 == ["L-1", "L-2", "L-3"]
    table = ENGINE.decide_table(roster, dt.date(2017, 9, 15))
    assert [r["lastenausgleich"] for r in table.rows()] == [False, False, True]


def test_the_reason_before_arrival_is_a_sentence_a_caseworker_understands():
    d = ENGINE.decide({"aufenthaltsstatus": "duldung", "zugang_bw_datum": "2018-03-01"}, on="2018-02-28")
    o = d.outcomes["integrationsmanagement"]
    assert o.value is False and o.rule == "im.vor_zugang"
    assert o.reason.de.startswith("Die Person war am Stichtag noch nicht in Baden-Württemberg aufgenommen")
    assert "[Annahme des Regelwerks]" in o.reason.de and o.assumption
