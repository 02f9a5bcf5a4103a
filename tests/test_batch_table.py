"""The typed-table kernels of the batch path (issue 14, session 8), each against the meaning it
translates: date32 day numbers read from the Arrow buffer against `records.convert_value` per
cell (and against Arrow's own dictionary encoding where both apply), ids kept as Arrow against
the record path's `record_id`, and the deciding-rule store of the column domain against the
per-record decisions."""

import datetime as dt

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import person_records, reference_dates

from eligibility import Engine
from eligibility.decision.records import LATEST_DATE
from eligibility.eval import columnar_input
from eligibility.eval.columnar_table import DecisionTable, Texts

ENGINE = Engine.load()
ENT = ENGINE.compiled.entities[ENGINE.compiled.model.manifest.default_entity]
EPOCH = dt.date(1970, 1, 1).toordinal()
# The edges of the calendar and of its computable part, and the day numbers Arrow can hold
# that are no Python date at all (before year 1, after year 9999).
EDGE_DAYS = [
    dt.date(1, 1, 1),
    dt.date(1970, 1, 1),
    LATEST_DATE,
    LATEST_DATE + dt.timedelta(days=1),
    dt.date(9999, 12, 31),
]
days = st.one_of(
    st.none(),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    st.dates(dt.date(2014, 1, 1), dt.date(2024, 12, 31)),
    st.sampled_from(EDGE_DAYS),
)
# Columns whose days lie within a few hundred days (the span read as the dictionary): a
# roster's, and windows at the first day, across LATEST_DATE and at the last day.
WINDOWS = [
    (dt.date(2016, 1, 1), dt.date(2017, 6, 30)),
    (dt.date(1, 1, 1), dt.date(2, 6, 30)),
    (LATEST_DATE - dt.timedelta(days=300), LATEST_DATE + dt.timedelta(days=300)),
    (dt.date(9998, 8, 1), dt.date(9999, 12, 31)),
]
dense_days = st.sampled_from(WINDOWS).flatmap(
    lambda w: st.lists(st.one_of(st.none(), st.dates(*w)), min_size=1, max_size=60)
)
DATE_FACT = "aufenthaltstitel_datum"


def _date32(cells, offset):
    """The cells as a date32 array, sliced so that the buffers start `offset` rows in."""
    arr = pa.array([None] * offset + list(cells), pa.date32())
    return arr.slice(offset)


def _column(arr, fact=DATE_FACT):
    cols = columnar_input.Columns(ENT, columns={fact: arr}, used={fact})
    return cols, cols.columns[fact]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(dense_days, st.lists(days, min_size=1, max_size=60)),
    st.integers(0, 9),
    st.sampled_from([DATE_FACT, "gu_pflicht_ende_datum"]),
)
def test_date32_columns_hold_what_convert_value_gives_each_cell(cells, offset, fact):
    spec = ENT.facts[fact]
    cols, col = _column(_date32(cells, offset), fact)
    assert col.codes is not None and col.uniq is not None
    assert np.array_equal(col.uniq[col.codes], col.val)  # the dictionary the date functions use
    for row, day in enumerate(cells):
        value, known, err = columnar_input._typed(fact, spec, day)
        assert bool(col.known[row]) == known, day
        if known:
            assert int(col.val[row]) == value, day
        assert (cols.errors.get(row) or [None])[0] == (err.de if err else None), day


def test_a_column_of_near_days_is_read_without_hashing():
    _, col = _column(_date32([dt.date(2016, 1, 1), None, dt.date(2016, 3, 1)], 3))
    assert col.uniq is not None and len(col.uniq) == 31 + 29 + 1 + 1  # the span, and the empty cell's slot
    cols, late = _column(_date32([LATEST_DATE, None, LATEST_DATE + dt.timedelta(days=2)], 0))
    empty_known = columnar_input._typed(DATE_FACT, ENT.facts[DATE_FACT], None)[1]
    assert late.known.tolist() == [True, empty_known, False] and list(cols.errors) == [2]


raw_days = st.one_of(
    st.none(),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(dt.date(1, 1, 1).toordinal() - EPOCH - 3, dt.date(1, 1, 1).toordinal() - EPOCH + 3),
    st.integers(16000, 20000),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(raw_days, min_size=1, max_size=60), st.integers(0, 9))
