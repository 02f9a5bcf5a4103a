"""A `Decision` from the decision data (`Engine.decide_data`) without re-validating it.

The data is made by the engine, so validating it again (pydantic's `model_validate`) only
copies: every label, question and rule-set block became a new object per decision (~25 KB per
kept decision without its trees). Built with `model_construct`, the static parts (labels,
questions, assumptions, the rule-set block) are one shared model per engine, and the rule
traces are a `LazyTrace` when the explanation is deferred."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from eligibility.decision.lazy import Explanation, LazyTrace
from eligibility.decision.model import (
    AssumptionRef,
    Decision,
    Label,
    OutcomeDecision,
    Question,
    RecordIssue,
    RuleSetInfo,
    RuleTrace,
)

_TRACES: TypeAdapter[list[RuleTrace]] = TypeAdapter(list[RuleTrace])
_CACHE_LIMIT = 50_000


# model_construct keeps a set of the fields given per instance (~0.7 KB for an outcome); every
# field is always given, so one set per model class is shared by all instances.
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {
    m: set(m.model_fields) for m in (Label, Question, AssumptionRef, OutcomeDecision, RecordIssue, Decision)
}


M = TypeVar("M", bound=BaseModel)


def _constructor(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """`cls.model_construct` for data that gives every field, in field order, under its own
    name: the instance gets the dict as it is. `model_construct` searches aliases and defaults
    field by field (~40 % of building a light decision, issue 14); for these classes that
    search finds nothing, which is checked here once per class (else it is used as it is)."""
    fields = cls.__pydantic_fields__
    fields_set = _ALL_FIELDS[cls]
    if (
        cls.__pydantic_post_init__
        or cls.__pydantic_root_model__
        or cls.model_config.get("extra") == "allow"
        or any(f.alias is not None or f.validation_alias is not None for f in fields.values())
    ):
        return lambda values: cls.model_construct(fields_set, **values)
    new = cls.__new__
    put = object.__setattr__

    def make(values: dict[str, Any]) -> M:
        m = new(cls)
        put(m, "__dict__", values)
        put(m, "__pydantic_fields_set__", fields_set)
        put(m, "__pydantic_extra__", None)
        put(m, "__pydantic_private__", None)
        return m

    return make


_make_label = _constructor(Label)
_make_question = _constructor(Question)
_make_assumption = _constructor(AssumptionRef)
_make_outcome = _constructor(OutcomeDecision)
_make_issue = _constructor(RecordIssue)
_make_decision = _constructor(Decision)


def _traces(raw: list[Any]) -> list[RuleTrace]:
    return _TRACES.validate_python(raw)


class DecisionBuilder:
    """Builds decisions for one engine; shares the models of its static parts by identity of
    the data objects (the engine hands out the same dict for a label every time)."""

    def __init__(self) -> None:
        self._shared: dict[int, tuple[Any, Any]] = {}
        self._by_text: dict[tuple[str, ...], Any] = {}

    def _share(self, data: Any, make: Callable[[Any], Any]) -> Any:
        hit = self._shared.get(id(data))
        if hit is not None and hit[0] is data:
            return hit[1]
        model = make(data)
        if len(self._shared) >= _CACHE_LIMIT:  # dynamic data must not grow the table forever
            self._shared.clear()
        self._shared[id(data)] = (data, model)  # the data is kept, so its id is not reused
        return model

    def _label(self, data: dict[str, str]) -> Label:
        return self._share(data, _new_label)  # type: ignore[no-any-return]

    def _reason(self, data: dict[str, str]) -> Label:
        """Reasons are made per decision but repeat across a roster: shared by their text."""
        key = ("r", data["de"], data["en"])
        label = self._by_text.get(key)
        if label is None:
            if len(self._by_text) >= _CACHE_LIMIT:
                self._by_text.clear()
            label = self._by_text[key] = _new_label(data)
        return label

    def _question(self, data: dict[str, Any]) -> Question:
        return self._share(  # type: ignore[no-any-return]
            data,
            lambda d: _make_question(
                {"fact": d["fact"], "label": self._label(d["label"]), "question": self._label(d["question"])}
            ),
        )

    def _assumption(self, data: dict[str, Any]) -> AssumptionRef:
        """Assumption references are made per decision: shared by their content."""
        note = data.get("note")
        key = ("a", data["id"], data["kind"], data["label"]["de"], data["label"]["en"]) + (
            (note["de"], note["en"]) if note is not None else ()
        )
        ref = self._by_text.get(key)
        if ref is None:
            if len(self._by_text) >= _CACHE_LIMIT:
                self._by_text.clear()
            ref = self._by_text[key] = _make_assumption(
                {
                    "id": data["id"],
                    "kind": data["kind"],
                    "label": _new_label(data["label"]),
                    "note": None if note is None else _new_label(note),
                }
            )
        return ref

    def _ruleset(self, data: dict[str, Any]) -> RuleSetInfo:
        return self._share(  # type: ignore[no-any-return]
            data,
            lambda d: RuleSetInfo.model_construct(
                name=d["name"], version=d["version"], sha256=d["sha256"], overlays=list(d.get("overlays", []))
            ),
        )

    def build(self, data: dict[str, Any], later: Callable[[], dict[str, Any]] | None = None) -> Decision:
        """`data` as `decide_data` gives it, made for this decision: its lists of rule path
        steps and missing facts are taken over, not copied (`decide` hands the data to no one
        else). `later`, when given, makes the same decision with its explanation, called on the
        first read of a trace."""
        explanation = Explanation(later, _traces) if later is not None else None
        outcomes: dict[str, OutcomeDecision] = {}
        for oid, o in data["outcomes"].items():
            trace: list[Any] = LazyTrace(explanation, oid) if explanation is not None else _traces(o["trace"])
            outcomes[oid] = _make_outcome(
                {
                    "value": o["value"],
                    "status": o["status"],
                    "label": self._label(o["label"]),
                    "rule": o["rule"],
                    "rule_path": o["rule_path"],
                    "source": o["source"],
                    "assumption": o["assumption"],
                    "assumptions": [self._assumption(a) for a in o["assumptions"]],
                    "missing": o["missing"],
                    "questions": [self._question(q) for q in o["questions"]],
                    "reason": self._reason(o["reason"]),
                    "trace": trace,
                }
            )
        return _make_decision(
            {
                "schema_version": data["schema_version"],
                "record_id": data["record_id"],
                "entity": data["entity"],
                "on": dt.date.fromisoformat(data["on"]),
                "outcomes": outcomes,
                "missing": data["missing"],
                "questions": [self._question(q) for q in data["questions"]],
                "errors": [
                    _make_issue({"field": e["field"], "code": e["code"], "message": _new_label(e["message"])})
                    for e in data["errors"]
                ],
                "ruleset": self._ruleset(data["ruleset"]),
            }
        )


def _new_label(data: dict[str, str]) -> Label:
    return _make_label({"de": data["de"], "en": data["en"]})
