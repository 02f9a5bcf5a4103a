"""One semantics: the column-wise batch path gives exactly what `decide` gives."""

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eligibility import Engine
from strategies import person_records, reference_dates

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
GOEPPINGEN = Engine.load(overlays=[ROOT / "rules" / "overlays" / "goeppingen.yaml"])

garbage = st.fixed_dictionaries({}, optional={
    "aufnahme_uab_datum": st.sampled_from(["31.02.2016", "kein Datum", "unbekannt", ""]),
    "aufenthaltsstatus": st.sampled_from(["dulding", "", "GESTATTUNG"]),
    "familiennachzug": st.sampled_from(["vielleicht", "ja", 1]),
    "herkunftsland": st.sampled_from(["sy", "SYR", ""]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(person_records(), st.builds(lambda a, b: {**a, **b}, person_records(), garbage)),
                min_size=1, max_size=40), reference_dates, st.booleans())
def test_batch_path_equals_single_record_path(records, on, overlay):
    engine = GOEPPINGEN if overlay else ENGINE
    table = engine.decide_table(records, on)
    assert len(table) == len(records)
    for rec, row in zip(records, table.rows()):
        d = engine.decide(rec, on, explain=False)
        assert row["record_id"] == d.record_id
        assert row["errors"] == "; ".join(e.message.de for e in d.errors)
        for oid, o in d.outcomes.items():
            got = (row[oid], row[f"{oid}_rule"], row[f"{oid}_missing"], row[f"{oid}_assumption"])
            assert got == (o.value, o.rule, o.missing, o.assumption), (oid, got)


def test_decide_table_accepts_tables_and_keeps_order():
    records = [{"person_id": str(i), "aufenthaltsstatus": "duldung", "unterbringung": "anschluss"} for i in range(7)]
    table = ENGINE.decide_table(iter(records), dt.date(2019, 1, 1), chunk_size=3)
    assert table.columns["record_id"] == [str(i) for i in range(7)]
    assert table.columns["integrationsmanagement"] == [True] * 7
    assert table.columns["prioritaet"] == ["niedrig"] * 7


def test_non_mapping_rows_are_error_rows():
    table = ENGINE.decide_table([{"aufenthaltsstatus": "duldung"}, 42, None], dt.date(2019, 1, 1))
    assert table.columns["errors"][1] == "Datensatz ist kein Objekt mit Feldern"
    assert table.columns["anschlussunterbringung"] == [True, None, None]


def test_entity_with_computed_amounts_uses_the_per_record_path_with_the_same_answers():
    posts = [{"antragsteller_art": "gemeinde", "personen_stichtag_2017": n, "stelleninhaber_qualifikation": q,
              "vzae": v} for n, q, v in ((166, "hochschule", 1), (13, "ausbildung", 0.5), (89, "hochschule", 0.75))]
    table = ENGINE.decide_table(posts, dt.date(2018, 3, 1), entity="stelle")
    assert table.columns["jahresfoerderung"] == [64000, 0, 48000]
    assert table.columns["antragsberechtigt"] == [True, False, True]
