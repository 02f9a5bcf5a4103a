"""The compiled IR is immutable (issue 14): frozen dataclasses, and nothing downstream of the
compiler writes into it — what evaluation derives and keeps lives in its side table."""

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest

from eligibility import Engine
from eligibility.compile import compiler
from eligibility.eval.tables import tables

ROOT = Path(__file__).resolve().parents[1]
IR = (
    compiler.CNode,
    compiler.CompiledDerived,
    compiler.CompiledRule,
    compiler.CompiledOutcome,
    compiler.CompiledEntity,
    compiler.CompiledRuleSet,
)


def _objects(crs):
    yield crs
    for ent in crs.entities.values():
        yield ent
        yield from ent.derived.values()
        for oc in ent.outcomes.values():
            yield oc
            yield from oc.rules
        roots = [d.node for d in ent.derived.values()]
        roots += [n for oc in ent.outcomes.values() for r in oc.rules for n in (r.cond, r.compute) if n is not None]
        yield from compiler.reachable(ent, roots)


def _state(crs):
    return {id(o): (type(o), tuple(id(getattr(o, f.name)) for f in dataclasses.fields(o))) for o in _objects(crs)}


@pytest.mark.parametrize("cls", IR, ids=lambda c: c.__name__)
def test_every_ir_class_is_a_frozen_dataclass(cls):
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen


def test_deciding_explaining_tables_and_timelines_leave_the_ir_as_compiled():
    engine = Engine.load(ROOT / "rules")
    crs = engine.compiled
    before = _state(crs)
    record = {"person_id": "I1", "aufenthaltsstatus": "fluechtling", "unterbringung": "anschluss"}
    engine.decide(record, "2018-09-15").to_json()
    engine.decide_data({"person_id": "I2", "aufenthaltsstatus": "gestattung"}, "2019-01-01")
    engine.decide_table(pa.table({"person_id": ["I3"], "aufenthaltsstatus": ["duldung"]}), "2018-09-15")
    engine.timeline(record, "2017-01-01", "2020-01-01")
    assert _state(crs) == before
    rule = crs.entities["person"].outcomes["integrationsmanagement"].rules[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.order = 99  # type: ignore[misc]
    # What evaluation keeps is in its own table, made from the IR.
    assert tables(crs.entities["person"], crs).explainers
