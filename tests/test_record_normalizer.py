"""The generated `record_normalizer` (one unrolled function per facts schema) against `normalize`,
its definition: the same facts and the same field errors, in the same order, on person records,
on dirty cells of every type a spreadsheet or JSON gives, on records that are not plain dicts,
and with a memo that is shared and already full of earlier cells."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import person_records

from eligibility import Engine
from eligibility.decision.records import normalize, record_normalizer

ENGINE = Engine.load()
FACTS = ENGINE.entity(None).facts
NAMES = sorted(FACTS)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Text(str):
    """A text cell of its own type (not the memo's plain-text fast path)."""


class Row(dict):  # type: ignore[type-arg]
    """A dict subclass (the generated form hands it to `normalize`)."""


_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(),
    st.sampled_from(
        [
            "",
            " ",
            "ja",
            "Nein",
            "unbekannt",
            "?",
            "2016-01-01",
            "31.12.2015",
            "1.1.16",
            "2016-02-30",
            "SYR",
            "Syrien",
            "afg",
            "x",
            "1",
            "1,5",
            "1.000",
            "true",
            "AS",
            "Ukraine",
            "9999-12-31",
        ]
    ),
    st.text(max_size=12),
    st.text(max_size=6).map(Text),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(0, 2), max_size=2),
)


@st.composite
def dirty_records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = draw(person_records())
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=8)):
        record[name] = draw(_cells)
    if draw(st.booleans()):
        record["nicht_im_schema"] = draw(_cells)
    return record


def _same(records: list[Any]) -> None:
    memo: dict[Any, Any] = {}
    made = record_normalizer(FACTS, memo)
    for record in records:
        assert made(record) == normalize(record, FACTS), record
    # The memo the generated form filled gives the same answers to `normalize` too.
    for record in records:
        assert normalize(record, FACTS, memo) == normalize(record, FACTS)


@SETTINGS
@given(st.lists(dirty_records(), min_size=1, max_size=6))
def test_the_generated_normalizer_is_normalize(records: list[dict[str, Any]]) -> None:
    _same(records)


@SETTINGS
@given(dirty_records(), st.sampled_from([Row, OrderedDict, MappingProxyType]))
def test_records_that_are_not_plain_dicts(record: dict[str, Any], kind: Any) -> None:
    _same([kind(record), record, kind(dict(record))])


def test_a_cell_seen_first_as_a_date_then_as_its_text() -> None:
    name = next(n for n in NAMES if FACTS[n].type == "date")
    rows = [
        {name: dt.date(2016, 1, 1)},
        {name: "2016-01-01"},
        {name: dt.datetime(2016, 1, 1, 5)},
        {name: True},
        {name: 1},
        {name: Decimal(1)},
        {name: None},
        {name: "unbekannt"},
    ]
    _same(rows)
    out, errors = record_normalizer(FACTS)({name: "2016-02-30"})
    assert name not in out and [e.field for e in errors] == [name]


_date_like = st.builds(
    "{}-{}-{}".format,
    st.text("0123456789 ", min_size=4, max_size=4),
    st.text("0123456789", min_size=2, max_size=2),
    st.text("0123456789٣", min_size=2, max_size=2),
)


@SETTINGS
@given(
    st.sampled_from(NAMES),
    st.one_of(_date_like, st.text(max_size=12), st.sampled_from(["9899-12-31", "9900-01-01", " unbekannt ", "K.A."])),
)
def test_the_plain_text_shortcuts_are_the_general_branches(name: str, value: str) -> None:
    # convert_value takes a plain str cell (an ISO date, a free text) by a shortcut; a str
    # subclass goes the general way, which is the definition.
    from eligibility.decision.records import convert_value

    assert convert_value(name, FACTS[name], value) == convert_value(name, FACTS[name], Text(value))
