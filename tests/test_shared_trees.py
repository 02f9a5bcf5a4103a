"""Explanation subtrees and labels are shared between decisions (design §36): nothing the
engine, its renderers or the service do with a decision may change them, or a later decision
of another person would carry the change. Every golden record is decided with the
explanation, every use of a decision runs over the results, and then the first results and
a second round of decisions must still be what they were."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from eligibility import Engine
from eligibility.service.app import create_app

GOLDEN = Path(__file__).resolve().parent / "golden" / "decisions.jsonl.gz"
ROOT = Path(__file__).resolve().parents[1]


def _cases() -> list[dict[str, Any]]:
    lines = gzip.decompress(GOLDEN.read_bytes()).decode("utf-8").splitlines()
    return [c for c in map(json.loads, lines) if not c["overlays"] and "refused" not in c["decision"]]


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def test_no_use_of_a_decision_changes_what_later_decisions_share() -> None:
    engine = Engine.load(ROOT / "rules")
    cases = _cases()
    assert len(cases) > 300
    first = [engine.decide_data(c["record"], c["on"], entity=c["entity"], explain=True) for c in cases]
    before = [_dump(d) for d in first]
    client = TestClient(create_app(reload_seconds=None))
    for case in cases:
        decision = engine.decide(case["record"], case["on"], entity=case["entity"])
        for fmt in ("text", "markdown"):
            for lang in ("de", "en"):
                engine.render(decision, fmt, lang, technical=True)
        decision.model_dump(mode="json")
        decision.to_json()
        engine.timeline(case["record"], entity=case["entity"])
        r = client.post("/v1/decide", json={"record": case["record"], "on": case["on"], "entity": case["entity"]})
        assert r.status_code in (200, 422), r.text
    assert [_dump(d) for d in first] == before
    again = [engine.decide_data(c["record"], c["on"], entity=c["entity"], explain=True) for c in cases]
    assert [_dump(d) for d in again] == before


def test_shared_subtrees_are_shared() -> None:
    """The sharing the first test guards is real: two people with the same facts under a
    subtree get the same object for it (if this fails, the sharing is gone and the first test
    guards nothing; remove both together)."""
    engine = Engine.load(ROOT / "rules")
    record = {"person_id": "A1", "status": "anerkannt", "einreise_datum": "2016-03-01"}
    # A subtree is kept from the second sight of its facts on (design §37): the first person
    # gets a tree of their own, the second and third share one.
    first = engine.decide_data(record, "2018-09-15", explain=True)
    a = engine.decide_data({**record, "person_id": "B2"}, "2018-09-15", explain=True)
    b = engine.decide_data({**record, "person_id": "C3"}, "2018-09-15", explain=True)

    def nodes(data: Any) -> list[int]:
        out: list[int] = []
        stack = [data]
        while stack:
            x = stack.pop()
            if isinstance(x, dict):
                if "children" in x and "kind" in x:
                    out.append(id(x))
                stack.extend(x.values())
            elif isinstance(x, list):
                stack.extend(x)
        return out

    assert set(nodes(a)) & set(nodes(b))
    assert not set(nodes(first)) & set(nodes(a))


def test_a_shared_subtree_refuses_edits_and_copies_are_plain() -> None:
    """An edit in place of a shared tree would change other people's decisions: it raises,
    with the way out in the message; deepcopy and pickle give plain, editable data with the
    same JSON."""
    import copy
    import pickle

    import pytest

    from eligibility.decision.shared import SharedList, SharedTree

    engine = Engine.load(ROOT / "rules")
    own = engine.decide_data({"person_id": "A1", "status": "anerkannt"}, "2018-09-15", explain=True)
    data = engine.decide_data({"person_id": "A1", "status": "anerkannt"}, "2018-09-15", explain=True)
    assert _dump(own) == _dump(data)

    def shared(x: Any) -> list[Any]:
        out, stack = [], [x]
        while stack:
            y = stack.pop()
            if isinstance(y, (SharedTree, SharedList)):
                out.append(y)
            if isinstance(y, dict):
                stack.extend(y.values())
            elif isinstance(y, list):
                stack.extend(y)
        return out

    trees = [t for t in shared(data) if isinstance(t, SharedTree) and "children" in t]  # nodes, not labels
    assert trees
    edits = [
        lambda t: t.__setitem__("value", 1),
        lambda t: t.pop("value"),
        lambda t: t.update(value=1),
        lambda t: t.setdefault("new", 1),
        lambda t: t.clear(),
        lambda t: t["children"].append({}),
        lambda t: t["children"].extend([{}]),
        lambda t: t["children"].__setitem__(slice(None), []),
    ]
    for edit in edits:
        with pytest.raises(TypeError, match="deepcopy"):
            edit(trees[0])
    for copied in (copy.deepcopy(data), pickle.loads(pickle.dumps(data))):
        assert not shared(copied)
        assert _dump(copied) == _dump(data)
    assert _dump(data) == _dump(engine.decide_data({"person_id": "A1", "status": "anerkannt"}, "2018-09-15"))


def test_parts_shared_by_every_decision_refuse_edits() -> None:
    """Reasons, assumption entries and the labels in a person's own (first-sight) subtrees are
    one object in many decisions: an edit raises instead of reaching the next person."""
    import pytest

    engine = Engine.load(ROOT / "rules")
    probe = Engine.load(ROOT / "rules")  # finds the case without warming `engine`'s memos
    case = next(
        c
        for c in _cases()
        if any(
            o["assumptions"] for o in probe.decide_data(c["record"], c["on"], entity=c["entity"])["outcomes"].values()
        )
    )
    data = engine.decide_data(case["record"], case["on"], entity=case["entity"], explain=True)
    before = _dump(data)
    outcome = next(o for o in data["outcomes"].values() if o["assumptions"])
    labels: list[dict[str, Any]] = []
    stack: list[Any] = [o["trace"] for o in data["outcomes"].values()]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            if x.get("kind") in ("fact", "param", "stichtag"):
                labels.append(x["label"])
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    assert labels
    edits = [
        lambda: outcome["reason"].__setitem__("de", "geändert"),
        lambda: outcome["assumptions"][0].__setitem__("id", "x"),
        lambda: outcome["assumptions"][0]["label"].__setitem__("de", "geändert"),
        lambda: labels[0].__setitem__("de", "geändert"),
    ]
    for edit in edits:
        with pytest.raises(TypeError, match="deepcopy"):
            edit()
    again = engine.decide_data(case["record"], case["on"], entity=case["entity"], explain=True)
    assert _dump(data) == _dump(again) == before


def test_every_label_in_a_decision_refuses_edits() -> None:
    """Every label a decision holds (its outcomes', the trace entries', the explanation nodes'
    of every kind, the questions') is one object in every decision: each edit raises, and the
    next person's decision is as it was (a review found trace and derived-fact labels editable)."""
    import pytest

    engine = Engine.load(ROOT / "rules")
    records = [c for c in _cases()][:40] + [{"record": {"person_id": "P-leer"}, "on": "2024-06-01", "entity": None}]
    parts: list[Any] = []
    kinds: set[str] = set()
    for c in records:
        data = engine.decide_data(c["record"], c["on"], entity=c["entity"], explain=True)
        for o in data["outcomes"].values():
            parts.append(o["label"])
            parts.extend(q for q in o["questions"])
            parts.extend(q["label"] for q in o["questions"])
            for entry in o["trace"]:
                parts.append(entry["label"])
                stack: list[Any] = [entry["explanation"]]
                while stack:
                    node = stack.pop()
                    if node is None:
                        continue
                    if node["label"] is not None:
                        kinds.add(node["kind"])
                        parts.append(node["label"])
                    stack.extend(node["children"])
    assert {"fact", "derived", "outcome"} <= kinds
    assert any("question" in p for p in parts)
    fresh = Engine.load(ROOT / "rules")
    probe = {"person_id": "P-leer"}
    before = _dump(fresh.decide_data(probe, "2024-06-01"))
    for part in parts:
        key = next(iter(part))
        with pytest.raises(TypeError, match="deepcopy"):
            part[key] = "geändert"
    assert _dump(engine.decide_data(probe, "2024-06-01")) == before


def test_a_date_subclass_as_reference_date_is_the_plain_date() -> None:
    """Kept trees are keyed by the reference date's value: a subclass that prints itself
    otherwise must not reach a later decision on the plain date."""
    import datetime as dt

    class Odd(dt.date):
        def isoformat(self) -> str:
            return "ODD"

    engine = Engine.load(ROOT / "rules")
    record = {"person_id": "P1", "aufenthaltsstatus": "fluechtling", "zugang_bw_datum": "2016-01-01"}
    plain = _dump(Engine.load(ROOT / "rules").decide_data(record, dt.date(2024, 6, 1)))
    for _ in range(2):
        assert "ODD" not in _dump(engine.decide_data(record, Odd(2024, 6, 1)))
    assert _dump(engine.decide_data(record, dt.date(2024, 6, 1))) == plain