def test_the_buffer_read_equals_arrows_dictionary_encoding_on_any_day_number(numbers, offset):
    """Any int32 day number, days before year 1 and after 9999 included (no Python date, so no
    record can hold them): the buffer read and the dictionary-encoded read (`_dates_encoded`,
    the reading before session 8, taken by wide or out-of-calendar columns) agree."""
    arr = pa.array([None] * offset + numbers, pa.int32()).cast(pa.date32()).slice(offset)
    cols, col = _column(arr)
    ref = columnar_input.Columns(ENT, columns={}, used={DATE_FACT})
    ref.n = len(arr)
    ref._dates_encoded(DATE_FACT, ENT.facts[DATE_FACT], arr)
    want = ref.columns[DATE_FACT]
    assert np.array_equal(col.known, want.known)
    assert np.array_equal(col.val[col.known], want.val[want.known])
    assert np.array_equal(col.uniq[col.codes], col.val)
    assert cols.errors == ref.errors and cols.error_en == ref.error_en


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(person_records(), min_size=1, max_size=30), st.lists(days, min_size=30, max_size=30), reference_dates)
def test_a_typed_table_with_edge_days_decides_as_the_record_path(records, extra, on):
    rows = [{**r, DATE_FACT: extra[i]} for i, r in enumerate(records)]
    keys = sorted(set().union(*rows))
    table = pa.table(
        {
            k: pa.array(
                [r.get(k) if not isinstance(r.get(k), str) else dt.date.fromisoformat(r[k]) for r in rows],
                pa.date32(),
            )
            if k.endswith("_datum")
            else pa.array([r.get(k) for r in rows])
            for k in keys
        }
    )
    try:
        got = ENGINE.decide_table(table, on)
    except (ValueError, OverflowError):
        return  # date arithmetic past the calendar: the callers decide those row by row
    for rec, row in zip(pa.Table.to_pylist(table), got.rows()):
        d = ENGINE.decide(rec, on, explain=False)
        assert row["record_id"] == d.record_id
        assert row["errors"] == "; ".join(e.message.de for e in d.errors)
        for oid, o in d.outcomes.items():
            assert (row[oid], row[f"{oid}_rule"], row[f"{oid}_missing"], row[f"{oid}_assumption"]) == (
                o.value,
                o.rule,
                o.missing,
                o.assumption,
            ), oid


ids = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["", " ", "P1 ", "\u00a0P2", "P3\u2003", "\x1cP4", "Ä", "P\u0085", "\u3000"]),
    st.from_regex(r"[A-Z][0-9]{1,4}", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ids, min_size=1, max_size=40), st.integers(0, 5), st.integers(1, 40))
def test_ids_kept_as_arrow_are_the_record_paths_ids(values, offset, chunk):
    arr = pa.array(["x"] * offset + values, pa.string()).slice(offset)
    base = {"aufenthaltsstatus": "duldung", "unterbringung": "anschluss"}
    table = pa.table({"person_id": arr, **{k: [v] * len(values) for k, v in base.items()}})
    got = ENGINE.decide_table(table, dt.date(2019, 1, 1), chunk_size=chunk)
    want = [ENGINE.decide({**base, "person_id": v}, dt.date(2019, 1, 1), explain=False).record_id for v in values]
    assert got.columns["record_id"] == want
    assert list(got.to_arrow().column("record_id").to_pylist()) == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=1, max_size=40), st.integers(0, 5))
def test_strip_suspects_cover_every_cell_strip_changes(values, offset):
    arr = pa.array(["y"] * offset + values, pa.string()).slice(offset)
    suspect = columnar_input._strip_suspects(arr)
    for row, v in enumerate(values):
        if v is None or v == "" or v.strip() != v:
            assert suspect[row], repr(v)


def test_texts_columns_concatenate_and_materialize_like_object_columns():
    a = DecisionTable({"record_id": Texts(pa.array(["a", None])), "x": [1, 2]}, [], {})
    b = DecisionTable({"record_id": Texts(pa.array(["c"])), "x": [3]}, [], {})
    c = DecisionTable({"record_id": ["d"], "x": [4]}, [], {})
    both = DecisionTable.concat([a, b])
    assert isinstance(both._arrays["record_id"], Texts)
    assert both.columns["record_id"] == ["a", None, "c"]
    assert DecisionTable.concat([a, b, c]).columns["record_id"] == ["a", None, "c", "d"]
    col = DecisionTable.concat([a, b]).array("record_id")
    col[0] = "changed"  # the materialized column is the table's own, not a view of the input
    coded = DecisionTable.concat([a, b]).codes("record_id")
    assert coded.materialize().tolist() == ["a", None, "c"]
    # A table of tables (a stream's batches, each cut into chunks): the ids stay chunked Arrow,
    # in order, and an empty part adds nothing.
    empty = DecisionTable({"record_id": Texts(pa.array([], pa.string())), "x": []}, [], {})

    def ids(*cells: str | None) -> DecisionTable:
        return DecisionTable({"record_id": Texts(pa.array(cells, pa.string())), "x": [0] * len(cells)}, [], {})

    nested = DecisionTable.concat([DecisionTable.concat([ids("a", None), ids("c")]), empty, ids("c", "a", None)])
    assert isinstance(nested._arrays["record_id"], Texts)
    assert nested.columns["record_id"] == ["a", None, "c", "c", "a", None]
    assert len(DecisionTable.concat([empty, empty])) == 0


def test_many_rules_take_a_wider_rule_column():
    """More rules than an int8 holds: `choose`'s multiply-add widens with the rule count."""
    from eligibility.eval.columnar_eval import _ColumnDomain

    class Ev:
        n = 4
        asm_rules: set[str] = set()

    class Oc:
        default = None

        class type:
            kind = "enum"

    dom = _ColumnDomain(Ev(), Oc(), 300)
    assert dom.chosen.dtype == np.int16
    for i in range(300):
        dom.concl[i] = i % 7
    dom.conds.update({250: None, 299: None})
    dom.rules.update({250: type("R", (), {"id": "r250"}), 299: type("R", (), {"id": "r299"})})
    dom.choose(250, np.array([True, False, False, False]))
    dom.choose(299, np.array([False, False, True, False]))
    assert (dom.chosen - 1).tolist() == [250, -1, 299, -1]
    assert dom.reached().tolist() == [250 % 7, -1, 299 % 7, -1]
