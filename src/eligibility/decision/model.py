"""The decision: the public JSON contract other tools rely on.

Extend, never rename: `outcomes[id].value` is true / false / null (unknown) or a
value; `outcomes[id].missing` lists the facts that would settle an unknown; `ruleset`
carries name, version and the SHA-256 of the rule files."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from eligibility.decision.lazy import LazyTrace

SCHEMA_VERSION = "1"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=False)


class _Shared(BaseModel):
    """Parts that depend only on the rule set; decisions share one instance per engine
    (decision/builder.py), so they cannot be changed in place (copy with model_copy)."""

    model_config = ConfigDict(frozen=True)


class Label(_Shared):
    de: str
    en: str


class Question(_Shared):
    fact: str
    label: Label
    question: Label


class AssumptionRef(_Shared):
    id: str
    kind: Literal["rule", "derived", "parameter"]
    label: Label
    note: Label | None = None


class ExplanationNode(_Out):
    """One condition that mattered: its expression, its value and what it read."""

    kind: str  # and or not compare arith call fact derived outcome param stichtag list
    text: str
    value: Any = None
    known: bool = True
    name: str | None = None
    label: Label | None = None
    source: str | None = None
    assumption: bool = False
    rule: str | None = None
    children: list[ExplanationNode] = Field(default_factory=list)


class RuleTrace(_Out):
    """A rule that was tried, in precedence order, and what its condition gave."""

    rule: str
    label: Label
    source: str | None
    condition: bool | None  # null: unknown
    concludes: Any = None
    assumption: bool = False
    explanation: ExplanationNode | None = None


class OutcomeDecision(_Out):
    value: Any = None  # true / false / null (unknown) / a value
    status: Literal["yes", "no", "unknown", "value", "not_in_force"]
    label: Label
    rule: str | None = None
    rule_path: list[str] = Field(default_factory=list)
    source: str | None = None
    assumption: bool = False
    assumptions: list[AssumptionRef] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    reason: Label
    trace: list[RuleTrace] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _explained(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]  # noqa: ANN202
        # A light decision builds its rule traces when they are first needed: serialising
        # (every path: to_json, model_dump, FastAPI) is one such read. No return annotation
        # on purpose: with one, pydantic would publish that type as the schema instead of the
        # model's (docs/openapi.json).
        if isinstance(self.trace, LazyTrace):
            self.trace.fill()
        return handler(self)


class RecordIssue(_Out):
    field: str | None
    code: str
    message: Label


class RuleSetInfo(_Shared):
    name: str
    version: str
    sha256: str
    overlays: list[str] = Field(default_factory=list)


class Decision(_Out):
    schema_version: str = SCHEMA_VERSION
    record_id: str | None
    entity: str
    on: dt.date
    outcomes: dict[str, OutcomeDecision]
    missing: list[str] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    errors: list[RecordIssue] = Field(default_factory=list)
    ruleset: RuleSetInfo

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> Decision:
        """Raise InvalidRecord if the record had bad fields (like httpx's raise_for_status)."""
        if self.errors:
            raise InvalidRecord(self.record_id, self.errors)
        return self

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)


class InvalidRecord(ValueError):
    def __init__(self, record_id: str | None, errors: list[RecordIssue]) -> None:
        self.record_id = record_id
        self.errors = errors
        rid = record_id or "?"
        super().__init__(f"record {rid}: " + "; ".join(e.message.en for e in errors))
