"""One semantics: the column-wise batch path gives exactly what `decide` gives."""

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import person_records, reference_dates

from eligibility import Engine

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
GOEPPINGEN = Engine.load(overlays=[ROOT / "rules" / "overlays" / "goeppingen.yaml"])

garbage = st.fixed_dictionaries(
    {},
    optional={
        "aufnahme_uab_datum": st.sampled_from(["31.02.2016", "kein Datum", "unbekannt", ""]),
        "aufenthaltsstatus": st.sampled_from(["dulding", "", "GESTATTUNG"]),
        "familiennachzug": st.sampled_from(["vielleicht", "ja", 1]),
        "herkunftsland": st.sampled_from(["sy", "SYR", ""]),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(person_records(), st.builds(lambda a, b: {**a, **b}, person_records(), garbage)),
        min_size=1,
        max_size=40,
    ),
    reference_dates,
    st.booleans(),
)
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
    posts = [
        {"antragsteller_art": "gemeinde", "personen_stichtag_2017": n, "stelleninhaber_qualifikation": q, "vzae": v}
        for n, q, v in ((166, "hochschule", 1), (13, "ausbildung", 0.5), (89, "hochschule", 0.75))
    ]
    table = ENGINE.decide_table(posts, dt.date(2018, 3, 1), entity="stelle")
    # 0,75 VZÄ × 64.000 € × 2 years = 96.000 € exceed the Verbund-sized budget of 70.851,12 €: capped.
    assert table.columns["jahresfoerderung"] == [64000, 0, 35425.56]
    assert table.columns["antragsberechtigt"] == [True, False, True]


def test_evaluate_csv_through_the_batch_path_is_byte_identical_to_the_per_record_path(tmp_path):
    from eligibility.apps.evaluate import evaluate_roster, evaluated_rows
    from eligibility.apps.result_rows import columns_for, decision_row, error_row
    from eligibility.io.rosters import RosterWriter, read_roster

    src = ROOT / "examples" / "roster_landkreis_beispiel.csv"
    for lang in ("de", "en"):
        new, old = tmp_path / f"new_{lang}.csv", tmp_path / f"old_{lang}.csv"
        evaluate_roster(ENGINE, src, dt.date(2018, 9, 15), new, lang=lang)
        _, rows = read_roster(src, ENGINE.entity().facts)
        w = RosterWriter(old, "csv", columns_for(ENGINE, None, lang), delimiter=";", bom=True)
        for row, d in evaluated_rows(ENGINE, rows, dt.date(2018, 9, 15)):
            w.write(
                error_row(row, ENGINE, None, lang) if d is None else decision_row(row.number, d, ENGINE, lang, True)
            )
        w.close()
        assert new.read_bytes() == old.read_bytes()


def test_report_counts_are_the_same_through_both_paths():
    from eligibility.apps.evaluate import evaluated_rows, table_decisions
    from eligibility.apps.report import collect
    from eligibility.io.rosters import read_roster

    src = ROOT / "examples" / "roster_landkreis_beispiel.csv"
    on = dt.date(2018, 9, 15)
    a = collect(ENGINE, evaluated_rows(ENGINE, read_roster(src, ENGINE.entity().facts)[1], on), on)
    b = collect(ENGINE, table_decisions(ENGINE, read_roster(src, ENGINE.entity().facts)[1], on, size=300), on)
    assert (a.total, a.gemeinden, a.missing, a.error_ids, a.statuses) == (
        b.total,
        b.gemeinden,
        b.missing,
        b.error_ids,
        b.statuses,
    )


def test_concurrent_batches_do_not_mix_rows():
    from concurrent.futures import ThreadPoolExecutor

    def run(status):
        records = [
            {"person_id": f"{status}{i}", "aufenthaltsstatus": status, "unterbringung": "anschluss"}
            for i in range(2000)
        ]
        table = ENGINE.decide_table(records, dt.date(2019, 1, 1), chunk_size=250)
        return status, set(table.columns["prioritaet"]), table.columns["record_id"][0]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, ["duldung", "fluechtling", "duldung", "fluechtling"]))
    for status, prios, first in results:
        assert prios == ({"niedrig"} if status == "duldung" else {"hoch"}) and first == f"{status}0"


def test_a_date_beyond_the_computable_calendar_is_the_same_field_error_on_every_path():
    """Rules add months and years to record dates: a date after 31.12.9899 would leave the
    calendar, so it is a field error (that fact unknown) on the record and the batch path alike,
    never a crash on one path and 'noch offen' on the other."""
    r = {
        "person_id": "X",
        "aufenthaltsstatus": "gestattung",
        "aufnahme_uab_datum": "9999-06-01",
        "zugang_bw_datum": "2016-05-01",
        "unterbringung": "vorlaeufig",
    }
    d = ENGINE.decide(r, "2018-01-01")
    assert [e.field for e in d.errors] == ["aufnahme_uab_datum"] and d.errors[0].code == "date_range"
    row = next(iter(ENGINE.decide_table([r], dt.date(2018, 1, 1)).rows()))
    assert row["errors"] == d.errors[0].message.de
    for oid, o in d.outcomes.items():
        assert row[oid] == o.value, oid


def test_a_reference_date_beyond_the_computable_calendar_is_refused_with_a_message():
    from click.testing import CliRunner

    from eligibility.cli.main import main

    r = CliRunner().invoke(
        main, ["check", str(ROOT / "examples" / "anerkannter_fluechtling.yaml"), "--on", "9999-12-31"]
    )
    assert r.exit_code == 2 and "Stichtag nach dem 31.12.9899" in r.output and "Traceback" not in r.output


def test_a_typed_arrow_date_beyond_the_calendar_is_the_same_field_error_as_on_the_record_path():
    import pyarrow as pa

    rec = {
        "person_id": "X",
        "aufenthaltsstatus": "duldung",
        "unterbringung": "vorlaeufig",
        "zugang_bw_datum": "9999-12-31",
    }
    d = ENGINE.decide(rec, "2018-01-01")
    table = pa.table(
        {
            "person_id": ["X"],
            "aufenthaltsstatus": ["duldung"],
            "unterbringung": ["vorlaeufig"],
            "zugang_bw_datum": pa.array([dt.date(9999, 12, 31)], pa.date32()),
        }
    )
    row = next(iter(ENGINE.decide_table(table, dt.date(2018, 1, 1)).rows()))
    assert row["errors"] == d.errors[0].message.de
    assert {k: row[k] for k in d.outcomes} == {k: o.value for k, o in d.outcomes.items()}
