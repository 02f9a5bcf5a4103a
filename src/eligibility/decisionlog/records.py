"""What the decision log holds, as plain values: a decision to log, a stored entry, a page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eligibility.decisionlog import chain


@dataclass(frozen=True)
class NewDecision:
    """One decision to log: the decision as data, the facts as given, who asked and why."""

    decision: Mapping[str, Any]
    facts: Any
    source: str
    # How it was made, so that it can be made again byte for byte: "explained" (decide_data
    # with explanations), "plain" (without) or "batch" (without, trace keys removed).
    form: str = "explained"
    user: str | None = None
    aktenzeichen: str | None = None
    # `chain.dumps(decision)` when the caller has it already (the service sends these very
    # bytes): a decision with explanations is ~40 KB of JSON, serialised once, not twice.
    text: str | None = None


@dataclass(frozen=True)
class StoredDecision:
    seq: int
    decision_id: str
    kind: str
    created_at: str
    record_id: str | None
    entity: str | None
    on: str | None
    source: str | None
    form: str | None
    ruleset_sha: str | None
    ruleset_name: str | None
    ruleset_version: str | None
    overlays: list[str]
    user: str | None
    aktenzeichen: str | None
    facts_text: str | None
    decision_text: str | None
    outcomes: dict[str, Any]
    note: dict[str, Any] | None
    erased_by: int | None

    @property
    def facts(self) -> Any:
        return None if self.facts_text is None else json.loads(self.facts_text)

    @property
    def decision(self) -> dict[str, Any] | None:
        return None if self.decision_text is None else json.loads(self.decision_text)

    @property
    def explain(self) -> bool:
        return self.form == "explained"

    def summary(self) -> dict[str, Any]:
        """The list form: what `GET /v1/decisions` shows per entry."""
        return {
            "decision_id": self.decision_id,
            "record_id": self.record_id,
            "entity": self.entity,
            "on": self.on,
            "created_at": self.created_at,
            "source": self.source,
            "user": self.user,
            "aktenzeichen": self.aktenzeichen,
            "ruleset": {"name": self.ruleset_name, "version": self.ruleset_version, "sha256": self.ruleset_sha},
            "outcomes": {k: v.get("value") for k, v in self.outcomes.items()},
        }


@dataclass(frozen=True)
class Erasure:
    seq: int
    count: int
    # False: SQLite could not truncate its WAL while a reader held it; the erased data stays
    # in the WAL file until the next checkpoint (the command says so).
    compacted: bool = True


@dataclass(frozen=True)
class Page:
    items: tuple[StoredDecision, ...]
    next_before: int | None


def _outcomes_of(doc: Mapping[str, Any]) -> str:
    return chain.dumps(
        {k: {"value": o.get("value"), "status": o.get("status")} for k, o in doc.get("outcomes", {}).items()}
    )


def _stored(row: Any) -> StoredDecision:
    m = row._mapping
    return StoredDecision(
        seq=m["seq"],
        decision_id=m["decision_id"],
        kind=m["kind"],
        created_at=m["created_at"],
        record_id=m["record_id"],
        entity=m["entity"],
        on=m["on_date"],
        source=m["source"],
        form=m["form"],
        ruleset_sha=m["ruleset_sha"],
        ruleset_name=m["ruleset_name"],
        ruleset_version=m["ruleset_version"],
        overlays=json.loads(m["overlays"]) if m["overlays"] else [],
        user=m["user_name"],
        aktenzeichen=m["aktenzeichen"],
        facts_text=m["facts"],
        decision_text=m["decision"],
        outcomes=json.loads(m["outcomes"]) if m["outcomes"] else {},
        note=json.loads(m["note"]) if m["note"] else None,
        erased_by=m["erased_by"],
    )
