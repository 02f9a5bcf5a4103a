"""durable_rules as a second, independent engine: both must agree on every fully
known record. Skipped where the optional extra is not installed (Python 3.13+)."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import person_records, reference_dates

from eligibility import Engine

durable = pytest.importorskip("durable.engine", reason="optional extra eligibility[durable] not installed")

from eligibility.eval.durable import DurableEngine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load(ROOT / "rules")
GOEPPINGEN = Engine.load(ROOT / "rules", overlays=[ROOT / "rules" / "overlays" / "goeppingen.yaml"])
DURABLE = DurableEngine(ENGINE)
DURABLE_GP = DurableEngine(GOEPPINGEN)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person_records(complete=True), reference_dates)
def test_both_engines_agree_on_fully_known_records(record, on):
    for engine, other in ((ENGINE, DURABLE), (GOEPPINGEN, DURABLE_GP)):
        ours = {k: o.value for k, o in engine.decide(record, on, explain=False).outcomes.items()}
        assert all(v is not None for v in ours.values()), ours  # fully known records decide everything
        assert other.decide(record, on) == ours


def test_more_than_1024_records_in_one_ruleset_do_not_crash():
    on = dt.date(2018, 9, 15)
    record = {
        "person_id": "X",
        "aufenthaltsstatus": "duldung",
        "aufenthaltstitel_datum": None,
        "aufnahme_uab_datum": "2016-01-01",
        "zugang_bw_datum": "2015-06-01",
        "asylentscheidung_unanfechtbar_datum": None,
        "gu_pflicht_ende_datum": None,
        "unterbringung": "anschluss",
        "gemeinde": "A",
        "kreis": "K",
        "herkunftsland": "GMB",
        "familiennachzug": False,
        "geboren_nach_zugang": False,
        "beratung_beginn_datum": None,
        "beratung_verlaengerung_begruendet": False,
    }
    results = list(DURABLE.decide_many((dict(record, person_id=str(i)) for i in range(1500)), on))
    assert len(results) == 1500
    assert results[-1]["prioritaet"] == "niedrig" and results[-1]["lastenausgleich"] is True


def test_a_first_record_that_matches_nothing_does_not_abort():
    fresh = DurableEngine(ENGINE)
    # 2014: no rule of any outcome fires for a naturalised ... record except the exceptions;
    # the warm-up inside the bridge is what keeps delete_state from aborting here.
    out = fresh.decide(
        {
            "aufenthaltsstatus": "gestattung",
            "aufenthaltstitel_datum": None,
            "aufnahme_uab_datum": "2014-01-01",
            "asylentscheidung_unanfechtbar_datum": None,
            "gu_pflicht_ende_datum": None,
            "unterbringung": "vorlaeufig",
            "herkunftsland": "TUR",
            "zugang_bw_datum": "2014-01-01",
            "familiennachzug": False,
            "geboren_nach_zugang": False,
            "beratung_beginn_datum": None,
            "beratung_verlaengerung_begruendet": False,
        },
        dt.date(2014, 6, 1),
    )
    assert out["anschlussunterbringung"] is False
