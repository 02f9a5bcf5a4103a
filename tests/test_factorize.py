"""The C reader of row dicts (`eval/_factorize.c`) against the Python path of `Columns` (the
reference): the same columns (values, known flags, field errors per row) on arbitrary and hostile
records, the same `decide_table` output with and without it (also on the golden corpus), no leak,
and no swallowed exception."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import json
import os
import sys
import tracemalloc
from collections import defaultdict
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eligibility import Engine
from eligibility.apps.synth import records as synth_records
from eligibility.eval import columnar_input, native
from eligibility.eval.columnar_input import Columns

ENGINE = Engine.load()
ENT = ENGINE.entity(None)
FACTS = list(ENT.facts)
module = native.factorize
needs_native = pytest.mark.skipif(module is None, reason="the C factorize is not built or switched off")
GOLDEN = Path(__file__).resolve().parent / "golden"


def test_the_extension_is_built_where_ci_requires_it() -> None:
    if os.environ.get(native.REQUIRE) != "1":
        pytest.skip(f"{native.REQUIRE} is not set")
    assert os.environ.get(native.SWITCH) != "0", "the factorize is switched off where it is required"
    from eligibility.eval import _factorize

    assert module is _factorize


def _roster(n: int) -> list[dict[str, Any]]:
    return [
        {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
        for r in synth_records(n, seed=7, reference=dt.date(2024, 6, 1))
    ]


class Text(str):
    """A str subclass: a cell of its own type (keyed apart from the plain text)."""


def _python_columns(monkeypatch: pytest.MonkeyPatch, recs: list[Any], used: set[str] | None) -> Columns:
    with monkeypatch.context() as m:
        m.setattr(native, "factorize", None)
        return Columns(ENT, list(recs), used=used, memo={})


def _same(a: Columns, b: Columns) -> None:
    """Order-independent: per row the same value where known, the same known flags and the
    same field errors (in the same order)."""
    assert a.n == b.n
    assert a.errors == b.errors
    assert a.error_en == b.error_en
    assert set(a.columns) == set(b.columns)
    for name, ca in a.columns.items():
        cb = b.columns[name]
        assert ca.known.tolist() == cb.known.tolist(), name
        va = [(type(v), v) for v, k in zip(ca.val.tolist(), ca.known.tolist()) if k]
        vb = [(type(v), v) for v, k in zip(cb.val.tolist(), cb.known.tolist()) if k]
        assert va == vb, name
        assert np.all(ca.miss == cb.miss), name


@needs_native
def test_the_normal_roster_form_is_read_in_c_without_declining() -> None:
    rows = _roster(500)
    facts = ENT.facts
    free = tuple(n for n, s in facts.items() if columnar_input._is_free_text(s))
    factor = tuple(n for n in facts if n not in free)
    assert module is not None
    out = module.factorize(rows, factor, free, columnar_input._MISSING)
    assert out is not None and all(part is not None for part in out)
    seen: list[bool] = []
    original = Columns._read_native

    def spy(self: Columns, recs: list[Any]) -> bool:
        seen.append(original(self, recs))
        return seen[-1]

    mp = pytest.MonkeyPatch()
    mp.setattr(Columns, "_read_native", spy)
    mp.setattr(Columns, "_add", lambda *a, **k: pytest.fail("a column of the roster form took the Python path"))
    try:
        cols = Columns(ENT, rows)
    finally:
        mp.undo()
    assert seen == [True]
    assert cols.columns[ENT.id_field].val.tolist() == [r[ENT.id_field] for r in rows]


@needs_native
def test_codes_and_distinct_cells_are_keyed_with_their_type() -> None:
    assert module is not None
    missing = object()
    nan = float("nan")
    rows: list[Any] = [{"a": True}, {"a": 1}, {"a": 1.0}, {"a": "1"}, {"a": Text("1")}, {}, {"a": nan}, {"a": nan}]
    rows += [{"a": float("nan")}, {"a": None}, {"a": True}]
    out = module.factorize(rows, ("a",), (), missing)
    assert out is not None and out[0] is not None
    distinct, codes = out[0]
    assert isinstance(codes, bytes)
    idx = np.frombuffer(codes, dtype=np.int64).tolist()
    assert [type(d) for d in distinct] == [bool, int, float, str, Text, object, float, float, type(None)]
    assert distinct[5] is missing
    assert idx == [0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 0]
    assert module.factorize([{"a": [1]}, {"a": 1}], ("a",), (), missing) == [None]
    assert module.factorize([{"a": 1}, MappingProxyType({"a": 1})], ("a",), (), missing) is None
    assert module.factorize([], ("a",), ("b",), missing) == [([], b""), ([], [])]


@needs_native
def test_text_cells_that_strip_would_change_are_odd() -> None:
    assert module is not None
    missing = object()
    cells = ["A-1", " A", "A ", "", "é", "Aé", "A\u00a0", 5, None, [1], Text("x"), "x"]
    rows = [{"t": c} for c in cells] + [{}]
    out = module.factorize(rows, (), ("t",), missing)
    assert out is not None and out[0] is not None
    got, odd = out[0]
    assert got[:-1] == cells and got[-1] is missing
    assert odd == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    for i, c in enumerate(cells):
        if i not in odd:
            assert type(c) is str and c.strip() == c and c


def _cell(enum_values: list[str]) -> st.SearchStrategy[Any]:
    day = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.sampled_from(enum_values + ["", " ", "ja", "nein", "true", "1", "1.0"]),
        day.map(dt.date.isoformat),
        day.map(lambda d: d.strftime("%d.%m.%Y")),
        day,
        st.sampled_from(["2015-02-29", "2015-13-01", " 2016-01-01", "9999-12-31", "0001-01-01"]),
        st.text(max_size=8),
        st.text(max_size=3).map(Text),
        st.text(min_size=3000, max_size=3001, alphabet="ab "),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    )


_ENUMS = sorted({v for s in ENT.facts.values() for v in (s.values or [])})
_ROW = st.dictionaries(st.sampled_from(FACTS + ["extra", "Person_ID"]), _cell(_ENUMS), max_size=len(FACTS) + 2)


@needs_native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.one_of(_ROW, _ROW, _ROW, st.sampled_from([None, 42, "row", [1]])), max_size=12),
    sub=st.booleans(),
)
def test_the_c_reader_gives_the_python_columns(monkeypatch: pytest.MonkeyPatch, rows: list[Any], sub: bool) -> None:
    used = set(FACTS[::2]) if sub else None
    _same(Columns(ENT, list(rows), used=used, memo={}), _python_columns(monkeypatch, rows, used))


@needs_native
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(0, 3), seed=st.integers(0, 10_000), cells=st.lists(st.tuples(st.sampled_from(FACTS), _cell(_ENUMS)))
)
def test_a_roster_with_hostile_cells_gives_the_python_columns(
    monkeypatch: pytest.MonkeyPatch, n: int, seed: int, cells: list[tuple[str, Any]]
) -> None:
    rows = [
        {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
        for r in synth_records(n * 40, seed=seed, reference=dt.date(2024, 6, 1))
    ]
    for i, (name, cell) in enumerate(cells):
        if rows:
            rows[(i * 7919) % len(rows)][name] = cell
    _same(Columns(ENT, rows, memo={}), _python_columns(monkeypatch, rows, None))


def _tables(monkeypatch: pytest.MonkeyPatch, engine: Engine, rows: list[Any], on: Any, entity: str | None) -> Any:
    def run() -> Any:
        try:
            return engine.decide_table(rows, on, entity=entity, chunk_size=97).columns
        except ValueError as exc:
            return ("refused", str(exc))

    with_c = run()
    with monkeypatch.context() as m:
        m.setattr(native, "factorize", None)
        without = run()
    return with_c, without


@needs_native
def test_decide_table_from_dicts_is_the_same_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[Any] = _roster(3000)
    rows[5] = dict(rows[5], aufenthaltsstatus="Duldung ")
    rows[6] = dict(rows[6], zugang_bw_datum="31.02.2016")
    rows[7] = {k: v for k, v in rows[7].items() if k != "unterbringung"}
    rows[8] = dict(rows[8], familiennachzug="ja", person_id=" X-8 ")
    rows[9] = 42
    rows[10] = dict(rows[10], gemeinde=["a"])
    with_c, without = _tables(monkeypatch, ENGINE, rows, dt.date(2018, 9, 15), None)
    assert with_c == without
    assert with_c["record_id"][8] == "X-8"


@needs_native
def test_decide_table_on_the_golden_records_is_the_same_without_the_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    engines = mod.engines()
    lines = gzip.decompress((GOLDEN / "decisions.jsonl.gz").read_bytes()).decode("utf-8").splitlines()
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for line in lines:
        case = json.loads(line)
        groups[(tuple(case["overlays"]), case["entity"], case["on"])].append(case["record"])
        groups[(tuple(case["overlays"]), case["entity"], "2020-01-01")].append(case["record"])
    assert len(groups) > 10
    for (overlays, entity, on), rows in groups.items():
        with_c, without = _tables(monkeypatch, engines[overlays], rows, on, entity)
        assert with_c == without, (overlays, entity, on)


@needs_native
def test_no_reference_is_leaked_over_many_calls() -> None:
    assert module is not None
    missing = object()
    cell = "2016-01-01"
    rows = [{"a": cell, "b": True, "c": 1.5, "t": " x "}, {"a": "x", "t": "y"}, {"b": [1]}]
    tracemalloc.start()
    for _ in range(1000):
        module.factorize(rows, ("a", "b", "c"), ("t",), missing)
    gc.collect()
    before = (len(gc.get_objects()), sys.getrefcount(cell), sys.getrefcount(missing))
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(100_000):
        module.factorize(rows, ("a", "b", "c"), ("t",), missing)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    # A leaked object per call would be >= 16 bytes x 10^5 calls; what else the process allocates meanwhile is less.
    assert grown < 1_000_000
    after = (len(gc.get_objects()), sys.getrefcount(cell), sys.getrefcount(missing))
    assert after[1:] == before[1:]
    # The object count is the whole process's: threads that earlier tests left behind (a served
    # app, a pool) allocate meanwhile, a few hundred objects in CI. A tracked object leaked per
    # call would be 10^5 of them, so the bound is relative to the calls, not a fixed small number.
    assert after[0] - before[0] < 10_000


class Hostile:
    """A cell whose __hash__ or __eq__ raises what it is told to."""

    def __init__(self, on_hash: type[BaseException] | None, on_eq: type[BaseException] | None) -> None:
        self.on_hash, self.on_eq = on_hash, on_eq

    def __hash__(self) -> int:
        if self.on_hash is not None:
            raise self.on_hash()
        return 1

    def __eq__(self, other: object) -> bool:
        if self.on_eq is not None:
            raise self.on_eq()
        return self is other


class HostileKey(str):
    """A row's key that collides with a fact's name and raises when compared."""

    def __hash__(self) -> int:
        return hash("aufenthaltsstatus")

    def __eq__(self, other: object) -> bool:
        raise KeyboardInterrupt


@needs_native
def test_an_interrupt_in_a_hostile_hash_or_eq_propagates() -> None:
    assert module is not None
    missing = object()
    with pytest.raises(KeyboardInterrupt):
        module.factorize([{"a": Hostile(KeyboardInterrupt, None)}], ("a",), (), missing)
    with pytest.raises(KeyboardInterrupt):
        module.factorize([{"a": Hostile(None, KeyboardInterrupt)}, {"a": Hostile(None, None)}], ("a",), (), missing)
    with pytest.raises(KeyboardInterrupt):
        module.factorize([{HostileKey("x"): 1}], ("aufenthaltsstatus",), (), missing)
    with pytest.raises(KeyboardInterrupt):
        Columns(ENT, [{"aufenthaltsstatus": Hostile(KeyboardInterrupt, None)}])
    # A TypeError from __hash__ is an unhashable cell: that column is declined to the Python path.
    assert module.factorize([{"a": Hostile(TypeError, None)}], ("a",), (), missing) == [None]
    with pytest.raises(ValueError):
        module.factorize([{"a": Hostile(ValueError, None)}], ("a",), (), missing)


@needs_native
def test_a_row_list_emptied_by_a_hostile_hash_does_not_crash() -> None:
    assert module is not None
    rows: list[Any] = []

    class Emptier:
        def __hash__(self) -> int:
            rows.clear()
            gc.collect()
            return 3

    rows.extend([{"a": Emptier(), "t": "x"}, {"a": 1, "t": "y"}, {"a": 2}])
    out = module.factorize(rows, ("a",), ("t",), None)
    assert out is not None and rows == []
    assert np.frombuffer(out[0][1], dtype=np.int64).tolist() == [0, 1, 2]
    assert out[1][0][:2] == ["x", "y"]
