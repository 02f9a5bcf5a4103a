"""A kept Decision is light until its explanation is read (issue 14): the traces are built on
first read or serialisation, byte-identical to deciding with the explanation at once."""

import copy
import gc
import json
import pickle
import tracemalloc
from pathlib import Path

import pydantic
import pytest
from hypothesis import given, settings
from strategies import person_records

from eligibility import Engine
from eligibility.decision.lazy import LazyTrace
from eligibility.decision.model import Decision

ENGINE = Engine.load(Path(__file__).resolve().parents[1] / "rules")
ON = "2018-09-15"


def _full(record: dict) -> Decision:
    return Decision.model_validate(ENGINE.decide_data(record, ON))


@settings(max_examples=150, deadline=None)
@given(person_records())
def test_a_light_decision_serialises_like_the_full_one(record):
    light = ENGINE.decide(record, ON)
    assert all(isinstance(o.trace, LazyTrace) for o in light.outcomes.values())
    assert light.to_json() == _full(record).to_json()
    assert light.model_dump(mode="json") == ENGINE.decide_data(record, ON)


def test_reading_a_trace_fills_every_outcome_once_and_changing_the_record_later_does_not_matter():
    record = {"person_id": "L1", "aufenthaltsstatus": "fluechtling", "unterbringung": "anschluss"}
    light = ENGINE.decide(record, ON)
    record["aufenthaltsstatus"] = "eingebuergert"  # the caller reuses its dict
    first = light.outcomes["anschlussunterbringung"].trace
    assert len(first) > 0 and first[0].rule
    expected = _full({"person_id": "L1", "aufenthaltsstatus": "fluechtling", "unterbringung": "anschluss"})
    assert light == expected and light.to_json() == expected.to_json()


def test_pickle_and_deepcopy_give_plain_lists_with_the_same_json():
    light = ENGINE.decide({"person_id": "L2", "aufenthaltsstatus": "duldung"}, ON)
    for other in (pickle.loads(pickle.dumps(light)), copy.deepcopy(light)):
        assert type(other.outcomes["prioritaet"].trace) is list
        assert other.to_json() == light.to_json()


def test_without_explanation_the_traces_stay_empty():
    d = ENGINE.decide({"person_id": "L3", "aufenthaltsstatus": "duldung"}, ON, explain=False)
    assert all(o.trace == [] and type(o.trace) is list for o in d.outcomes.values())
    assert json.loads(d.to_json())["outcomes"]["prioritaet"]["trace"] == []


def test_a_kept_light_decision_takes_at_most_8_kb():
    records = [
        {"person_id": f"M{i}", "aufenthaltsstatus": "fluechtling", "unterbringung": "anschluss"} for i in range(500)
    ]
    ENGINE.decide(records[0], ON)
    gc.collect()
    tracemalloc.start()
    kept = [ENGINE.decide(r, ON) for r in records]
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(kept) == 500
    assert size / len(kept) <= 8 * 1024, f"{size / len(kept) / 1024:.1f} KB per kept decision"


def test_an_engine_that_is_no_longer_used_is_freed_with_its_cached_reasons():
    # Reasons used to be cached in a module global keyed by the compiled entity, which kept
    # every reloaded engine alive in a long-running service.
    import weakref

    from eligibility.text import render

    engine = Engine.load(Path(__file__).resolve().parents[1] / "rules")
    engine.decide({"person_id": "W1", "aufenthaltsstatus": "duldung"}, ON).to_json()
    entity = weakref.ref(engine.entity())
    assert entity() in render._REASONS
    ref = weakref.ref(engine)
    del engine
    gc.collect()
    assert ref() is None and entity() is None


def test_threads_reading_one_light_decision_all_see_the_whole_explanation():
    import concurrent.futures as cf

    for i in range(20):
        light = ENGINE.decide({"person_id": f"T{i}", "aufenthaltsstatus": "fluechtling"}, ON)
        with cf.ThreadPoolExecutor(4) as pool:
            seen = list(pool.map(lambda _, d=light: [len(o.trace) for o in d.outcomes.values()], range(8)))
        assert all(s == seen[0] for s in seen) and sum(seen[0]) > 0


def test_a_failed_fill_is_raised_again_not_an_empty_trace():
    from eligibility.decision.lazy import Explanation

    calls = []

    def make():
        calls.append(1)
        raise MemoryError("simulated")

    explanation = Explanation(make, list)
    trace = LazyTrace(explanation, "x")
    for _ in range(2):
        try:
            len(trace)
        except MemoryError:
            pass
        else:
            raise AssertionError("an explanation that could not be built must not read as empty")
    assert len(calls) == 2


def test_shared_labels_cannot_be_changed_in_place():
    import pydantic

    a = ENGINE.decide({"person_id": "S1", "aufenthaltsstatus": "duldung"}, ON)
    with pytest.raises(pydantic.ValidationError):
        a.outcomes["prioritaet"].label.de = "geändert"
    b = ENGINE.decide({"person_id": "S2", "aufenthaltsstatus": "duldung"}, ON)
    assert b.outcomes["prioritaet"].label.de != "geändert"


def _models(m):
    """Every model inside a decision (outcomes, labels, questions, assumptions, issues)."""
    yield m
    for v in m.__dict__.values():
        for item in v.values() if isinstance(v, dict) else v if isinstance(v, list) else [v]:
            if isinstance(item, pydantic.BaseModel):
                yield from _models(item)


@settings(max_examples=60, deadline=None)
@given(person_records())
def test_a_built_decision_is_what_model_construct_would_make(record):
    # The builder sets each model's dict directly (builder._constructor): every field, in field
    # order, nothing extra, the same fields set; and pydantic sees the same model.
    spoilt = {**record, "aufenthaltstitel_datum": "kein Datum"}
    light = ENGINE.decide(spoilt, ON, explain=False)
    assert light.errors
    for m in _models(light):
        cls = type(m)
        assert list(m.__dict__) == list(cls.model_fields), cls.__name__
        assert m.__pydantic_fields_set__ == set(cls.model_fields)
        assert m.__pydantic_extra__ is None and m.__pydantic_private__ is None
    assert Decision.model_validate(light.model_dump()) == light
    # Against pydantic's own construction from the same decision's data (not from the built
    # models' dicts, which would compare them with themselves).
    assert Decision.model_validate(ENGINE.decide_data(spoilt, ON, explain=False)) == light
