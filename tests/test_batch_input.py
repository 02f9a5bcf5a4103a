"""The batch path's input forms: date texts read in C++ and rows transposed in slices give
what the per-record path gives, cell by cell."""

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import person_records, reference_dates

from eligibility import Engine
from eligibility.eval import columnar_input

ENGINE = Engine.load()

# Date texts of every kind: the two plain forms (fast path), days that do not exist, year 0,
# days past the computable calendar, short years, one-digit German parts, padding, words.
ODD_TEXTS = [
    "2015-02-29",
    "2016-02-29",
    "2016-04-31",
    "0000-01-01",
    "9899-12-31",
    "9900-01-01",
    "31.02.2016",
    "1.2.2016",
    "01.02.16",
    " 2016-05-01",
    "2016-05-01\n",
    "2016-5-1",
    "",
    " ",
    "unbekannt",
    "?",
    "２０16-05-01",
]
date_texts = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(lambda d: f"{d.day:02}.{d.month:02}.{d.year:04}"),
    st.sampled_from(ODD_TEXTS),
    st.none(),
)
DATE_FACTS = ["aufenthaltstitel_datum", "aufnahme_uab_datum", "zugang_bw_datum", "beratung_beginn_datum"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(person_records(), st.lists(st.tuples(st.sampled_from(DATE_FACTS), date_texts), max_size=4)),
        min_size=1,
        max_size=30,
    ),
    reference_dates,
    st.booleans(),
)
def test_date_texts_on_the_batch_path_equal_the_record_path(items, on, as_columns):
    records = [{**rec, **dict(texts)} for rec, texts in items]
    if as_columns:
        # The same cells as Arrow string columns where every row has the field.
        keys = set(records[0]).intersection(*records)
        records = [{k: r[k] for k in keys} for r in records]
        inp = {
            k: pa.array([r[k] for r in records], pa.string())
            if all(r[k] is None or isinstance(r[k], str) for r in records)
            else [r[k] for r in records]
            for k in keys
        }
    else:
        inp = records
    try:
        table = ENGINE.decide_table(inp, on)
    except (ValueError, OverflowError):
        return  # date arithmetic past the calendar: the callers decide those row by row
    for rec, row in zip(records, table.rows()):
        d = ENGINE.decide(rec, on, explain=False)
        assert row["errors"] == "; ".join(e.message.de for e in d.errors)
        for oid, o in d.outcomes.items():
            got = (row[oid], row[f"{oid}_rule"], row[f"{oid}_missing"], row[f"{oid}_assumption"])
            assert got == (o.value, o.rule, o.missing, o.assumption), (oid, got)


@pytest.mark.parametrize("as_columns", [False, True])
def test_each_odd_date_text_reads_as_on_the_record_path(as_columns):
    # Every odd text next to plain ones, in each date fact, so that the fast and the exact
    # reading meet in one dictionary; a reference date far from the texts' days.
    on = dt.date(2019, 1, 1)
    records = [
        {"person_id": f"{fact}-{i}", "aufenthaltsstatus": "fluechtling", "unterbringung": "vorlaeufig", fact: text}
        for fact in DATE_FACTS
        for i, text in enumerate([*ODD_TEXTS, "2016-01-01", "01.01.2016", None])
    ]
    for fact in DATE_FACTS:
        rows = [r for r in records if fact in r]
        inp = {k: pa.array([r[k] for r in rows], pa.string()) for k in rows[0]} if as_columns else rows
        table = ENGINE.decide_table(inp, on)
        for rec, row in zip(rows, table.rows()):
            d = ENGINE.decide(rec, on, explain=False)
            assert row["errors"] == "; ".join(e.message.de for e in d.errors), rec
            for oid, o in d.outcomes.items():
                assert (row[oid], row[f"{oid}_rule"], row[f"{oid}_missing"]) == (o.value, o.rule, o.missing), rec


def test_rows_are_transposed_across_slices_in_order():
    n = 3 * columnar_input._SLICE + 7
    records = [{"person_id": f"P{i}", "aufenthaltsstatus": "duldung", "unterbringung": "anschluss"} for i in range(n)]
    cells = columnar_input._transpose(records, ["person_id", "unterbringung"])
    assert cells["person_id"] == [f"P{i}" for i in range(n)]
    assert cells["unterbringung"] == ["anschluss"] * n
    records[-1] = {"person_id": "x"}
    try:
        columnar_input._transpose(records, ["person_id", "unterbringung"])
    except KeyError:
        pass
    else:
        raise AssertionError("a record without the field must not be transposed")
    table = ENGINE.decide_table(records, dt.date(2019, 1, 1))
    assert table.columns["record_id"][-1] == "x"
    assert table.columns["anschlussunterbringung"][:-1] == [True] * (n - 1)


@settings(max_examples=150, deadline=None)
@given(st.lists(date_texts, min_size=1, max_size=40))
def test_date_text_columns_hold_the_values_convert_value_gives(texts):
    """The fast reading of plain date texts (Arrow `strptime`) is a translation of
    `records.convert_value`: each cell's day number, known flag and field error, compared
    directly (a wrong day far from every threshold would not change an outcome)."""
    ent = ENGINE.compiled.entities[ENGINE.compiled.model.manifest.default_entity]
    fact = "aufnahme_uab_datum"
    spec = ent.facts[fact]
    for inp in (pa.array(texts, pa.string()), list(texts)):
        cols = columnar_input.Columns(ent, columns={fact: inp}, used={fact})
        col = cols.columns[fact]
        for row, text in enumerate(texts):
            value, known, err = columnar_input._typed(fact, spec, text)
            assert bool(col.known[row]) == known, text
            if known:
                assert int(col.val[row]) == value, text
            assert (cols.errors.get(row) or [None])[0] == (err.de if err else None), text
